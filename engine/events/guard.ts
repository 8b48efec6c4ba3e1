/**
 * What bounds the event bus's growth and the loops bundles can make: publish rate limits per topic
 * and per bundle, the event store's byte budget, and the budget of calls and publishes a bundle
 * makes outside any call (timers, `onStart`, raw messages), each refusal counted.
 *
 * @module
 */
import { BundlehostError } from "../base/errors.ts";
import type { Clock } from "../base/clock.ts";
import { KeyedBuckets } from "./rate_limit.ts";

/**
 * Limits of the event bus (`EngineOptions.events`); every field is optional.
 *
 * @example Tighter publish limits
 * ```ts
 * import { createEngine, type EventLimitOptions } from "@bundlehost/sdk";
 *
 * const limits: EventLimitOptions = { topicRate: 50, bundlePublishRate: 10, maxStoreBytes: 64 << 20 };
 * await using engine = await createEngine({ events: limits });
 * ```
 */
export interface EventLimitOptions {
  /** Publishes per second to one topic, from anyone (HTTP and bundles). @default {200} */
  topicRate?: number;
  /** Publishes to one topic allowed at once above the rate. @default {the topic rate} */
  topicBurst?: number;
  /** Publishes per second by one bundle (`ctx.events.publish`), to any topic. @default {100} */
  bundlePublishRate?: number;
  /** Publishes by one bundle allowed at once above the rate. @default {the bundle publish rate} */
  bundlePublishBurst?: number;
  /**
   * Calls and publishes per second one bundle may make outside any call it serves (timers,
   * `onStart`, after a call returned). @default {20}
   */
  detachedRate?: number;
  /** Such calls and publishes allowed at once above the rate. @default {100} */
  detachedBurst?: number;
  /** Bytes the event store may hold (events, pending deliveries, dead letters). @default {268435456} */
  maxStoreBytes?: number;
  /** Dead letters older than this are dropped, ms. @default {604800000} (7 days) */
  deadLetterTtlMs?: number;
  /** Most dead letters kept per subscriber bundle and topic; the oldest go first. @default {1000} */
  maxDeadLettersPerSubscriber?: number;
  /** How often expired and excess dead letters are dropped, ms. @default {60000} */
  deadLetterSweepMs?: number;
}

/**
 * The limits with their defaults.
 *
 * @example The limits in force
 * ```ts
 * import { createEngine, type ResolvedLimits } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const limits: ResolvedLimits = engine.eventBus.guard.limits;
 * console.log(limits.topicRate, limits.maxStoreBytes);
 * ```
 */
export type ResolvedLimits = Required<EventLimitOptions>;

/**
 * Merges limit options with their defaults.
 *
 * @param options What the operator set.
 * @returns Every limit.
 * @throws {RangeError} For a limit that is not a positive number.
 */
export function resolveLimits(options: EventLimitOptions = {}): ResolvedLimits {
  const topicRate = options.topicRate ?? 200;
  const bundlePublishRate = options.bundlePublishRate ?? 100;
  const limits: ResolvedLimits = {
    topicRate,
    topicBurst: options.topicBurst ?? Math.max(1, topicRate),
    bundlePublishRate,
    bundlePublishBurst: options.bundlePublishBurst ?? Math.max(1, bundlePublishRate),
    detachedRate: options.detachedRate ?? 20,
    detachedBurst: options.detachedBurst ?? 100,
    maxStoreBytes: options.maxStoreBytes ?? 256 * 1024 * 1024,
    deadLetterTtlMs: options.deadLetterTtlMs ?? 7 * 24 * 60 * 60 * 1000,
    maxDeadLettersPerSubscriber: options.maxDeadLettersPerSubscriber ?? 1000,
    deadLetterSweepMs: options.deadLetterSweepMs ?? 60_000,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value !== "number" || !(value > 0)) {
      throw new RangeError(`Event limit "events.${name}" must be a number above 0`);
    }
  }
  return limits;
}

/**
 * Refusals since start: the bus's loop and growth metrics.
 *
 * @example How often the limits refused
 * ```ts
 * import { createEngine, type GuardCounters } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const counters: GuardCounters = engine.eventBus.guard.counters;
 * console.log(counters.throttled, counters.storeFull, counters.hopLimited);
 * ```
 */
