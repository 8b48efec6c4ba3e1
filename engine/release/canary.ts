/**
 * Phased release (canary) with automatic rollback, in the style of Flagger and Argo Rollouts: the
 * new version's traffic weight goes up step by step; during each step its call outcomes are
 * analysed, and the release rolls back by itself when the error ratio or the p99 latency crosses
 * its threshold, or is promoted once the last step below 100% passed.
 *
 * This module resolves the plan and holds the analysis (pure) and the controller loop; the
 * registry provides the side effects (weights, persistence, promotion, rollback) through a
 * {@linkcode CanaryHost}. The plan and state types are kept with the store (`store/canary_state.ts`).
 *
 * @module
 */
import { CanaryEvent } from "../core/lifecycle.ts";
import type { OutcomeMark, OutcomeStats, OutcomeWindow } from "../core/outcomes.ts";
import type { CanaryOptions, CanaryPlan, CanaryState } from "../store/canary_state.ts";
import { type Clock, systemClock } from "../base/clock.ts";

/** Defaults of {@linkcode CanaryOptions}. */
export const CANARY_DEFAULTS: CanaryPlan = {
  steps: [10, 25, 50, 100],
  stepMs: 60_000,
  maxErrorRatio: 0.05,
  maxLatencyMs: 1_000,
  minCalls: 20,
};

/** Times in a row a step may be held for too few calls before the release rolls back. */
export const MAX_HOLDS = 5;

/** How often a running step is checked for an early failure, ms (at most). */
const CHECK_MS = 1_000;

/**
 * Applies defaults and validates a phased release's options.
 *
 * @param options Options as given.
 * @returns The plan.
 * @throws {RangeError} For steps that are not strictly increasing within 1–100, or a bad number.
 */
export function resolveCanaryPlan(options: CanaryOptions = {}): CanaryPlan {
  const plan: CanaryPlan = { ...CANARY_DEFAULTS, ...options };
  const { steps } = plan;
  if (steps.length === 0 || steps.length > 20) {
    throw new RangeError("Canary steps must list between 1 and 20 weights");
  }
  steps.forEach((w, i) => {
    if (!Number.isFinite(w) || w < 1 || w > 100 || (i > 0 && w <= steps[i - 1]!)) {
      throw new RangeError(
        "Canary steps must be strictly increasing weights from 1 to 100, e.g. [10, 25, 50, 100]",
      );
    }
  });
  const check = (name: keyof CanaryPlan, value: number, min: number, max: number) => {
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new RangeError(`Canary ${name} must be a number from ${min} to ${max}`);
    }
  };
  check("stepMs", plan.stepMs, 10, 86_400_000);
  check("maxErrorRatio", plan.maxErrorRatio, 0, 1);
  check("maxLatencyMs", plan.maxLatencyMs, 1, 600_000);
  check("minCalls", plan.minCalls, 0, 1_000_000);
  return { ...plan, steps: [...steps] };
}

/** The judgement of one step. */
export type StepVerdict =
  | { verdict: "pass" }
  | { verdict: "fail"; reason: string }
  | { verdict: "wait"; reason: string };

/**
 * Judges the new version's outcomes in a step.
 *
 * @param window Outcomes since the step began.
 * @param plan Thresholds.
 * @returns `fail` when a threshold is crossed, `wait` with fewer than `minCalls`, else `pass`.
 *
 * @example A failing step
 * ```ts
 * import { analyseStep, CANARY_DEFAULTS } from "./canary.ts";
 * const window = { calls: 40, errors: 10, errorRatio: 0.25, meanMs: 3, p99Ms: 9 };
 * console.log(analyseStep(window, CANARY_DEFAULTS).verdict); // "fail"
 * ```
 */
export function analyseStep(window: OutcomeWindow, plan: CanaryPlan): StepVerdict {
  if (window.calls < Math.max(1, plan.minCalls)) {
    return { verdict: "wait", reason: `${window.calls} calls, fewer than ${plan.minCalls}` };
  }
  if (window.errorRatio > plan.maxErrorRatio) {
    return {
      verdict: "fail",
      reason: `error ratio ${
        window.errorRatio.toFixed(3)
      } above ${plan.maxErrorRatio} (${window.errors} of ${window.calls} calls)`,
    };
  }
  if (window.p99Ms > plan.maxLatencyMs) {
    return {
      verdict: "fail",
      reason: `p99 latency ${
        window.p99Ms.toFixed(1)
      } ms above ${plan.maxLatencyMs} ms (${window.calls} calls)`,
    };
  }
  return { verdict: "pass" };
}

