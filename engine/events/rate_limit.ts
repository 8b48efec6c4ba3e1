/**
 * Token buckets on the injected {@linkcode Clock}: the publish rate limits of the event bus (per
 * topic, per bundle) and the budget of calls and publishes a bundle makes outside any call.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";

/** A rate: `rate` tokens per second, at most `burst` saved up. */
export interface RateSpec {
  /** Tokens added per second. */
  rate: number;
  /** Most tokens held (the largest burst). */
  burst: number;
}

/**
 * Many token buckets, one per key, created full on first use. The number of keys is capped: when
 * a new key comes and the cap is reached, the least recently used bucket is forgotten (so names
 * from outside cannot grow memory without bound).
 *
 * @example Five per second per key
 * ```ts
 * import { KeyedBuckets } from "./rate_limit.ts";
 * import { ManualClock } from "../base/clock.ts";
 * const clock = new ManualClock(0);
 * const buckets = new KeyedBuckets({ rate: 5, burst: 5 }, clock);
 * for (let i = 0; i < 5; i++) buckets.take("a"); // true five times
 * console.log(buckets.take("a")); // false
 * ```
 */
export class KeyedBuckets {
  readonly #spec: RateSpec;
  readonly #clock: Clock;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  /**
   * Creates the buckets.
   *
   * @param spec Rate and burst of every bucket (a rate of `Infinity` never refuses).
   * @param clock Time source.
   * @param maxKeys Most buckets kept. @default {10000}
   * @throws {RangeError} When the rate or burst is not a positive number.
   */
  constructor(spec: RateSpec, clock: Clock, maxKeys = 10_000) {
    if (!(spec.rate > 0) || !(spec.burst >= 1)) {
      throw new RangeError(
        `A rate limit needs a rate above 0 and a burst of at least 1 (got ${spec.rate}/s, burst ${spec.burst})`,
      );
    }
    this.#spec = spec;
    this.#clock = clock;
    this.#maxKeys = maxKeys;
  }

  /** The rate and burst. */
  get spec(): RateSpec {
    return this.#spec;
  }

  /**
   * Takes one token from `key`'s bucket.
   *
   * @param key Bucket key.
   * @returns Whether there was one (`false`: over the rate).
   */
  take(key: string): boolean {
    if (this.#spec.rate === Infinity) return true;
    const now = this.#clock.now();
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#buckets.delete(key); // Re-inserted below: the Map's order is least recently used first.
      const refill = (Math.max(0, now - bucket.at) / 1000) * this.#spec.rate;
      bucket = { tokens: Math.min(this.#spec.burst, bucket.tokens + refill), at: now };
    } else {
      if (this.#buckets.size >= this.#maxKeys) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
      bucket = { tokens: this.#spec.burst, at: now };
    }
    const ok = bucket.tokens >= 1;
    if (ok) bucket.tokens -= 1;
    this.#buckets.set(key, bucket);
    return ok;
  }

  /** Buckets held. */
  get size(): number {
    return this.#buckets.size;
  }
}