export interface GuardCounters {
  /** Publishes refused by a topic or bundle rate limit. */
  throttled: number;
  /** Publishes refused because the event store was at its byte budget. */
  storeFull: number;
  /** Calls and publishes refused at the hop limit (loops between bundles). */
  hopLimited: number;
  /** Calls and publishes made outside any call, refused by the bundle's detached budget. */
  detachedThrottled: number;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/**
 * Checks publishes and detached work against the limits, counting every refusal.
 *
 * @example Check the hop limit before publishing
 * ```ts
 * import { createEngine, type EventGuard } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const guard: EventGuard = engine.eventBus.guard;
 * guard.checkHops(3, "Cannot publish to \"order.created\""); // throws HOP_LIMIT past the limit
 * ```
 */
export class EventGuard {
  /** Refusals since start. */
  readonly counters: GuardCounters = {
    throttled: 0,
    storeFull: 0,
    hopLimited: 0,
    detachedThrottled: 0,
  };
  readonly #limits: ResolvedLimits;
  readonly #maxHops: number;
  readonly #topics: KeyedBuckets;
  readonly #bundles: KeyedBuckets;
  readonly #detached: KeyedBuckets;

  /**
   * Creates the guard.
   *
   * @param limits Resolved limits.
   * @param clock Time source of the rate limits.
   * @param maxHops Longest chain of calls and events.
   */
  constructor(limits: ResolvedLimits, clock: Clock, maxHops: number) {
    this.#limits = limits;
    this.#maxHops = maxHops;
    this.#topics = new KeyedBuckets({ rate: limits.topicRate, burst: limits.topicBurst }, clock);
    this.#bundles = new KeyedBuckets(
      { rate: limits.bundlePublishRate, burst: limits.bundlePublishBurst },
      clock,
    );
    this.#detached = new KeyedBuckets(
      { rate: limits.detachedRate, burst: limits.detachedBurst },
      clock,
    );
  }

  /** The limits in force. */
  get limits(): ResolvedLimits {
    return this.#limits;
  }

  /**
   * Refuses a call or publish beyond the hop limit.
   *
   * @param hops Hops it would have.
   * @param what What is refused, for the message (`Cannot publish to "t"`, `Call chain from x`).
   * @throws {BundlehostError} `HOP_LIMIT` beyond the limit.
   */
  checkHops(hops: number, what: string): void {
    if (hops <= this.#maxHops) return;
    this.counters.hopLimited++;
    throw new BundlehostError(
      "HOP_LIMIT",
      `${what}: the chain of calls and events exceeds ${this.#maxHops} hops`,
    );
  }

  /**
   * Takes one publish from the topic's rate limit and, for a bundle, from the bundle's.
   *
   * @param topic Topic.
   * @param bundle Publishing bundle id, if a bundle publishes.
   * @throws {BundlehostError} `THROTTLED` (429) naming the topic or bundle.
   */
  takePublish(topic: string, bundle?: string): void {
    if (bundle !== undefined && !this.#bundles.take(bundle)) {
      this.counters.throttled++;
      throw new BundlehostError(
        "THROTTLED",
        `Cannot publish to "${topic}": bundle "${bundle}" is over its publish rate limit of ${this.#limits.bundlePublishRate} events/s (events.bundlePublishRate)`,
      );
    }
    if (!this.#topics.take(topic)) {
      this.counters.throttled++;
      throw new BundlehostError(
        "THROTTLED",
        `Cannot publish to "${topic}": the topic is over its rate limit of ${this.#limits.topicRate} events/s (events.topicRate)`,
      );
    }
  }

  /**
   * Refuses a publish that would take the event store past its byte budget.
   *
   * @param topic Topic.
   * @param used Bytes the store holds now.
   * @param adding Bytes the publish would add.
   * @throws {BundlehostError} `STORE_FULL` (507) naming the budget.
   */
  checkBudget(topic: string, used: number, adding: number): void {
    if (used + adding <= this.#limits.maxStoreBytes) return;
    this.counters.storeFull++;
    throw new BundlehostError(
      "STORE_FULL",
      `Cannot publish to "${topic}": the event store holds ${mib(used)} of its ${
        mib(this.#limits.maxStoreBytes)
      } budget (events.maxStoreBytes); deliver, replay or delete dead letters to make room`,
    );
  }

  /**
   * Takes one call or publish a bundle makes outside any call from its detached budget.
   *
   * @param bundle Bundle id.
   * @param what `"call"` or `"publish"`, for the message.
   * @throws {BundlehostError} `THROTTLED` when the budget is spent.
   */
  takeDetached(bundle: string, what: "call" | "publish"): void {
    if (this.#detached.take(bundle)) return;
    this.counters.detachedThrottled++;
    throw new BundlehostError(
      "THROTTLED",
      `Bundle "${bundle}" cannot ${what} now: it is over its budget of ${this.#limits.detachedRate}/s for calls and publishes made outside any call (events.detachedRate)`,
    );
  }
}
