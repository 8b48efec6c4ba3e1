/**
 * Call outcomes of one revision: counters and a ring of recent latencies, recorded in O(1) where
 * calls complete, read by phased-release analysis over a window that starts at a mark.
 *
 * @module
 */
import { BundlehostError } from "../base/errors.ts";

/** Latencies kept per revision; a window's percentiles use at most this many recent calls. */
export const LATENCY_RING = 1024;

/** Failure codes that count as errors, as for the circuit breaker: the bundle or engine failed. */
const FAILURE_CODES = new Set(["BUNDLE_ERROR", "BUNDLE_CRASHED", "TIMEOUT", "UNAVAILABLE"]);

/**
 * Whether a call's failure counts against the revision (not the caller's fault).
 *
 * @param error What the call failed with.
 * @returns `true` for a bundle error, crash, timeout or unavailability.
 */
export function isFailure(error: unknown): boolean {
  return error instanceof BundlehostError && FAILURE_CODES.has(error.code);
}

/**
 * Where a window starts: counters at the time of {@linkcode OutcomeStats.mark}.
 *
 * @example Outcomes over the last minute
 * ```ts
 * import { createEngine, type OutcomeMark } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const stats = engine.runtime.outcomes("hello", "1.0.0");
 * const mark: OutcomeMark = stats.mark();
 * await new Promise((resolve) => setTimeout(resolve, 60_000));
 * console.log(stats.since(mark).errorRatio);
 * ```
 */
export interface OutcomeMark {
  /** Calls recorded before the mark. */
  calls: number;
  /** Errors recorded before the mark. */
  errors: number;
  /** Sum of latencies before the mark, ms. */
  totalMs: number;
}

/**
 * Outcomes since a mark.
 *
 * @example The running canary step
 * ```ts
 * import { createEngine, type OutcomeWindow } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const step: OutcomeWindow | undefined = engine.registry.canaryProgress("hello");
 * if (step) console.log(step.calls, step.errorRatio, step.p99Ms);
 * ```
 */
export interface OutcomeWindow {
  /** Calls completed. */
  calls: number;
  /** Calls that failed (see {@linkcode isFailure}). */
  errors: number;
  /** `errors / calls`, 0 without calls. */
  errorRatio: number;
  /** Mean latency, ms (0 without calls). */
  meanMs: number;
  /** 99th percentile latency over the window's last {@linkcode LATENCY_RING} calls, ms. */
  p99Ms: number;
}

/**
 * Outcome counters of one revision.
 *
 * @example A window
 * ```ts
 * import { OutcomeStats } from "./outcomes.ts";
 * const stats = new OutcomeStats();
 * const mark = stats.mark();
 * stats.record(false, 12);
 * stats.record(true, 30);
 * console.log(stats.since(mark).errorRatio); // 0.5
 * ```
 */
export class OutcomeStats {
  #calls = 0;
  #errors = 0;
  #totalMs = 0;
  readonly #ring = new Float64Array(LATENCY_RING);

  /** Calls and errors since the revision started. */
  get totals(): { calls: number; errors: number } {
    return { calls: this.#calls, errors: this.#errors };
  }

  /**
   * Records one completed call.
   *
   * @param error Whether it failed.
   * @param ms Its latency, ms.
   */
  record(error: boolean, ms: number): void {
    this.#ring[this.#calls % LATENCY_RING] = ms;
    this.#calls++;
    this.#totalMs += ms;
    if (error) this.#errors++;
  }

  /** The start of a window. */
  mark(): OutcomeMark {
    return { calls: this.#calls, errors: this.#errors, totalMs: this.#totalMs };
  }

  /**
   * Outcomes since a mark.
   *
   * @param mark Window start.
   * @returns Counts, error ratio, mean and p99 latency.
   */
  since(mark: OutcomeMark): OutcomeWindow {
    const calls = this.#calls - mark.calls;
    const errors = this.#errors - mark.errors;
    if (calls <= 0) return { calls: 0, errors: 0, errorRatio: 0, meanMs: 0, p99Ms: 0 };
    const kept = Math.min(calls, LATENCY_RING);
    const recent = new Float64Array(kept);
    for (let i = 0; i < kept; i++) recent[i] = this.#ring[(this.#calls - 1 - i) % LATENCY_RING]!;
    recent.sort();
    const p99 = recent[Math.min(kept - 1, Math.ceil(kept * 0.99) - 1)]!;
    return {
      calls,
      errors,
      errorRatio: errors / calls,
      meanMs: (this.#totalMs - mark.totalMs) / calls,
      p99Ms: p99,
    };
  }
}
