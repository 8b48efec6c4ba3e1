/**
 * Autoscaling decisions in the style of Knative's KPA (docs/architecture.md, "Scaling semantics"), as pure logic over an
 * explicit clock so tests drive it with a fake one. A {@linkcode ConcurrencyMeter} turns call
 * begin/end into a time-weighted average concurrency per tick; the {@linkcode Autoscaler} keeps
 * those samples and decides how many instances should serve.
 *
 * - **Stable mode**: desired = ⌈average concurrency over `stableWindowMs` / `targetConcurrency`⌉.
 * - **Panic mode**: when the panic window's desired count reaches {@linkcode PANIC_THRESHOLD} × the
 *   ready instances, the panic window's value is used, and the count never goes down while
 *   panicking. Panic ends once a whole stable window has passed without the condition (Knative).
 * - **Hysteresis**: the result is the highest recommendation of the last `scaleDownDelayMs`, so
 *   scaling up is immediate and scaling down waits until every recent recommendation was lower.
 * - **Bounds**: `[max(minWorkers, 1), maxWorkers]`; zero only when `minWorkers` is 0 and no call
 *   arrived (and none ran) for `idleMs`. Idle for `idleMs` also drops straight to `minWorkers`.
 *
 * @module
 */

/** Panic when the panic window asks for this many times the ready instances (Knative: 200%). */
export const PANIC_THRESHOLD = 2;

/**
 * Why the desired instance count changed.
 *
 * @example Ignore idle scale-downs
 * ```ts
 * import { createEngine, type ScaleReason } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const quiet: ScaleReason[] = ["idle", "standby"];
 * engine.events.on("scale", (e) => {
 *   if (!quiet.includes(e.reason)) console.log(`${e.bundle}: ${e.from} -> ${e.to} (${e.reason})`);
 * });
 * ```
 */
export type ScaleReason =
  | "stable"
  | "panic"
  | "idle"
  | "min"
  | "cold-start"
  | "standby"
  | "resume";

/**
 * Whether the autoscaler follows the stable or the panic window.
 *
 * @example Alert on panic scaling
 * ```ts
 * import { createEngine, type ScaleMode } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const panic: ScaleMode = "panic";
 * engine.events.on("scale", (e) => {
 *   if (e.mode === panic) console.warn(`${e.bundle} panics: ${e.from} -> ${e.to}`);
 * });
 * ```
 */
export type ScaleMode = "stable" | "panic";

/** Settings of one {@linkcode Autoscaler}; the manifest's `scaling` block provides them. */
export interface AutoscalerSettings {
  /** Fewest serving instances (0 allows scale to zero). */
  minWorkers: number;
  /** Most serving instances. */
  maxWorkers: number;
  /** Calls in flight per instance to aim for. */
  targetConcurrency: number;
  /** Averaging window of stable mode, ms. */
  stableWindowMs: number;
  /** Averaging window of panic mode, ms. */
  panicWindowMs: number;
  /** A lower count is applied only after every recommendation for this long was lower, ms. */
  scaleDownDelayMs: number;
  /** No call for this long scales down to `minWorkers` (to zero when it is 0), ms. */
  idleMs: number;
}

/**
 * One decision of the {@linkcode Autoscaler}.
 *
 * @example The autoscaler's last decision
 * ```ts
 * import { createEngine, type ScaleDecision } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const decision: ScaleDecision | undefined = engine.bundle("hello").revisions[0]?.scaling?.lastDecision;
 * if (decision) console.log(decision.desired, decision.mode, decision.reason);
 * ```
 */
export interface ScaleDecision {
  /** Serving instances wanted. */
  desired: number;
  /** Mode the decision was made in. */
  mode: ScaleMode;
  /** What drove it. */
  reason: ScaleReason;
  /** Average concurrency over the stable window. */
  stableConcurrency: number;
  /** Average concurrency over the panic window. */
  panicConcurrency: number;
}

/** What a {@linkcode ConcurrencyMeter} measured since the previous take. */
export interface ConcurrencySample {
  /** Time-weighted average of calls in flight. */
  average: number;
  /** Calls that began. */
  arrivals: number;
  /** Calls in flight now. */
  current: number;
}

/**
 * Time-weighted concurrency: O(1) per call begin/end, read once per tick.
 *
 * @example Average over a tick
 * ```ts
 * import { ConcurrencyMeter } from "./autoscaler.ts";
 * const meter = new ConcurrencyMeter(0);
 * meter.begin(0);
 * meter.end(500);
 * console.log(meter.take(1000).average); // 0.5
 * ```
 */
export class ConcurrencyMeter {
  #current = 0;
  #area = 0;
  #arrivals = 0;
  #since: number;
  #last: number;

  /**
   * Creates a meter.
   *
   * @param now Start time, ms.
   */
  constructor(now: number) {
    this.#since = now;
    this.#last = now;
  }

  /** Calls in flight now. */
  get current(): number {
    return this.#current;
  }

  /**
   * A call began.
   *
   * @param now Time, ms.
   */
  begin(now: number): void {
    this.#advance(now);
    this.#current++;
    this.#arrivals++;
  }

  /**
   * A call ended.
   *
   * @param now Time, ms.
   */
  end(now: number): void {
    this.#advance(now);
    this.#current = Math.max(0, this.#current - 1);
  }

  /**
   * Reads and resets the figures since the previous take.
   *
   * @param now Time, ms.
   * @returns Average concurrency, arrivals and current concurrency.
   */
  take(now: number): ConcurrencySample {
    this.#advance(now);
    const elapsed = now - this.#since;
    const sample = {
      average: elapsed > 0 ? this.#area / elapsed : this.#current,
      arrivals: this.#arrivals,
      current: this.#current,
    };
    this.#area = 0;
    this.#arrivals = 0;
    this.#since = now;
    return sample;
  }

