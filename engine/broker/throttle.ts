/**
 * Throttling: a QPS limiter and a concurrency limiter, each rejecting at once (`THROTTLED`) or
 * queueing a call up to `maxQueueingTimeMs` (Sentinel's "rate limiter" pacing for QPS: admitted calls
 * are spaced `1000 / qps` ms apart).
 *
 * @module
 */
import { BundlehostError } from "../base/errors.ts";
import { type Clock, sleep, systemClock, type TimerHandle } from "../base/clock.ts";
import { SlidingWindow } from "./window.ts";

function throttled(what: string): BundlehostError {
  return new BundlehostError("THROTTLED", `Throttled: ${what}`);
}

/** Calls-per-second limit. */
export class QpsLimiter {
  /** Calls per second admitted. */
  readonly qps: number;
  /** Longest wait in the pacing queue, ms; 0 rejects at once. */
  readonly maxQueueingTimeMs: number;
  readonly #label: string;
  readonly #window = new SlidingWindow(1000, 10);
  readonly #clock: Clock;
  #latestPassed = -Infinity;

  /**
   * Creates a limiter.
   *
   * @param label What is limited, for messages.
   * @param qps Calls per second.
   * @param maxQueueingTimeMs Longest pacing wait, ms (0: reject at once).
   * @param clock Time source and timers. @default {systemClock}
   */
  constructor(label: string, qps: number, maxQueueingTimeMs = 0, clock: Clock = systemClock) {
    this.#label = label;
    this.qps = qps;
    this.maxQueueingTimeMs = maxQueueingTimeMs;
    this.#clock = clock;
  }

  /**
   * Admits one call, possibly after waiting.
   *
   * @param deadline The call's deadline; a wait past it is refused.
   * @throws {BundlehostError} `THROTTLED` when over the limit.
   */
  async acquire(deadline = Infinity): Promise<void> {
    const now = this.#clock.now();
    if (this.maxQueueingTimeMs <= 0) {
      if (this.#window.snapshot(now).total >= this.qps) {
        throw throttled(`${this.#label} is over ${this.qps} calls per second`);
      }
      this.#window.record(now, false, false);
      return;
    }
    const cost = 1000 / this.qps;
    const expected = this.#latestPassed + cost;
    if (expected <= now) {
      this.#latestPassed = now;
      return;
    }
    const wait = expected - now;
    if (wait > this.maxQueueingTimeMs || now + wait > deadline) {
      throw throttled(`${this.#label} queue is longer than ${this.maxQueueingTimeMs} ms`);
    }
    this.#latestPassed = expected;
    await sleep(this.#clock, wait);
  }
}

/** Calls-in-flight limit with an optional bounded wait. */
export class ConcurrencyLimiter {
  /** Calls in flight admitted. */
  readonly max: number;
  /** Longest wait for a slot, ms; 0 rejects at once. */
  readonly maxQueueingTimeMs: number;
  readonly #label: string;
  readonly #clock: Clock;
  #active = 0;
  #waiters: { admit(): void; timer: TimerHandle }[] = [];

  /**
   * Creates a limiter.
   *
   * @param label What is limited, for messages.
   * @param max Calls in flight.
   * @param maxQueueingTimeMs Longest wait for a slot, ms (0: reject at once).
   * @param clock Time source and timers. @default {systemClock}
   */
  constructor(label: string, max: number, maxQueueingTimeMs = 0, clock: Clock = systemClock) {
    this.#label = label;
    this.max = max;
    this.maxQueueingTimeMs = maxQueueingTimeMs;
    this.#clock = clock;
  }

  /** Calls in flight. */
  get active(): number {
    return this.#active;
  }

  /**
   * Takes a slot, possibly after waiting.
   *
   * @param deadline The call's deadline.
   * @returns Releases the slot (call exactly once).
   * @throws {BundlehostError} `THROTTLED` when no slot frees up in time.
   */
  acquire(deadline = Infinity): Promise<() => void> {
    if (this.#active < this.max) {
      this.#active++;
      return Promise.resolve(this.#releaser());
    }
    const wait = Math.min(this.maxQueueingTimeMs, deadline - this.#clock.now());
    if (wait <= 0) {
      return Promise.reject(throttled(`${this.#label} has ${this.max} calls in flight`));
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        admit: () => {
          this.#clock.clearTimeout(waiter.timer);
          resolve(this.#releaser());
        },
        timer: this.#clock.setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(throttled(`${this.#label} had no free slot within ${wait} ms`));
        }, wait),
      };
      this.#waiters.push(waiter);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next) next.admit();
      else this.#active--;
    };
  }
}
