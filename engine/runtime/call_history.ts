/**
 * A few minutes of call metrics kept in the engine's memory, for the operator console's live
 * charts (`GET /admin/metrics/history`): calls, errors and latency percentiles per fixed interval,
 * engine-wide and per bundle. It needs no Prometheus. Memory is bounded: a ring of
 * `size` samples, each with at most `maxBundles` bundles, and one latency histogram of fixed
 * buckets per bundle for the interval being filled. Time comes from the engine's clock, and an
 * interval closes when a call or a read finds the clock past it, so no timer runs.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { AdmittedCall, CallOutcome } from "../call/request.ts";

/**
 * Calls of one bundle (or of the whole engine) in one interval.
 *
 * @example Error ratio of a sample
 * ```ts
 * import type { CallCounts } from "@bundlehost/sdk";
 *
 * const counts: CallCounts = { calls: 40, errors: 2, p50Ms: 3, p99Ms: 18 };
 * console.log(counts.calls === 0 ? 0 : counts.errors / counts.calls);
 * ```
 */
export interface CallCounts {
  /** Calls that ended in the interval. */
  calls: number;
  /** Of those, the ones that failed (an error, or an HTTP status of 500 or more from `fetch`). */
  errors: number;
  /** Median duration, ms (upper bound of its histogram bucket); null without calls. */
  p50Ms: number | null;
  /** 99th percentile duration, ms (upper bound of its histogram bucket); null without calls. */
  p99Ms: number | null;
}

/**
 * One closed interval of the history.
 *
 * @example Calls per second of a sample
 * ```ts
 * import type { MetricsSample } from "@bundlehost/sdk";
 *
 * function perSecond(sample: MetricsSample, intervalMs: number): number {
 *   return sample.calls / (intervalMs / 1000);
 * }
 * ```
 */
export interface MetricsSample extends CallCounts {
  /** Start of the interval, epoch ms. */
  time: number;
  /** Per bundle id; calls of bundles beyond the per-sample limit count under `"(other)"`. */
  bundles: Record<string, CallCounts>;
}

/**
 * The history as the admin API serves it.
 *
 * @example The last sample's p99
 * ```ts
 * import { createEngine, type MetricsHistory } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const history: MetricsHistory = engine.metricsHistory();
 * console.log(history.intervalMs, history.samples.at(-1)?.p99Ms ?? "no sample yet");
 * ```
 */
export interface MetricsHistory {
  /** Length of one interval, ms. */
  intervalMs: number;
  /** Closed intervals, oldest first, at most the ring's size; intervals without calls count 0. */
  samples: MetricsSample[];
}

/**
 * Options of {@linkcode CallHistory}.
 *
 * @example Ten minutes at one sample per five seconds
 * ```ts
 * import type { CallHistoryOptions } from "./call_history.ts";
 * const options: CallHistoryOptions = { intervalMs: 5_000, size: 120 };
 * ```
 */
export interface CallHistoryOptions {
  /** Length of one interval, ms. @default {2000} */
  intervalMs?: number;
  /** Samples kept. @default {150} */
  size?: number;
  /** Bundles kept apart per sample; the rest share `"(other)"`. @default {64} */
  maxBundles?: number;
}

/** Bucket upper bounds, ms: 0.25 ms to about 2 minutes, each a quarter above the last. */
const BOUNDS: readonly number[] = (() => {
  const bounds: number[] = [];
  for (let b = 0.25; b < 120_000; b *= 1.25) bounds.push(Math.round(b * 100) / 100);
  bounds.push(Infinity);
  return bounds;
})();

/** Label under which bundles beyond the per-sample limit are counted. */
export const OTHER_BUNDLES = "(other)";

function bucketOf(ms: number): number {
  // Binary search: the first bound at or above `ms`.
  let low = 0;
  let high = BOUNDS.length - 1;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (BOUNDS[mid]! >= ms) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** Counts of one bundle in the interval being filled. */
class Tally {
  calls = 0;
  errors = 0;
  readonly histogram: Uint32Array = new Uint32Array(BOUNDS.length);

  add(ms: number, failed: boolean): void {
    this.calls++;
    if (failed) this.errors++;
    this.histogram[bucketOf(ms)]!++;
  }

  #quantile(q: number): number | null {
    if (this.calls === 0) return null;
    const rank = Math.ceil(q * this.calls);
    let seen = 0;
    for (let i = 0; i < this.histogram.length; i++) {
      seen += this.histogram[i]!;
      if (seen >= rank) {
        const bound = BOUNDS[i]!;
        return Number.isFinite(bound) ? bound : BOUNDS[i - 1]!;
      }
    }
    return null;
  }

  counts(): CallCounts {
    return {
      calls: this.calls,
      errors: this.errors,
      p50Ms: this.#quantile(0.5),
      p99Ms: this.#quantile(0.99),
    };
  }
}

const EMPTY: CallCounts = { calls: 0, errors: 0, p50Ms: null, p99Ms: null };

/** Labels whose bundle id is remembered; the memo is emptied when full (labels are client-chosen). */
const MAX_REMEMBERED_LABELS = 1024;

/** The bundle id of an `id@version` label. */
function idOf(label: string): string {
  const at = label.lastIndexOf("@");
  return at > 0 ? label.slice(0, at) : label;
}

/** Whether an outcome is a failure: a `fetch` answered with a status of 500 or more. */
function failedOutcome(call: AdmittedCall, outcome: CallOutcome): boolean {
  if (call.kind !== "fetch") return false;
  const status = (outcome.result as { status?: unknown } | null)?.status;
  return typeof status === "number" && status >= 500;
}