/** The side effects a {@linkcode CanaryRun} asks of the registry; each runs under its lock. */
export interface CanaryHost {
  /** Splits traffic `weight` : `100 - weight` and persists the state. */
  step(run: CanaryRun): Promise<void>;
  /** Makes the new version the active one. */
  promote(run: CanaryRun): Promise<void>;
  /** Sends all traffic back to the stable version and stops the new one. */
  rollBack(run: CanaryRun, reason: string): Promise<void>;
  /** The new version's outcome statistics. */
  outcomes(): OutcomeStats;
  /** Dispatches an event. */
  emit(event: CanaryEvent): void;
}

/** One phased release in progress: the controller loop. */
export class CanaryRun {
  /** Bundle id. */
  readonly id: string;
  /** Current state (also persisted by the host at each change). */
  state: CanaryState;
  /** Settles when the loop has ended (promoted, rolled back, aborted). */
  readonly done: Promise<void>;
  readonly #host: CanaryHost;
  readonly #clock: Clock;
  #aborted = false;
  #wake?: () => void;
  #step?: { stats: OutcomeStats; mark: OutcomeMark };

  /**
   * Creates the run and starts its loop.
   *
   * @param id Bundle id.
   * @param state Initial state (`status: "running"`).
   * @param host Side effects.
   * @param clock Time of the steps. @default {systemClock}
   */
  constructor(id: string, state: CanaryState, host: CanaryHost, clock: Clock = systemClock) {
    this.id = id;
    this.state = state;
    this.#host = host;
    this.#clock = clock;
    this.done = this.#loop().catch((error) => {
      if (this.#aborted) return;
      // A failing side effect must not leave traffic split without a controller.
      return this.#host.rollBack(this, `phased release failed: ${(error as Error).message}`);
    }).catch(() => {});
  }

  /** Outcomes of the new version in the running step so far. */
  get live(): OutcomeWindow | undefined {
    return this.#step && this.#step.stats.since(this.#step.mark);
  }

  /** Whether the run was aborted (by an operator action or the engine closing). */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Stops the loop without touching traffic. */
  abort(): void {
    this.#aborted = true;
    this.#wake?.();
  }

  /**
   * Records a state change (the host persists it).
   *
   * @param change Fields to change.
   */
  update(change: Partial<CanaryState>): void {
    this.state = { ...this.state, ...change, updatedAt: new Date(this.#clock.now()).toISOString() };
  }

  /**
   * Dispatches an event about this run.
   *
   * @param phase What happened.
   * @param reason Why (rollback, abort).
   */
  emit(phase: CanaryEvent["phase"], reason?: string): void {
    const init: ConstructorParameters<typeof CanaryEvent>[0] = {
      bundle: this.id,
      version: this.state.version,
      from: this.state.from,
      phase,
      weight: this.state.weight,
    };
    if (reason !== undefined) init.reason = reason;
    if (this.state.analysis) init.analysis = this.state.analysis;
    this.#host.emit(new CanaryEvent(init));
  }

  async #loop(): Promise<void> {
    const { steps, stepMs } = this.state;
    for (let i = this.state.step; i < steps.length; i++) {
      const weight = steps[i]!;
      if (weight >= 100) break;
      this.update({ step: i, weight });
      await this.#host.step(this);
      if (this.#aborted) return;
      this.emit("step");
      const stats = this.#host.outcomes();
      const mark = stats.mark();
      this.#step = { stats, mark };
      const clock = this.#clock;
      let end = clock.now() + stepMs;
      let holds = 0;
      for (;;) {
        await this.#sleep(Math.min(CHECK_MS, Math.max(0, end - clock.now())));
        if (this.#aborted) return;
        const window = stats.since(mark);
        const verdict = analyseStep(window, this.state);
        if (verdict.verdict === "fail") {
          this.update({ analysis: window });
          return await this.#host.rollBack(this, verdict.reason);
        }
        if (clock.now() < end) continue;
        if (verdict.verdict === "pass") {
          this.update({ analysis: window });
          break;
        }
        if (++holds >= MAX_HOLDS) {
          this.update({ analysis: window });
          return await this.#host.rollBack(this, `inconclusive: ${verdict.reason}`);
        }
        end += stepMs;
      }
    }
    if (!this.#aborted) await this.#host.promote(this);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const clock = this.#clock;
      const timer = clock.setTimeout(done, ms);
      function done() {
        clock.clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
