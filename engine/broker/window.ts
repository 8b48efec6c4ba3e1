/**
 * A sliding statistics window in the style of Sentinel's LeapArray: a ring of fixed-width buckets.
 * Recording touches one bucket (O(1)); a snapshot sums the ring (O(buckets), a constant), skipping
 * buckets older than the window.
 *
 * @module
 */

/**
 * Counters over a window.
 *
 * @example What the breaker counted
 * ```ts
 * import { createEngine, type WindowSnapshot } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const window: WindowSnapshot | undefined = engine.bundle("hello").governance?.breaker?.window;
 * if (window) console.log(`${window.errors} errors, ${window.slow} slow of ${window.total}`);
 * ```
 */
export interface WindowSnapshot {
  /** Completed calls. */
  total: number;
  /** Calls that failed. */
  errors: number;
  /** Calls slower than the slow threshold. */
  slow: number;
}

/** A ring of buckets covering `intervalMs`. */
export class SlidingWindow {
  /** Width of the whole window, ms. */
  readonly intervalMs: number;
  readonly #bucketMs: number;
  readonly #starts: Float64Array;
  readonly #total: Uint32Array;
  readonly #errors: Uint32Array;
  readonly #slow: Uint32Array;

  /**
   * Creates an empty window.
   *
   * @param intervalMs Window width, ms.
   * @param buckets Number of buckets (precision). @default {10}
   */
  constructor(intervalMs: number, buckets = 10) {
    if (!(intervalMs > 0) || !Number.isInteger(buckets) || buckets < 1) {
      throw new RangeError("Window needs a positive interval and at least one bucket");
    }
    this.intervalMs = intervalMs;
    this.#bucketMs = intervalMs / buckets;
    this.#starts = new Float64Array(buckets).fill(-Infinity);
    this.#total = new Uint32Array(buckets);
    this.#errors = new Uint32Array(buckets);
    this.#slow = new Uint32Array(buckets);
  }

  #bucket(now: number): number {
    const slot = Math.floor(now / this.#bucketMs);
    const index = slot % this.#starts.length;
    const start = slot * this.#bucketMs;
    if (this.#starts[index] !== start) {
      this.#starts[index] = start;
      this.#total[index] = 0;
      this.#errors[index] = 0;
      this.#slow[index] = 0;
    }
    return index;
  }

  /**
   * Records one completed call.
   *
   * @param now Current time, ms.
   * @param error Whether it failed.
   * @param slow Whether it was slow.
   */
  record(now: number, error: boolean, slow: boolean): void {
    const i = this.#bucket(now);
    this.#total[i]!++;
    if (error) this.#errors[i]!++;
    if (slow) this.#slow[i]!++;
  }

  /**
   * Sums the buckets still inside the window.
   *
   * @param now Current time, ms.
   * @returns The counters.
   */
  snapshot(now: number): WindowSnapshot {
    const oldest = now - this.intervalMs;
    const out: WindowSnapshot = { total: 0, errors: 0, slow: 0 };
    for (let i = 0; i < this.#starts.length; i++) {
      if (this.#starts[i]! <= oldest) continue;
      out.total += this.#total[i]!;
      out.errors += this.#errors[i]!;
      out.slow += this.#slow[i]!;
    }
    return out;
  }

  /** Forgets everything. */
  reset(): void {
    this.#starts.fill(-Infinity);
  }
}
