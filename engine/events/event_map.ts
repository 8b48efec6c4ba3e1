/**
 * Event maps: a declarative chain of service calls run for each event of a topic, each step's
 * output becoming the next step's input (the event payload for the first step). Every call goes
 * through the broker, so routing, `degradeTo` degradation and circuit breaking apply to each step.
 *
 * Error policies, per step:
 * - `stop` (default): the chain ends and the delivery fails; it is retried from this step (the
 *   input of each step is checkpointed durably) and dead-lettered after its attempts.
 * - `skip`: the failure is recorded; the next step gets this step's input.
 * - `degrade`: the step is called with the mock-on-failure route (a bundle marked `mock` serves
 *   when the bundle and its `degradeTo` chain fail); if that fails too, the step's `fallback`
 *   call (when declared) gets the same input; if nothing serves, the next step gets this step's
 *   input. A `degrade` step never stops the chain.
 *
 * @module
 */
import { asBundlehostError, BundlehostError } from "../base/errors.ts";
import type { CallOutcome } from "../call/request.ts";
import type { RouteSpec } from "../sdk/types.ts";
import { splitHandler } from "../manifest/events_schema.ts";
import type { EventMapStep } from "../manifest/events_schema.ts";

/** How one step ended. */
export interface StepResult {
  /** `Service.method` of the step (or of its fallback, when that served). */
  call: string;
  /** `ok`; `degraded` (a fallback, a mock or nothing served a `degrade` step); `skipped`. */
  status: "ok" | "degraded" | "skipped";
  /** `id@version` that served. */
  bundle?: string;
  /** Why it degraded (the broker's reason, `"fallback"`, or `"unserved"`). */
  degraded?: string;
  /** The failure, for `skipped` and unserved `degraded` steps. */
  error?: string;
}

/** The outcome of a whole chain. */
export interface MapRun {
  /** The last step's output (or the input passed through skipped steps). */
  output: unknown;
  /** One result per step that ran in this attempt. */
  steps: StepResult[];
}

/** What {@linkcode runEventMap} needs. */
export interface MapRunOptions {
  /** Calls a service through the broker. */
  invoke(service: string, method: string, input: unknown, route?: RouteSpec): Promise<CallOutcome>;
  /** Resume here: step index and its input (from a checkpoint). */
  start?: { step: number; input: unknown };
  /** Saves progress after a step: the next step's index and input. */
  checkpoint?(step: number, input: unknown): Promise<void>;
}

/** A `stop` step failed: the chain ended there. */
export class EventMapStepError extends BundlehostError {
  /** Index of the failed step. */
  readonly step: number;
  /** `Service.method` of the failed step. */
  readonly call: string;

  /**
   * Creates the error.
   *
   * @param step Index of the failed step.
   * @param call `Service.method` of the step.
   * @param cause The step's failure.
   */
  constructor(step: number, call: string, cause: unknown) {
    const error = asBundlehostError(cause);
    super(error.code, `Event map step ${step} (${call}) failed: ${error.message}`, { cause });
    this.step = step;
    this.call = call;
  }

  /** Error class name. */
  override get name(): string {
    return "EventMapStepError";
  }
}

const message = (error: unknown) => asBundlehostError(error).message;

/**
 * Runs an event map's steps.
 *
 * @param steps The map's steps.
 * @param input The event payload (input of step 0).
 * @param options Invocation, resume point, checkpointing.
 * @returns The chain's output and each step's result.
 * @throws {EventMapStepError} When a `stop` step fails.
 *
 * @example Run a two-step chain with a stub broker
 * ```ts
 * import { runEventMap } from "./event_map.ts";
 * const run = await runEventMap(
 *   [{ call: "A.double", onError: "stop" }, { call: "B.inc", onError: "skip" }],
 *   2,
 *   {
 *     invoke: (_s, method, input) =>
 *       Promise.resolve({ result: method === "double" ? Number(input) * 2 : Number(input) + 1, bundle: "x@1.0.0" }),
 *   },
 * );
 * console.log(run.output); // 5
 * ```
 */
export async function runEventMap(
  steps: readonly EventMapStep[],
  input: unknown,
  options: MapRunOptions,
): Promise<MapRun> {
  const results: StepResult[] = [];
  let value = options.start ? options.start.input : input;
  for (let i = options.start?.step ?? 0; i < steps.length; i++) {
    const step = steps[i]!;
    const { service, method } = splitHandler(step.call);
    const degrade = step.onError === "degrade";
    try {
      const outcome = await options.invoke(
        service,
        method,
        value,
        degrade ? { mock: "fail" } : undefined,
      );
      value = outcome.result;
      results.push(
        outcome.degraded === undefined
          ? { call: step.call, status: "ok", bundle: outcome.bundle }
          : {
            call: step.call,
            status: "degraded",
            bundle: outcome.bundle,
            degraded: outcome.degraded,
          },
      );
    } catch (error) {
      if (step.onError === "stop") throw new EventMapStepError(i, step.call, error);
      let failure = error;
      let served = false;
      if (degrade && step.fallback !== undefined) {
        const fallback = splitHandler(step.fallback);
        try {
          const outcome = await options.invoke(fallback.service, fallback.method, value);
          value = outcome.result;
          results.push({
            call: step.fallback,
            status: "degraded",
            bundle: outcome.bundle,
            degraded: "fallback",
          });
          served = true;
        } catch (fallbackError) {
          failure = fallbackError;
        }
      }
      if (!served) {
        results.push(
          degrade
            ? { call: step.call, status: "degraded", degraded: "unserved", error: message(failure) }
            : { call: step.call, status: "skipped", error: message(failure) },
        );
      }
    }
    if (i + 1 < steps.length) await options.checkpoint?.(i + 1, value);
  }
  return { output: value, steps: results };
}
