/**
 * Circuit breaking with Sentinel's strategies and parameter names. One {@linkcode TripStrategy}
 * interface with three implementations (`slowRequestRatio`, `errorRatio`, `errorCount`) drives one
 * state machine: CLOSED → OPEN (after `retryTimeoutMs`) → HALF_OPEN, where `probeNum` probe calls
 * are admitted; all succeed → CLOSED, any fails → OPEN again. Operators can force a breaker open
 * or closed.
 *
 * @module
 */
import type { BreakerStrategy } from "../manifest/manifest.ts";
import { type Clock, systemClock } from "../base/clock.ts";
import { SlidingWindow, type WindowSnapshot } from "./window.ts";

/**
 * Breaker states; the forced ones are operator overrides.
 *
 * @example Is the circuit open?
 * ```ts
 * import { type BreakerState, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const state: BreakerState | undefined = engine.bundle("hello").governance?.breaker?.state;
 * console.log(state === "OPEN" || state === "FORCED_OPEN" ? "refusing calls" : "serving");
 * ```
 */
export type BreakerState = "CLOSED" | "OPEN" | "HALF_OPEN" | "FORCED_OPEN" | "FORCED_CLOSED";

/** Breaker parameters (Sentinel names). */
export interface BreakerRule {
  /** How failures are judged. */
  strategy: BreakerStrategy;
  /** Slower than this is slow (`slowRequestRatio`), ms. @default {1000} */
  maxRtMs: number;
  /** Ratio 0–1 for the ratio strategies; a count for `errorCount`. */
  threshold: number;
  /** Fewest calls in the window before the breaker may open. @default {5} */
  minRequestAmount: number;
  /** Statistics window, ms. @default {1000} */
  statIntervalMs: number;
  /** Time OPEN before probing, ms. @default {5000} */
  retryTimeoutMs: number;
  /** Probe calls admitted while HALF_OPEN. @default {1} */
  probeNum: number;
}

/** How one completed call went. */
export interface CallResult {
  /** Whether it failed (an error that is the bundle's fault). */
  error: boolean;
  /** Response time, ms. */
  rtMs: number;
}

/** A strategy: what counts as a bad call, and when the window says "open". */
export interface TripStrategy {
  /** Sentinel name. */
  readonly name: BreakerStrategy;
  /** Whether a call is bad under this strategy (a probe that is bad re-opens the breaker). */
  isBad(result: CallResult, rule: BreakerRule): boolean;
  /** Whether the window's counters trip the breaker. */
  shouldTrip(window: WindowSnapshot, rule: BreakerRule): boolean;
}

function ratioTrips(bad: number, total: number, threshold: number): boolean {
  const ratio = bad / total;
  // Sentinel: strictly above the threshold, except that a threshold of 1 trips at 100 %.
  return ratio > threshold || (threshold >= 1 && ratio >= 1);
}

/** The three strategies by name. */
export const STRATEGIES: Record<BreakerStrategy, TripStrategy> = {
  slowRequestRatio: {
    name: "slowRequestRatio",
    isBad: (r, rule) => r.error || r.rtMs > rule.maxRtMs,
    shouldTrip: (w, rule) =>
      w.total >= rule.minRequestAmount && ratioTrips(w.slow, w.total, rule.threshold),
  },
  errorRatio: {
    name: "errorRatio",
    isBad: (r) => r.error,
    shouldTrip: (w, rule) =>
      w.total >= rule.minRequestAmount && ratioTrips(w.errors, w.total, rule.threshold),
  },
  errorCount: {
    name: "errorCount",
    isBad: (r) => r.error,
    shouldTrip: (w, rule) => w.total >= rule.minRequestAmount && w.errors > rule.threshold,
  },
};

/** Admission to make one call; hand it back to {@linkcode CircuitBreaker.complete}. */
export interface Permit {
  /** Whether the call is a half-open probe. */
  readonly probe: boolean;
}

