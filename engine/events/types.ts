/**
 * The event bus's types in one place: the `delivery` engine event, defined here, and, re-exported
 * from the lower layers that own them, the records the event store keeps (`store/event_records.ts`)
 * and the event fields of `bundle.json` (`manifest/events_schema.ts`).
 *
 * @module
 */
import type { DeliveryRecord } from "../store/event_records.ts";

/**
 * How one delivery attempt ended.
 *
 * @example Only failures
 * ```ts
 * import { createEngine, type DeliveryOutcome } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const failed: DeliveryOutcome[] = ["retry", "dead"];
 * engine.events.on("delivery", (e) => {
 *   if (failed.includes(e.outcome)) console.warn(e.delivery.topic, e.outcome, e.error);
 * });
 * ```
 */
export type DeliveryOutcome = "delivered" | "retry" | "dead";

/**
 * A delivery attempt ended. Event type: `"delivery"`.
 *
 * @example Count dead-lettered deliveries
 * ```ts
 * import { createEngine, type DeliveryEvent } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * let dead = 0;
 * engine.events.on("delivery", (e: DeliveryEvent) => {
 *   if (e.outcome === "dead") dead++;
 * });
 * ```
 */
export class DeliveryEvent extends Event {
  /** The delivery as it stands after the attempt. */
  readonly delivery: DeliveryRecord;
  /** Delivered, to be retried, or dead-lettered. */
  readonly outcome: DeliveryOutcome;
  /** Why the attempt failed. */
  readonly error: string | undefined;
  /** `id@version` that served, when delivered. */
  readonly bundle: string | undefined;
  /** Wait before the retry, ms (outcome `retry`). */
  readonly delayMs: number | undefined;
  /** Why a fallback served, when one did (outcome `delivered`). */
  readonly degraded: string | undefined;

  /**
   * Creates the event.
   *
   * @param delivery The delivery.
   * @param outcome How the attempt ended.
   * @param extra Error, serving bundle, retry delay, degradation reason.
   */
  constructor(
    delivery: DeliveryRecord,
    outcome: DeliveryOutcome,
    extra: { error?: string; bundle?: string; delayMs?: number; degraded?: string } = {},
  ) {
    super("delivery");
    this.delivery = delivery;
    this.outcome = outcome;
    this.error = extra.error;
    this.bundle = extra.bundle;
    this.delayMs = extra.delayMs;
    this.degraded = extra.degraded;
  }
}
