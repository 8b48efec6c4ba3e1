/**
 * What a phased release (canary) is asked for and where it stands, as the registry store keeps it
 * in the bundle record. The controller that runs it is `release/canary.ts`; these types live here
 * because the store, a lower layer than release, persists them.
 *
 * @module
 */
import type { OutcomeWindow } from "../core/outcomes.ts";

/**
 * Options of a phased release; every field is optional.
 *
 * @example A cautious phased release
 * ```ts
 * import { type CanaryOptions, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const options: CanaryOptions = { steps: [5, 25, 100], stepMs: 120_000, maxErrorRatio: 0.01, minCalls: 50 };
 * await engine.registry.canary("hello", "1.1.0", options);
 * ```
 */
export interface CanaryOptions {
  /**
   * Traffic weights of the new version, percent, strictly increasing, each in 1–100. The version is
   * promoted when a step of 100 is reached or after the last step passed.
   * @default {[10, 25, 50, 100]}
   */
  steps?: number[];
  /** How long each step lasts before it is judged, ms. @default {60000} */
  stepMs?: number;
  /** Roll back when the new version's error ratio in a step is above this (0–1). @default {0.05} */
  maxErrorRatio?: number;
  /** Roll back when the new version's p99 latency in a step is above this, ms. @default {1000} */
  maxLatencyMs?: number;
  /**
   * Calls the new version must complete in a step before the step is judged; a step with fewer is
   * held (up to `MAX_HOLDS` times, see `release/canary.ts`, then the release rolls back as
   * inconclusive).
   * @default {20}
   */
  minCalls?: number;
}

/**
 * A phased release's settings with defaults applied.
 *
 * @example The plan a phased release runs
 * ```ts
 * import { type CanaryPlan, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const state = await engine.registry.canary("hello", "1.1.0");
 * const plan: CanaryPlan = state; // every option, defaults applied
 * console.log(plan.steps, plan.stepMs);
 * ```
 */
export type CanaryPlan = Required<CanaryOptions>;

/**
 * Where a phased release stands.
 *
 * @example Is it still running?
 * ```ts
 * import type { CanaryStatusName } from "@bundlehost/sdk";
 *
 * const done = (status: CanaryStatusName): boolean => status !== "running";
 * ```
 */
export type CanaryStatusName = "running" | "promoted" | "rolled-back" | "aborted";

/**
 * The persisted state of a phased release (in the bundle record).
 *
 * @example Where a phased release stands
 * ```ts
 * import { type CanaryState, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const state: CanaryState | undefined = (await engine.registry.get("hello")).record.canary;
 * if (state) console.log(`${state.version}: ${state.status} at ${state.weight}%`, state.reason ?? "");
 * ```
 */
export interface CanaryState extends CanaryPlan {
  /** The new version. */
  version: string;
  /** The stable version it replaces. */
  from: string;
  /** Index of the current step in `steps`. */
  step: number;
  /** The new version's weight now, percent. */
  weight: number;
  /** Where it stands. */
  status: CanaryStatusName;
  /** Why it was rolled back or aborted. */
  reason?: string;
  /** Outcomes of the last judged step. */
  analysis?: OutcomeWindow;
  /** When it started, ISO time. */
  startedAt: string;
  /** Last change, ISO time. */
  updatedAt: string;
}
