/**
 * Per-bundle log budget: a token bucket keyed by bundle id, so every instance of every version of
 * a bundle shares one budget (more instances never buy more log volume). Lines beyond it are
 * dropped and counted, and the count is exported as a metric and shown in status.
 *
 * @module
 */
import { type Clock, systemClock } from "../base/clock.ts";

/** Options of {@linkcode LogBudget}. */
export interface LogBudgetOptions {
  /** Lines per second refilled into each bundle's bucket; 0 drops every line. */
  linesPerSecond: number;
  /** Bucket size: lines a bundle may write in one burst. */
  burst: number;
  /** The engine's clock (tests pass a `ManualClock`). @default {systemClock} */
  clock?: Clock;
}

interface Bucket {
  tokens: number;
  at: number;
  dropped: number;
}

/** Token buckets of log lines, one per bundle id. */
export class LogBudget {
  readonly #rate: number;
  readonly #burst: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, Bucket>();

  /**
   * Creates the budget.
   *
   * @param options Rate, burst and clock.
   */
  constructor(options: LogBudgetOptions) {
    this.#rate = options.linesPerSecond;
    this.#burst = options.burst;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Takes one line from a bundle's budget.
   *
   * @param id Bundle id.
   * @returns True when the line may be written, false when it is dropped (and counted).
   *
   * @example Two lines a second, a burst of two
   * ```ts
   * import { LogBudget } from "./log_budget.ts";
   * import { ManualClock } from "../base/clock.ts";
   * const budget = new LogBudget({ linesPerSecond: 2, burst: 2, clock: new ManualClock(0) });
   * budget.admit("a"); budget.admit("a");
   * console.log(budget.admit("a"), budget.dropped("a")); // false 1
   * ```
   */
  admit(id: string): boolean {
    const now = this.#clock.now();
    let bucket = this.#buckets.get(id);
    if (!bucket) {
      bucket = { tokens: this.#burst, at: now, dropped: 0 };
      this.#buckets.set(id, bucket);
    }
    const elapsed = Math.max(0, now - bucket.at) / 1000;
    bucket.tokens = Math.min(this.#burst, bucket.tokens + elapsed * this.#rate);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return true;
    }
    bucket.dropped++;
    return false;
  }

  /**
   * Counts lines a bundle's sandbox dropped before they reached the engine (its own log gate),
   * with the lines this budget dropped.
   *
   * @param id Bundle id.
   * @param count Lines dropped.
   */
  countDropped(id: string, count: number): void {
    let bucket = this.#buckets.get(id);
    if (!bucket) {
      bucket = { tokens: this.#burst, at: this.#clock.now(), dropped: 0 };
      this.#buckets.set(id, bucket);
    }
    bucket.dropped += count;
  }

  /**
   * Lines of a bundle dropped so far.
   *
   * @param id Bundle id.
   * @returns The count (0 for a bundle that never exceeded its budget).
   */
  dropped(id: string): number {
    return this.#buckets.get(id)?.dropped ?? 0;
  }

  /**
   * Forgets a bundle (it was deleted); its count starts again from 0.
   *
   * @param id Bundle id.
   */
  forget(id: string): void {
    this.#buckets.delete(id);
  }
}