/**
 * The ring of samples, filled by {@linkcode CallHistory.wrap} around the engine's call chain.
 *
 * @example Record two calls on a manual clock
 * ```ts
 * import { ManualClock } from "../base/clock.ts";
 * import { CallHistory } from "./call_history.ts";
 *
 * const clock = new ManualClock(0);
 * const history = new CallHistory(clock, { intervalMs: 1_000, size: 3 });
 * history.record("hello", 12, false);
 * history.record("hello", 30, true);
 * await clock.advance(1_000);
 * console.log(history.snapshot().samples[0]); // { time: 0, calls: 2, errors: 1, ... }
 * ```
 */
export class CallHistory {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #size: number;
  readonly #maxBundles: number;
  readonly #samples: MetricsSample[] = [];
  #start: number;
  #total = new Tally();
  #bundles = new Map<string, Tally>();
  #lastBundle: string | undefined;
  #lastTally: Tally | undefined;
  readonly #ids = new Map<string, string>();

  /**
   * Creates an empty history.
   *
   * @param clock Where time is read.
   * @param options Interval, size and per-sample bundle limit.
   * @throws {RangeError} For an interval under 100 ms, or a size or bundle limit under 1.
   */
  constructor(clock: Clock, options: CallHistoryOptions = {}) {
    this.#clock = clock;
    this.#intervalMs = options.intervalMs ?? 2_000;
    this.#size = options.size ?? 150;
    this.#maxBundles = options.maxBundles ?? 64;
    if (!(this.#intervalMs >= 100)) throw new RangeError("intervalMs must be at least 100");
    if (!(this.#size >= 1) || !(this.#maxBundles >= 1)) {
      throw new RangeError("size and maxBundles must be at least 1");
    }
    this.#start = this.#floor(clock.now());
  }

  /**
   * Records one ended call.
   *
   * @param bundle Bundle id (or `undefined` when no bundle was found for it).
   * @param ms Duration, ms.
   * @param failed Whether it failed.
   */
  record(bundle: string | undefined, ms: number, failed: boolean): void {
    this.#advance();
    this.#total.add(ms, failed);
    if (bundle === undefined) return;
    // Calls come in runs of the same bundle: the last one's tally is kept at hand.
    let tally = bundle === this.#lastBundle ? this.#lastTally : this.#bundles.get(bundle);
    if (!tally) {
      const key = this.#bundles.size < this.#maxBundles ? bundle : OTHER_BUNDLES;
      tally = this.#bundles.get(key) ?? new Tally();
      this.#bundles.set(key, tally);
    }
    this.#lastBundle = bundle;
    this.#lastTally = tally;
    tally.add(ms, failed);
  }

  /** The bundle id of an `id@version` label, remembered (no string is cut per call). */
  #idOf(label: string): string {
    let id = this.#ids.get(label);
    if (id === undefined) {
      if (this.#ids.size >= MAX_REMEMBERED_LABELS) this.#ids.clear();
      id = idOf(label);
      this.#ids.set(label, id);
    }
    return id;
  }

  /**
   * Wraps a call chain so every call it makes is recorded.
   *
   * @param next The chain.
   * @param ownerOf The bundle id providing a service, for calls that failed before a bundle served.
   * @returns The recording chain.
   */
  wrap(
    next: (call: AdmittedCall) => Promise<CallOutcome>,
    ownerOf: (service: string) => string | undefined,
  ): (call: AdmittedCall) => Promise<CallOutcome> {
    // A promise chain, not an async function: it runs on every call (docs/architecture.md,
    // "What a call costs the engine's thread").
    return (call) => {
      const started = this.#clock.monotonic();
      let pending: Promise<CallOutcome>;
      try {
        pending = next(call);
      } catch (error) {
        pending = Promise.reject(error);
      }
      return pending.then((outcome) => {
        const ms = this.#clock.monotonic() - started;
        this.record(this.#idOf(outcome.bundle), ms, failedOutcome(call, outcome));
        return outcome;
      }, (error) => {
        const served = (error as { bundle?: unknown })?.bundle;
        const bundle = typeof served === "string"
          ? idOf(served)
          : call.kind === "fetch"
          ? call.service
          : ownerOf(call.service.split("@")[0]!);
        this.record(bundle, this.#clock.monotonic() - started, true);
        throw error;
      });
    };
  }

  /**
   * The closed intervals, oldest first.
   *
   * @returns The history.
   */
  snapshot(): MetricsHistory {
    this.#advance();
    return { intervalMs: this.#intervalMs, samples: this.#samples.map((s) => structuredClone(s)) };
  }

  #floor(time: number): number {
    return Math.floor(time / this.#intervalMs) * this.#intervalMs;
  }

  /** Closes the interval being filled, and empty ones after it, once the clock is past them. */
  #advance(): void {
    const now = this.#floor(this.#clock.now());
    if (now <= this.#start) return;
    this.#push(this.#close());
    // Quiet intervals are samples of zero; never more than the ring holds.
    const gaps = Math.min((now - this.#start) / this.#intervalMs - 1, this.#size);
    const firstGap = now - gaps * this.#intervalMs;
    for (let i = 0; i < gaps; i++) {
      this.#push({ time: firstGap + i * this.#intervalMs, ...EMPTY, bundles: {} });
    }
    this.#start = now;
  }

  #close(): MetricsSample {
    const bundles: Record<string, CallCounts> = {};
    for (const [id, tally] of this.#bundles) bundles[id] = tally.counts();
    const sample = { time: this.#start, ...this.#total.counts(), bundles };
    this.#total = new Tally();
    this.#bundles = new Map();
    this.#lastBundle = this.#lastTally = undefined;
    return sample;
  }

  #push(sample: MetricsSample): void {
    this.#samples.push(sample);
    if (this.#samples.length > this.#size) {
      this.#samples.splice(0, this.#samples.length - this.#size);
    }
  }
}
