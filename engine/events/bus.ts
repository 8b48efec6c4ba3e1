/**
 * The durable event bus: message events published to topics (from HTTP or `ctx.events`), fanned
 * out to one delivery per subscriber (subscriptions and event maps of ACTIVE bundles), and
 * delivered at least once through the engine's `invoke` (so through the broker), with retries,
 * backoff and dead letters. Scheduled events (see `schedule.ts`) travel the same way.
 *
 * **Acknowledgement.** `publish` resolves only after the event and its deliveries are committed to
 * the store. A delivery is removed (acknowledged) only after its handler returned.
 *
 * **Attempts.** Before each attempt the delivery is claimed durably (attempts + 1); a failure or
 * timeout schedules the next attempt after an exponential backoff with jitter, bounded by
 * `maxBackoffMs`; after `maxAttempts` it becomes a dead letter, which an operator can replay.
 * After a crash, the next start retries at once every delivery that was claimed: a handler whose
 * attempt was cut short, or whose acknowledgement was lost, runs again (handlers must be
 * idempotent on the event id).
 *
 * **Limits.** Publishes are rate-limited per topic and per bundle, refused beyond the store's byte
 * budget and beyond the hop limit; a bundle's publishes outside any call are charged to its
 * detached budget; dead letters expire and are capped per subscriber (see `guard.ts`).
 *
 * @module
 */
import { BundlehostError, NotFoundError } from "../base/errors.ts";
import type { EventStore } from "../store/event_store.ts";
import type { PublishResult } from "../sdk/types.ts";
import { type Clock, systemClock, type TimerHandle } from "../base/clock.ts";
import { EventGuard, type EventLimitOptions, type GuardCounters, resolveLimits } from "./guard.ts";
import { RECORD_OVERHEAD_BYTES } from "../store/event_store.ts";
import type { BusBundle } from "./delivery.ts";
import { Dispatcher } from "./dispatcher.ts";
import { PublishEvent } from "./types.ts";
import { type Firing, Scheduler } from "./schedule.ts";
import { payloadJson, SCHEDULE_TOPIC, topicProblem } from "../base/topic.ts";
import type { DeadLetterRecord, DeliveryRecord, EventRecord } from "../store/event_records.ts";
import type {
  BundlePublish,
  DeadLetterView,
  EventBusHost,
  EventBusOptions,
  EventBusStats,
  PublishOptions,
} from "./bus_types.ts";

export type * from "./bus_types.ts";

export { backoffDelay } from "./dispatcher.ts";

/** Most deliveries one event fans out to. */
export const MAX_FANOUT = 256;

type Resolved = Required<Omit<EventBusOptions, "timeoutMs" | keyof EventLimitOptions>> & {
  timeoutMs: number;
};

