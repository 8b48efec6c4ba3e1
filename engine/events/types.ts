/**
 * Records of the durable event bus (as stores keep them), the event fields of `bundle.json`, and
 * the `delivery` engine event.
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

/** `subscribe` entry of `bundle.json`: `"topic": "Service.method"` or this object. */
export interface ManifestSubscription {
  /** `Service.method` of this bundle that receives the `EventEnvelope`. */
  handler: string;
  /** Attempts before dead-lettering. @default {the engine's `events.maxAttempts` (5)} */
  maxAttempts?: number;
  /** Time allowed per attempt, ms. @default {the engine's `events.timeoutMs` (30000)} */
  timeoutMs?: number;
}

/** What a schedule does about slots that passed while it was not armed. */
export type MissedRunPolicy = "once" | "skip";

/** `schedule` entry of `bundle.json`: `"<cron>": "Service.method"` or this object. */
export interface ManifestSchedule {
  /** `Service.method` of this bundle that receives the `EventEnvelope`. */
  handler: string;
  /** IANA time zone the expression is read in. @default {"UTC"} */
  timezone: string;
  /** `"once"`: fire the latest missed slot once; `"skip"`: never fire missed slots. @default {"once"} */
  missed: MissedRunPolicy;
  /** Attempts before dead-lettering. @default {the engine's `events.maxAttempts`} */
  maxAttempts?: number;
  /** Time allowed per attempt, ms. @default {the engine's `events.timeoutMs`} */
  timeoutMs?: number;
}

/** What an event map does when a step fails. */
export type StepErrorPolicy = "stop" | "skip" | "degrade";

/** One step of an event map. */
export interface EventMapStep {
  /** `Service.method` called with the previous step's output (the event payload for step 0). */
  call: string;
  /**
   * `stop`: the chain ends and the delivery fails (retried from this step, then dead-lettered);
   * `skip`: the next step gets this step's input; `degrade`: a mock serves if everything else
   * fails, then `fallback` is tried, and if nothing serves the next step gets this step's input.
   * @default {"stop"}
   */
  onError: StepErrorPolicy;
  /** `Service.method` tried with the same input when a `degrade` step fails. */
  fallback?: string;
}

/** `eventMaps` entry of `bundle.json`: a list of steps, or this object. */
export interface ManifestEventMap {
  /** Steps, run in order. */
  steps: EventMapStep[];
  /** Attempts before dead-lettering. @default {the engine's `events.maxAttempts`} */
  maxAttempts?: number;
  /** Time allowed per step, ms. @default {the engine's `events.timeoutMs`} */
  timeoutMs?: number;
}

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
