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

/**
 * An event was published and committed to the store, with its deliveries (from `POST /events`,
 * `engine.eventBus.publish` or a bundle's `ctx.events.publish`; scheduled firings are not
 * publishes). Event type: `"publish"`.
 *
 * @example Print what bundles publish
 * ```ts
 * import { createEngine, type PublishEvent } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * engine.events.on("publish", (e: PublishEvent) => {
 *   if (e.source.startsWith("bundle:")) console.log(e.source, e.topic, e.deliveries);
 * });
 * ```
 */
export class PublishEvent extends Event {
  /** Event id. */
  readonly id: string;
  /** Topic. */
  readonly topic: string;
  /** Payload, as stored (a JSON copy). */
  readonly payload: unknown;
  /** Who published: `bundle:<id>@<version>`, or `engine` for the engine's callers and HTTP. */
  readonly source: string;
  /** Deliveries it fanned out to. */
  readonly deliveries: number;

  /**
   * Creates the event.
   *
   * @param init Event id, topic, payload, source and number of deliveries.
   */
  constructor(
    init: { id: string; topic: string; payload: unknown; source: string; deliveries: number },
  ) {
    super("publish");
    this.id = init.id;
    this.topic = init.topic;
    this.payload = init.payload;
    this.source = init.source;
    this.deliveries = init.deliveries;
  }
}