function eventId(now: number): string {
  const random = crypto.getRandomValues(new Uint8Array(8));
  const hex = Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${now.toString(36).padStart(9, "0")}-${hex}`;
}

/**
 * Durable publish/subscribe with at-least-once delivery through the broker. The engine creates
 * one (`engine.eventBus`); subscribers, schedules and event maps come from bundle manifests.
 *
 * @example Publish, then replay the dead letters
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const { id } = await engine.eventBus.publish("order.created", { orderId: "o-1" });
 * for (const letter of await engine.eventBus.deadLetters()) {
 *   console.log(letter.id, letter.error);
 *   await engine.eventBus.replay(letter.id);
 * }
 * ```
 */
export class EventBus {
  readonly #host: EventBusHost;
  readonly #store: EventStore;
  readonly #options: Resolved;
  readonly #scheduler: Scheduler;
  readonly #dispatcher: Dispatcher;
  /** Rate limits, byte budget, hop limit and detached budget, with their counters. */
  readonly guard: EventGuard;
  #sweep?: TimerHandle;
  #sweeping: Promise<void> = Promise.resolve();
  #deadLettersDropped = 0;

  /**
   * Creates the bus; {@linkcode EventBus.start} starts delivering.
   *
   * @param host The engine side.
   * @param store Durable event storage.
   * @param options Attempts, timeouts, backoff, clock.
   */
  constructor(
    host: EventBusHost,
    store: EventStore,
    options: EventBusOptions & { timeoutMs: number },
  ) {
    this.#host = host;
    this.#store = store;
    this.#options = {
      maxAttempts: options.maxAttempts ?? 5,
      timeoutMs: options.timeoutMs,
      backoffMs: options.backoffMs ?? 1_000,
      maxBackoffMs: options.maxBackoffMs ?? 300_000,
      concurrency: options.concurrency ?? 32,
      pollMs: options.pollMs ?? 1_000,
      clock: options.clock ?? systemClock,
    };
    this.guard = new EventGuard(resolveLimits(options), this.#options.clock, host.maxHops);
    this.#dispatcher = new Dispatcher({
      host,
      store,
      clock: this.#options.clock,
      backoffMs: this.#options.backoffMs,
      maxBackoffMs: this.#options.maxBackoffMs,
      concurrency: this.#options.concurrency,
      pollMs: this.#options.pollMs,
    });
    this.#scheduler = new Scheduler({
      bundles: () => host.bundles(),
      events: host.events,
      store,
      clock: this.#options.clock,
      pollMs: this.#options.pollMs,
      fire: (firing) => this.#fire(firing),
      log: host.log,
    });
  }

  /** The bus's clock. */
  get clock(): Clock {
    return this.#options.clock;
  }

  /**
   * Publishes for a bundle (`ctx.events`): one hop more than the call it was made in, within
   * that call's trace.
   *
   * @param label `id@version` of the publishing bundle.
   * @param event Topic, payload, and the call the bundle was serving, if any.
   * @returns Event id and number of deliveries.
   */
  async publishFor(label: string, event: BundlePublish): Promise<PublishResult> {
    const { topic, payload, parent } = event;
    const bundle = label.slice(0, label.lastIndexOf("@"));
    if (parent?.detached) this.guard.takeDetached(bundle, "publish");
    const options: PublishOptions = {
      source: `bundle:${label}`,
      hops: (parent?.hops ?? 0) + 1,
      bundle,
    };
    if (parent?.traceparent !== undefined) {
      options.traceparent = parent.traceparent;
      if (parent.tracestate !== undefined) options.tracestate = parent.tracestate;
    }
    return await this.publish(topic, payload, options);
  }

  /**
   * Publishes an event: stores it with one delivery per subscriber, then resolves.
   *
   * @param topic Topic.
   * @param payload JSON-compatible payload.
   * @param options Trace context, hops, source.
   * @returns Event id and number of deliveries.
   * @throws {TypeError} For a bad or reserved topic, or a payload that is not JSON.
   * @throws {RangeError} For a payload over 48 KiB, or more than {@linkcode MAX_FANOUT} subscribers.
   * @throws {BundlehostError} `HOP_LIMIT` when published too deep in a chain of bundle calls,
   * `THROTTLED` over a topic or bundle rate limit, `STORE_FULL` when the store is at its budget.
   */
  async publish(
    topic: string,
    payload: unknown,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    const problem = topicProblem(topic);
    if (problem) throw new TypeError(problem);
    const json = payloadJson(payload);
    const hops = options.hops ?? 0;
    this.guard.checkHops(hops, `Cannot publish to "${topic}"`);
    this.guard.takePublish(topic, options.bundle);
    const now = this.clock.now();
    const event: EventRecord = {
      id: eventId(now),
      topic,
      payload: JSON.parse(json),
      publishedAt: now,
      source: options.source ?? "engine",
      hops,
    };
    if (options.traceparent !== undefined) {
      event.traceparent = options.traceparent;
      if (options.tracestate !== undefined) event.tracestate = options.tracestate;
    }
    const deliveries: DeliveryRecord[] = [];
    for (const bundle of this.#host.bundles()) {
      if (!bundle.active) continue;
      const { subscribe, eventMaps } = bundle.manifest;
      if (Object.hasOwn(subscribe, topic)) {
        const s = subscribe[topic]!;
        deliveries.push(this.#delivery(event, deliveries.length, bundle, "subscription", topic, s));
      }
      if (Object.hasOwn(eventMaps, topic)) {
        const m = { ...eventMaps[topic]!, handler: "eventMap" };
        deliveries.push(this.#delivery(event, deliveries.length, bundle, "map", topic, m));
      }
    }
    if (deliveries.length > MAX_FANOUT) {
      throw new RangeError(`Topic "${topic}" has more than ${MAX_FANOUT} subscribers`);
    }
    if (deliveries.length > 0) {
      const adding = json.length + RECORD_OVERHEAD_BYTES + deliveries.length * 512;
      this.guard.checkBudget(topic, this.#store.usedBytes(), adding);
    }
    await this.#store.enqueue(event, deliveries);
    if (deliveries.length > 0) this.#dispatcher.wake(now);
    const { id, source } = event;
    this.#host.events.dispatchEvent(
      new PublishEvent({
        id,
        topic,
        payload: event.payload,
        source,
        deliveries: deliveries.length,
      }),
    );
    return { id, deliveries: deliveries.length };
  }

  #delivery(
    event: EventRecord,
    n: number,
    bundle: BusBundle,
    kind: DeliveryRecord["kind"],
    key: string,
    entry: { handler: string; maxAttempts?: number; timeoutMs?: number },
  ): DeliveryRecord {
    return {
      id: `${event.id}~${n}`,
      eventId: event.id,
      topic: event.topic,
      bundle: bundle.id,
      kind,
      key,
      handler: entry.handler,
      attempts: 0,
      maxAttempts: entry.maxAttempts ?? this.#options.maxAttempts,
      timeoutMs: entry.timeoutMs ?? this.#options.timeoutMs,
      nextAttemptAt: event.publishedAt,
      createdAt: event.publishedAt,
    };
  }

  /** Enqueues one scheduled firing with the schedule's mark; `false` when the slot was taken. */
  async #fire({ bundle, cron, schedule, slot, catchUp }: Firing): Promise<boolean> {
    const now = this.clock.now();
    const event: EventRecord = {
      id: eventId(now),
      topic: SCHEDULE_TOPIC,
      payload: { bundle: bundle.id, cron, scheduledAt: new Date(slot).toISOString(), catchUp },
      publishedAt: now,
      source: `schedule:${bundle.id}`,
      hops: 0,
    };
    const delivery = this.#delivery(event, 0, bundle, "schedule", cron, schedule);
    try {
      await this.#store.enqueue(event, [delivery], { key: `${bundle.id} ${cron}`, slot });
    } catch (error) {
      if (error instanceof BundlehostError && error.code === "CONFLICT") return false;
      throw error;
    }
    this.#dispatcher.wake(now);
    return true;
  }

  /** Retries claims left by a crash, then starts delivering and arming schedules. */
  async start(): Promise<void> {
    const released = await this.#store.releaseClaims(this.clock.now());
    if (released > 0) {
      this.#host.log("info", `Events: retrying ${released} deliveries interrupted by a restart`);
    }
    this.#dispatcher.start();
    await this.#scheduler.start();
    this.#armSweep(this.guard.limits.deadLetterSweepMs);
  }

  /** Stops starting attempts, firing schedules and sweeping dead letters (attempts go on). */
  stop(): void {
    this.#dispatcher.stop();
    this.#scheduler.stop();
    if (this.#sweep !== undefined) this.clock.clearTimeout(this.#sweep);
    this.#sweep = undefined;
  }

  #armSweep(ms: number): void {
    this.#sweep = this.clock.setTimeout(() => {
      this.#sweeping = this.pruneDeadLetters().then(
        () => {},
        (error) => this.#host.log("error", `Events: dropping old dead letters failed: ${error}`),
      ).finally(() => {
        if (this.#sweep !== undefined) this.#armSweep(this.guard.limits.deadLetterSweepMs);
      });
    }, ms);
  }

  /**
   * Drops dead letters older than `deadLetterTtlMs` and, per subscriber bundle and topic, the
   * oldest beyond `maxDeadLettersPerSubscriber` (the bus does this every `deadLetterSweepMs`).
   *
   * @returns How many were dropped.
   */
  async pruneDeadLetters(): Promise<number> {
    const { deadLetterTtlMs, maxDeadLettersPerSubscriber } = this.guard.limits;
    const dropped = await this.#store.pruneDeadLetters({
      before: this.clock.now() - deadLetterTtlMs,
      maxPerSubscriber: maxDeadLettersPerSubscriber,
    });
    if (dropped > 0) {
      this.#deadLettersDropped += dropped;
      this.#host.log("warn", `Events: dropped ${dropped} expired or excess dead letters`);
    }
    return dropped;
  }

  /** Stops, then waits for the scan, schedule firings and attempts in flight to settle. */
  async close(): Promise<void> {
    this.stop();
    await this.idle();
  }

  /** Resolves when no scan, schedule firing or attempt is in progress (for tests and close). */
  async idle(): Promise<void> {
    do {
      await this.#sweeping;
      await this.#scheduler.idle();
      await this.#dispatcher.idle();
    } while (!this.#dispatcher.quiet);
  }

  /**
   * Dead letters, oldest event first, with their payloads.
   *
   * @param options `limit` (default 100, at most 1000), `after`: a dead letter id to page from.
   * @returns The dead letters.
   */
  async deadLetters(options: { limit?: number; after?: string } = {}): Promise<DeadLetterView[]> {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const letters = await this.#store.deadLetters({ ...options, limit });
    return await Promise.all(letters.map((letter) => this.#view(letter)));
  }

  /**
   * One dead letter with its payload.
   *
   * @param id Dead letter (delivery) id.
   * @throws {NotFoundError} When there is none.
   */
  async deadLetter(id: string): Promise<DeadLetterView> {
    const letter = await this.#store.getDeadLetter(id);
    if (!letter) throw new NotFoundError(`No dead letter "${id}"`);
    return await this.#view(letter);
  }

  async #view(letter: DeadLetterRecord): Promise<DeadLetterView> {
    const event = await this.#store.getEvent(letter.eventId);
    const view: DeadLetterView = { ...letter, payload: event?.payload ?? null };
    if (event) Object.assign(view, { publishedAt: event.publishedAt, source: event.source });
    return view;
  }

  /**
   * Puts a dead letter back in the queue with fresh attempts, due now.
   *
   * @param id Dead letter (delivery) id.
   * @returns The pending delivery.
   * @throws {NotFoundError} When there is no such dead letter.
   */
  async replay(id: string): Promise<DeliveryRecord> {
    const delivery = await this.#store.replay(id, this.clock.now());
    if (!delivery) throw new NotFoundError(`No dead letter "${id}"`);
    this.#dispatcher.wake(delivery.nextAttemptAt);
    return delivery;
  }

  /**
   * Deletes a dead letter for good.
   *
   * @param id Dead letter (delivery) id.
   * @throws {NotFoundError} When there is no such dead letter.
   */
  async deleteDeadLetter(id: string): Promise<void> {
    if (!(await this.#store.deleteDeadLetter(id))) {
      throw new NotFoundError(`No dead letter "${id}"`);
    }
  }

  /**
   * The counters of the bus's limits, read without touching the store (cheap enough for a metrics
   * gauge): refusals by kind, the store's estimated bytes and its budget, dropped dead letters.
   *
   * @returns Counters since start.
   */
  limitCounters(): GuardCounters & {
    storeBytes: number;
    maxStoreBytes: number;
    deadLettersDropped: number;
  } {
    return {
      ...this.guard.counters,
      storeBytes: this.#store.usedBytes(),
      maxStoreBytes: this.guard.limits.maxStoreBytes,
      deadLettersDropped: this.#deadLettersDropped,
    };
  }

  /** Store counts (a scan) and counters since start. */
  async stats(): Promise<EventBusStats> {
    return {
      ...(await this.#store.stats()),
      ...this.#dispatcher.counters,
      ...this.limitCounters(),
      schedules: this.#scheduler.armed,
    };
  }
}