const NORMAL: Permit = Object.freeze({ probe: false });

/** One breaker. */
export class CircuitBreaker {
  /** Parameters. */
  readonly rule: BreakerRule;
  readonly #strategy: TripStrategy;
  readonly #window: SlidingWindow;
  readonly #onChange: (from: BreakerState, to: BreakerState) => void;
  readonly #clock: Clock;
  #state: "CLOSED" | "OPEN" | "HALF_OPEN" = "CLOSED";
  #forced: "FORCED_OPEN" | "FORCED_CLOSED" | undefined;
  #openedAt = 0;
  #probesAdmitted = 0;
  #probesPassed = 0;

  /**
   * Creates a CLOSED breaker.
   *
   * @param rule Parameters.
   * @param onChange Called on every state change.
   * @param clock Time source (`now()`, as cheap as `Date.now`: it is read on every call).
   * @default {systemClock}
   */
  constructor(
    rule: BreakerRule,
    onChange: (from: BreakerState, to: BreakerState) => void = () => {},
    clock: Clock = systemClock,
  ) {
    this.rule = rule;
    this.#strategy = STRATEGIES[rule.strategy];
    this.#window = new SlidingWindow(rule.statIntervalMs);
    this.#onChange = onChange;
    this.#clock = clock;
  }

  /** Current state (a forced state wins). */
  get state(): BreakerState {
    return this.#forced ?? this.#state;
  }

  /**
   * Forces the breaker open or closed, or returns it to automatic operation.
   *
   * @param mode Override, or `undefined` for automatic.
   */
  force(mode: "FORCED_OPEN" | "FORCED_CLOSED" | undefined): void {
    const before = this.state;
    this.#forced = mode;
    if (mode === undefined) this.#close();
    if (this.state !== before) this.#onChange(before, this.state);
  }

  /**
   * Asks to make a call.
   *
   * @returns A permit, or `undefined` when the breaker refuses the call.
   */
  tryPass(): Permit | undefined {
    if (this.#forced === "FORCED_OPEN") return undefined;
    if (this.#forced === "FORCED_CLOSED" || this.#state === "CLOSED") return NORMAL;
    if (this.#state === "OPEN") {
      if (this.#clock.now() - this.#openedAt < this.rule.retryTimeoutMs) return undefined;
      this.#transition("HALF_OPEN");
      this.#probesAdmitted = 0;
      this.#probesPassed = 0;
    }
    if (this.#probesAdmitted >= this.rule.probeNum) return undefined;
    this.#probesAdmitted++;
    return { probe: true };
  }

  /**
   * Reports how a permitted call went.
   *
   * @param permit The permit from {@linkcode CircuitBreaker.tryPass}.
   * @param result Outcome.
   */
  complete(permit: Permit, result: CallResult): void {
    const bad = this.#strategy.isBad(result, this.rule);
    if (permit.probe) {
      if (this.#state !== "HALF_OPEN") return;
      if (bad) this.#open();
      else if (++this.#probesPassed >= this.rule.probeNum) this.#close();
      return;
    }
    const now = this.#clock.now();
    this.#window.record(now, result.error, result.rtMs > this.rule.maxRtMs);
    if (
      this.#forced === undefined && this.#state === "CLOSED" && bad &&
      this.#strategy.shouldTrip(this.#window.snapshot(now), this.rule)
    ) {
      this.#open();
    }
  }

  /** Counters of the current window (for status). */
  snapshot(): WindowSnapshot {
    return this.#window.snapshot(this.#clock.now());
  }

  #open(): void {
    this.#openedAt = this.#clock.now();
    this.#transition("OPEN");
  }

  #close(): void {
    this.#window.reset();
    this.#transition("CLOSED");
  }

  #transition(to: "CLOSED" | "OPEN" | "HALF_OPEN"): void {
    if (this.#state === to) return;
    const before = this.state;
    this.#state = to;
    if (this.state !== before) this.#onChange(before, this.state);
  }
}
