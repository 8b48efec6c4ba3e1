/**
 * Options, inputs and views of the event bus (`bus.ts`).
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { BusBundle, DeliveryHost } from "./delivery.ts";
import type { EventLimitOptions, GuardCounters } from "./guard.ts";
import type { DeadLetterRecord, EventStoreStats } from "../store/event_records.ts";

/**
 * Options of the event bus (`EngineOptions.events`); every field is optional.
 *
 * @example Fewer attempts, longer backoff
 * ```ts
 * import { createEngine, type EventBusOptions } from "@bundlehost/sdk";
 *
 * const events: EventBusOptions = { maxAttempts: 3, backoffMs: 2_000, maxBackoffMs: 60_000 };
 * await using engine = await createEngine({ events });
 * ```
 */
export interface EventBusOptions extends EventLimitOptions {
  /** Attempts before a delivery becomes a dead letter, unless the manifest says. @default {5} */
  maxAttempts?: number;
  /** Time allowed per attempt, ms, unless the manifest says. @default {the engine's callTimeoutMs} */
  timeoutMs?: number;
  /** Backoff before the second attempt, ms; doubles per attempt, with jitter. @default {1000} */
  backoffMs?: number;
  /** Longest backoff, ms. @default {300000} */
  maxBackoffMs?: number;
  /** Deliveries attempted at once. @default {32} */
  concurrency?: number;
  /** How often the store is scanned for due deliveries and schedules re-checked, ms. @default {1000} */
  pollMs?: number;
  /** Time source for due times, backoff and schedules (a `ManualClock` in tests). @default {systemClock} */
  clock?: Clock;
}

/**
 * Where a publish comes from.
 *
 * @example Publish inside a trace
 * ```ts
 * import { createEngine, type PublishOptions } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const options: PublishOptions = {
 *   traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
 *   source: "checkout",
 * };
 * await engine.eventBus.publish("order.created", { orderId: "o-1" }, options);
 * ```
 */
export interface PublishOptions {
  /** The publisher's W3C trace context (version `00`). */
  traceparent?: string;
  /** The `tracestate` that goes with it, normalised. */
  tracestate?: string;
  /** Broker hops of the publisher plus one (0 from outside). @default {0} */
  hops?: number;
  /** Who publishes. @default {"engine"} */
  source?: string;
  /** The publishing bundle's id, charged to its publish rate limit. */
  bundle?: string;
}

/**
 * An event a bundle publishes, with the call it was serving, if any.
 *
 * @example Publish on a bundle's behalf
 * ```ts
 * import { type BundlePublish, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const event: BundlePublish = { topic: "order.created", payload: { orderId: "o-1" } };
 * await engine.eventBus.publishFor("hello@1.0.0", event);
 * ```
 */
export interface BundlePublish {
  /** Topic. */
  topic: string;
  /** Payload. */
  payload: unknown;
  /**
   * The engine call the bundle was serving (its hops and trace context); `detached` when it was
   * serving none, and the hops and trace are those of its instance's last call.
   */
  parent?: { hops: number; traceparent?: string; tracestate?: string; detached?: boolean };
}

/** What the bus needs from the engine. */
export interface EventBusHost extends DeliveryHost {
  /** Every installed bundle, by its current version. */
  bundles(): Iterable<BusBundle>;
  /** Engine events: `delivery` events go out here, `statechange` events re-arm schedules. */
  events: EventTarget;
  /** Writes a line to the engine log. */
  log(level: "debug" | "info" | "warn" | "error", message: string): void;
  /** Longest chain of calls (and events) between bundles. */
  maxHops: number;
}

/**
 * A dead letter with its event.
 *
 * @example Show a dead letter with its payload
 * ```ts
 * import { createEngine, type DeadLetterView } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const letter: DeadLetterView = await engine.eventBus.deadLetter("0000000001-00ff");
 * console.log(letter.topic, letter.payload, letter.error);
 * ```
 */
export interface DeadLetterView extends DeadLetterRecord {
  /** The event's payload. */
  payload: unknown;
  /** When the event was published, epoch ms. */
  publishedAt?: number;
  /** Who published it. */
  source?: string;
}

/**
 * Store counts plus this process's counters since start.
 *
 * @example Store usage
 * ```ts
 * import { createEngine, type EventBusStats } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const stats: EventBusStats = await engine.eventBus.stats();
 * console.log(`${stats.storeBytes} of ${stats.maxStoreBytes} bytes, ${stats.deadLettered} dead`);
 * ```
 */
export interface EventBusStats extends EventStoreStats, GuardCounters {
  /** Estimated bytes the store holds, against `maxStoreBytes`. */
  storeBytes: number;
  /** The store's byte budget. */
  maxStoreBytes: number;
  /** Dead letters dropped since start (expired, or beyond the cap per subscriber). */
  deadLettersDropped: number;
  /** Deliveries acknowledged since start. */
  delivered: number;
  /** Attempts that failed and were rescheduled since start. */
  retried: number;
  /** Deliveries dead-lettered since start. */
  deadLettered: number;
  /** Armed schedules (`<bundle id> <cron>`), their handlers and marks (last slot fired or skipped). */
  schedules: { key: string; handler: string; mark: string }[];
}
