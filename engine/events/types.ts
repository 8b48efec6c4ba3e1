/**
 * Records of the durable event bus (as stores keep them), the event fields of `bundle.json`, and
 * the `delivery` engine event.
 *
 * @module
 */

/** What a delivery runs: a topic subscription, an event map, or a schedule. */
export type DeliveryKind = "subscription" | "map" | "schedule";

/** One published event, stored once however many subscribers it has. */
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

/** Progress of an event map delivery, saved after every step so a retry resumes there. */
export interface MapProgress {
  /** Bundle version whose map ran; a retry under another version starts again at step 0. */
  version: string;
  /** Index of the next step to run. */
  step: number;
  /** That step's input (the previous step's output). */
  input: unknown;
}

/** One pending delivery of an event to one subscriber (its own attempts and schedule). */
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

/** A delivery that used up its attempts (or can no longer run), kept until replayed or deleted. */
export interface DeadLetterRecord extends DeliveryRecord {
  /** When it was dead-lettered, epoch ms. */
  deadAt: number;
  /** Why. */
  error: string;
}

/** Counts over the event store. */
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

/** The last slot a schedule fired (or was skipped to), advanced with the enqueue that fires it. */
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

/** How one delivery attempt ended. */
export type DeliveryOutcome = "delivered" | "retry" | "dead";

/** A delivery attempt ended. Event type: `"delivery"`. */
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
