/**
 * Records of the durable event bus as the event stores keep them: events, pending deliveries, dead
 * letters, schedule marks. The bus (`events/`) writes them through an `EventStore`.
 *
 * @module
 */

/**
 * What a delivery runs: a topic subscription, an event map, or a schedule.
 *
 * @example Tell schedule firings from subscriptions
 * ```ts
 * import type { DeliveryKind, DeliveryRecord } from "@bundlehost/sdk";
 *
 * const scheduled = (d: DeliveryRecord): boolean => d.kind === ("schedule" satisfies DeliveryKind);
 * ```
 */
export type DeliveryKind = "subscription" | "map" | "schedule";

/**
 * One published event, stored once however many subscribers it has.
 *
 * @example Read the event behind a delivery
 * ```ts
 * import { type EventRecord, MemoryEventStore } from "@bundlehost/sdk";
 *
 * const store = new MemoryEventStore();
 * const event: EventRecord | undefined = await store.getEvent("0000000001-00ff");
 * console.log(event?.topic, event?.source, event?.payload);
 * ```
 */
export interface EventRecord {
  /** Event id: time-ordered, unique. */
  id: string;
  /** Topic. */
  topic: string;
  /** JSON payload (already normalised through JSON). */
  payload: unknown;
  /** When it was published, epoch ms. */
  publishedAt: number;
  /** Who published it: `"http"`, `"bundle:<id>@<version>"`, `"schedule:<bundle id>"`, `"engine"`. */
  source: string;
  /** The publisher's W3C trace context, when it had one; deliveries continue that trace. */
  traceparent?: string;
  /** The `tracestate` that goes with it. */
  tracestate?: string;
  /** Broker hops of the publisher plus one (0 from outside): bounds event loops between bundles. */
  hops: number;
}

/**
 * Progress of an event map delivery, saved after every step so a retry resumes there.
 *
 * @example Where an event map stands
 * ```ts
 * import type { DeliveryRecord, MapProgress } from "@bundlehost/sdk";
 *
 * const stepOf = (d: DeliveryRecord): number => (d.progress satisfies MapProgress | undefined)?.step ?? 0;
 * ```
 */
export interface MapProgress {
  /** Bundle version whose map ran; a retry under another version starts again at step 0. */
  version: string;
  /** Index of the next step to run. */
  step: number;
  /** That step's input (the previous step's output). */
  input: unknown;
}

/**
 * One pending delivery of an event to one subscriber (its own attempts and schedule).
 *
 * @example Deliveries due now
 * ```ts
 * import { type DeliveryRecord, MemoryEventStore } from "@bundlehost/sdk";
 *
 * const store = new MemoryEventStore();
 * const due: DeliveryRecord[] = await store.due(Date.now(), 10);
 * for (const d of due) console.log(`${d.bundle}.${d.handler} attempt ${d.attempts + 1}/${d.maxAttempts}`);
 * ```
 */
export interface DeliveryRecord {
  /** Delivery id `<event id>~<n>`: the event id plus the subscriber's place in the fan-out. */
  id: string;
  /** Event id. */
  eventId: string;
  /** Event topic. */
  topic: string;
  /** Subscriber bundle id. */
  bundle: string;
  /** What runs. */
  kind: DeliveryKind;
  /** The subscription's topic, the map's topic, or the schedule's cron expression. */
  key: string;
  /** `Service.method` called (for a map: `"eventMap"`). */
  handler: string;
  /** Attempts started so far (counted before each attempt runs). */
  attempts: number;
  /** Attempts before the delivery becomes a dead letter. */
  maxAttempts: number;
  /** Time allowed for one attempt (each step of a map), ms. */
  timeoutMs: number;
  /** When the next attempt is due, epoch ms. */
  nextAttemptAt: number;
  /** Set while an attempt runs, epoch ms; an engine that restarts retries such deliveries at once. */
  claimedAt?: number;
  /** Why the last attempt failed. */
  lastError?: string;
  /** When it was created, epoch ms. */
  createdAt: number;
  /** Event map checkpoint. */
  progress?: MapProgress;
}

/**
 * A delivery that used up its attempts (or can no longer run), kept until replayed or deleted.
 *
 * @example Why deliveries died
 * ```ts
 * import { createEngine, type DeadLetterRecord } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const letters: DeadLetterRecord[] = await engine.eventBus.deadLetters({ limit: 20 });
 * for (const l of letters) console.log(new Date(l.deadAt).toISOString(), l.topic, l.error);
 * ```
 */
export interface DeadLetterRecord extends DeliveryRecord {
  /** When it was dead-lettered, epoch ms. */
  deadAt: number;
  /** Why. */
  error: string;
}

/**
 * Counts over the event store.
 *
 * @example Pending and dead counts
 * ```ts
 * import { type EventStoreStats, MemoryEventStore } from "@bundlehost/sdk";
 *
 * const stats: EventStoreStats = await new MemoryEventStore().stats();
 * console.log(stats.pending, stats.inFlight, stats.deadLetters);
 * ```
 */
export interface EventStoreStats {
  /** Events still referenced by a delivery or dead letter. */
  events: number;
  /** Deliveries waiting or running. */
  pending: number;
  /** Deliveries with an attempt running. */
  inFlight: number;
  /** Dead letters. */
  deadLetters: number;
}

/**
 * The last slot a schedule fired (or was skipped to), advanced with the enqueue that fires it.
 *
 * @example Fire a schedule slot once
 * ```ts
 * import { type EventRecord, MemoryEventStore, type ScheduleMark } from "@bundlehost/sdk";
 *
 * const store = new MemoryEventStore();
 * const slot = Date.UTC(2026, 0, 1);
 * const event: EventRecord = {
 *   id: "e-1", topic: "bundlehost.schedule", payload: {}, publishedAt: slot, source: "engine", hops: 0,
 * };
 * const mark: ScheduleMark = { key: "hello:daily", slot };
 * await store.enqueue(event, [], mark); // a second enqueue with the same slot fails with CONFLICT
 * ```
 */
export interface ScheduleMark {
  /** Schedule key: `<bundle id> <cron expression>`. */
  key: string;
  /** Slot time, epoch ms. */
  slot: number;
}
