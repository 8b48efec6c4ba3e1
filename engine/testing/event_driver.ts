/**
 * Publishing to a test engine and waiting for the deliveries, and moving its event clock: the
 * event bus arms its scans, retries and schedules on that clock, so on a manual clock nothing is
 * delivered until time is moved (even by 0 ms).
 *
 * @module
 */
import type { ManualClock } from "../base/clock.ts";
import type { Engine } from "../engine.ts";
import type { DeliveryEvent, DeliveryOutcome } from "../events/types.ts";

/**
 * How the first attempt of one delivery of an event ended.
 *
 * @example The deliveries that failed
 * ```ts
 * import type { DeliveryReport } from "@bundlehost/sdk/testing";
 *
 * const failed = (reports: readonly DeliveryReport[]) => reports.filter((r) => r.outcome !== "delivered");
 * ```
 */
export interface DeliveryReport {
  /** Subscriber bundle id. */
  bundle: string;
  /** Its handler, `Service.method` (`eventMap` for an event map). */
  handler: string;
  /** Delivered, to be retried (after `delayMs` on the event clock), or dead-lettered. */
  outcome: DeliveryOutcome;
  /** Why the attempt failed. */
  error?: string;
  /** Wait before the retry, ms. */
  delayMs?: number;
}

/**
 * What {@linkcode TestBundle.publish} resolves to.
 *
 * @example Check every subscriber took the event
 * ```ts
 * import type { PublishReport } from "@bundlehost/sdk/testing";
 *
 * const allDelivered = (r: PublishReport) => r.deliveries.every((d) => d.outcome === "delivered");
 * ```
 */
export interface PublishReport {
  /** Event id. */
  id: string;
  /** One report per delivery, in the order their first attempts ended. */
  deliveries: DeliveryReport[];
}

/**
 * Lets the bus finish what is due now: on a manual clock, fires its timers due now (a scan, a
 * schedule) with every attempt they start; then waits for attempts in flight.
 *
 * @param engine The engine.
 * @param clock The event clock, when it is manual.
 */
export async function settle(engine: Engine, clock: ManualClock | undefined): Promise<void> {
  const bus = engine.eventBus;
  await bus.idle();
  if (clock) await clock.advance(0, () => bus.idle());
  await bus.idle();
}

/**
 * Moves a manual event clock, letting each timer's work (schedule firings, scans, attempts)
 * finish before time moves on.
 *
 * @param engine The engine.
 * @param clock The event clock.
 * @param ms How far, ms.
 */
export async function advance(engine: Engine, clock: ManualClock, ms: number): Promise<void> {
  if (!(ms >= 0)) throw new RangeError(`Cannot move the clock by ${ms} ms: give 0 or more`);
  const bus = engine.eventBus;
  await settle(engine, clock);
  await clock.advance(ms, () => bus.idle());
  await settle(engine, clock);
}

/**
 * Publishes as the engine's callers do (`POST /events`), then waits until the first attempt of
 * each delivery has ended.
 *
 * @param engine The engine.
 * @param clock The event clock, when it is manual.
 * @param topic Topic.
 * @param payload JSON-compatible payload.
 * @returns The event id and how each delivery's first attempt ended.
 */
export async function publishAndWait(
  engine: Engine,
  clock: ManualClock | undefined,
  topic: string,
  payload: unknown,
): Promise<PublishReport> {
  const seen: DeliveryEvent[] = [];
  let wake = () => {};
  const onDelivery = (e: DeliveryEvent) => {
    seen.push(e);
    wake();
  };
  // Listening before publishing: an attempt may end before `publish` resolves.
  engine.events.on("delivery", onDelivery);
  try {
    const { id, deliveries } = await engine.eventBus.publish(topic, payload);
    const firsts = new Map<string, DeliveryReport>();
    const collect = () => {
      for (const e of seen.splice(0)) {
        if (e.delivery.eventId !== id || firsts.has(e.delivery.id)) continue;
        firsts.set(e.delivery.id, report(e));
      }
      return firsts.size >= deliveries;
    };
    while (!collect()) {
      const next = new Promise<void>((resolve) => (wake = resolve));
      // On a manual clock the scan that starts the attempts waits for time to move.
      if (clock) await settle(engine, clock);
      if (seen.length === 0 && firsts.size < deliveries) await next;
    }
    return { id, deliveries: [...firsts.values()] };
  } finally {
    engine.events.off("delivery", onDelivery);
  }
}

function report(e: DeliveryEvent): DeliveryReport {
  const r: DeliveryReport = {
    bundle: e.delivery.bundle,
    handler: e.delivery.handler,
    outcome: e.outcome,
  };
  if (e.error !== undefined) r.error = e.error;
  if (e.delayMs !== undefined) r.delayMs = e.delayMs;
  return r;
}
