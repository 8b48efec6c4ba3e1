/**
 * Records of the durable event bus as the event stores keep them: events, pending deliveries, dead
 * letters, schedule marks. The bus (`events/`) writes them through an `EventStore`.
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