  #advance(now: number): void {
    if (now > this.#last) this.#area += this.#current * (now - this.#last);
    this.#last = Math.max(this.#last, now);
  }
}

interface Sample {
  at: number;
  concurrency: number;
}

/**
 * KPA-style decisions over recorded concurrency samples.
 *
 * @example One burst with a fake clock
 * ```ts
 * import { Autoscaler } from "./autoscaler.ts";
 * const scaler = new Autoscaler({
 *   minWorkers: 1, maxWorkers: 10, targetConcurrency: 10,
 *   stableWindowMs: 60_000, panicWindowMs: 6_000, scaleDownDelayMs: 0, idleMs: 60_000,
 * }, 0);
 * scaler.record(1_000, 80, 80);
 * console.log(scaler.decide(1_000, 1, 1)); // { desired: 8, mode: "panic", … }
 * ```
 */
export class Autoscaler {
  readonly #settings: AutoscalerSettings;
  #samples: Sample[] = [];
  #recommendations: Sample[] = [];
  #lastActivity: number;
  #latest = 0;
  #panicSince?: number;
  #panicFloor = 0;

  /**
   * Creates an autoscaler; the revision counts as active at `now` (a grace of `idleMs`).
   *
   * @param settings Bounds, target and windows.
   * @param now Current time, ms.
   */
  constructor(settings: AutoscalerSettings, now: number) {
    this.#settings = settings;
    this.#lastActivity = now;
  }

  /** Current mode. */
  get mode(): ScaleMode {
    return this.#panicSince === undefined ? "stable" : "panic";
  }

  /**
   * Forgets every sample, as after a pause (standby): the revision counts as active at `now`.
   *
   * @param now Current time, ms.
   */
  reset(now: number): void {
    this.#samples = [];
    this.#recommendations = [];
    this.#panicSince = undefined;
    this.#panicFloor = 0;
    this.#lastActivity = now;
    this.#latest = 0;
  }

  /**
   * Records one tick's figures.
   *
   * @param now Time of the tick, ms.
   * @param concurrency Average calls in flight during the tick (buffered calls included).
   * @param arrivals Calls that began during the tick.
   */
  record(now: number, concurrency: number, arrivals: number): void {
    this.#samples.push({ at: now, concurrency });
    const horizon = now - this.#settings.stableWindowMs;
    let drop = 0;
    while (drop < this.#samples.length && this.#samples[drop]!.at <= horizon) drop++;
    if (drop > 0) this.#samples.splice(0, drop);
    this.#latest = concurrency;
    if (arrivals > 0 || concurrency > 0) this.#lastActivity = now;
  }

  /**
   * Decides the serving instance count.
   *
   * @param now Current time, ms.
   * @param ready Instances ready to serve now.
   * @param current Serving instances currently wanted.
   * @returns The decision (its `desired` may equal `current`).
   */
  decide(now: number, ready: number, current: number): ScaleDecision {
    const s = this.#settings;
    const stableConcurrency = this.#average(now, s.stableWindowMs);
    const panicConcurrency = this.#average(now, s.panicWindowMs);
    const figures = { stableConcurrency, panicConcurrency };
    if (now - this.#lastActivity >= s.idleMs && this.#latest === 0) {
      this.#panicSince = undefined;
      this.#panicFloor = 0;
      this.#recommendations = [];
      return { desired: s.minWorkers, mode: "stable", reason: "idle", ...figures };
    }
    const stableDesired = Math.ceil(stableConcurrency / s.targetConcurrency);
    const panicDesired = Math.ceil(panicConcurrency / s.targetConcurrency);
    const overPanic = panicConcurrency / s.targetConcurrency / Math.max(1, ready) >=
      PANIC_THRESHOLD;
    if (overPanic) this.#panicSince = now;
    else if (this.#panicSince !== undefined && now - this.#panicSince >= s.stableWindowMs) {
      this.#panicSince = undefined;
      this.#panicFloor = 0;
    }
    let raw: number;
    let reason: ScaleReason;
    if (this.#panicSince !== undefined) {
      // Never scale down while panicking.
      raw = Math.max(panicDesired, current, this.#panicFloor);
      this.#panicFloor = raw;
      reason = "panic";
    } else {
      raw = stableDesired;
      reason = "stable";
    }
    const floor = Math.max(s.minWorkers, 1);
    if (raw < floor) {
      raw = floor;
      if (reason === "stable" && current < floor) reason = "min";
    }
    raw = Math.min(raw, s.maxWorkers);
    const desired = this.#delayScaleDown(now, raw);
    return { desired, mode: this.mode, reason, ...figures };
  }

  /** The highest recommendation of the scale-down delay window (including `raw`). */
  #delayScaleDown(now: number, raw: number): number {
    const horizon = now - this.#settings.scaleDownDelayMs;
    this.#recommendations = this.#recommendations.filter((r) => r.at > horizon);
    this.#recommendations.push({ at: now, concurrency: raw });
    let max = raw;
    for (const r of this.#recommendations) max = Math.max(max, r.concurrency);
    return max;
  }

  #average(now: number, windowMs: number): number {
    const horizon = now - windowMs;
    let sum = 0;
    let n = 0;
    for (let i = this.#samples.length - 1; i >= 0; i--) {
      const sample = this.#samples[i]!;
      if (sample.at <= horizon) break;
      sum += sample.concurrency;
      n++;
    }
    return n === 0 ? 0 : sum / n;
  }
}
