/**
 * Bundle lifecycle (OSGi states, docs/architecture.md, "Broker semantics") and the engine's typed events.
 *
 * ```
 * INSTALLED → RESOLVED → STARTING → ACTIVE → STOPPING → RESOLVED → … → UNINSTALLED
 *                          └──(onStart fails)──→ RESOLVED
 * ```
 *
 * @module
 */
import type { ScaleMode, ScaleReason } from "../scaling/autoscaler.ts";
import { BundleStateError } from "../base/errors.ts";
import type { OutcomeWindow } from "./outcomes.ts";
import type { LifecycleState } from "../sdk/types.ts";

const TRANSITIONS: Record<LifecycleState, readonly LifecycleState[]> = {
  INSTALLED: ["RESOLVED", "UNINSTALLED"],
  RESOLVED: ["STARTING", "UNINSTALLED"],
  STARTING: ["ACTIVE", "RESOLVED"],
  ACTIVE: ["STOPPING"],
  STOPPING: ["RESOLVED"],
  UNINSTALLED: [],
};

/**
 * Whether the lifecycle allows going from `from` to `to`.
 *
 * @param from Current state.
 * @param to Wanted state.
 * @returns `true` when the transition is legal.
 */
export function canTransition(from: LifecycleState, to: LifecycleState): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * Throws unless the transition is legal.
 *
 * @param label `id@version`, for the message.
 * @param from Current state.
 * @param to Wanted state.
 * @throws {BundleStateError} When the transition is not allowed.
 */
export function assertTransition(label: string, from: LifecycleState, to: LifecycleState): void {
  if (!canTransition(from, to)) {
    throw new BundleStateError(`Cannot move bundle ${label} from ${from} to ${to}`);
  }
}

/**
 * A bundle revision changed lifecycle state. Event type: `"statechange"`.
 *
 * @example Log every state change
 * ```ts
 * import { createEngine, type LifecycleEvent } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * engine.events.on("statechange", (e: LifecycleEvent) => {
 *   console.log(`${e.bundle}@${e.version}: ${e.from} -> ${e.to}${e.error ? ` (${e.error})` : ""}`);
 * });
 * ```
 */
export class LifecycleEvent extends Event {
  /** Bundle id. */
  readonly bundle: string;
  /** Version. */
  readonly version: string;
  /** State before. */
  readonly from: LifecycleState;
  /** State after. */
  readonly to: LifecycleState;
  /** Failure that caused the change (e.g. `onStart` threw), if any. */
  readonly error: string | undefined;

  /**
   * Creates the event.
   *
   * @param bundle Bundle id.
   * @param version Version.
   * @param from State before.
   * @param to State after.
   * @param error Failure message, if any.
   */
  constructor(
    bundle: string,
    version: string,
    from: LifecycleState,
    to: LifecycleState,
    error?: string,
  ) {
    super("statechange");
    this.bundle = bundle;
    this.version = version;
    this.from = from;
    this.to = to;
    this.error = error;
  }
}

/**
 * An instance of a bundle ended. Event type: `"instanceexit"`.
 *
 * @example Alert on crashed instances
 * ```ts
 * import { createEngine, type InstanceExitEvent } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * engine.events.on("instanceexit", (e: InstanceExitEvent) => {
 *   if (!e.expected) console.error(`${e.bundle}@${e.version} ${e.instanceId} died: ${e.reason}`);
 * });
 * ```
 */
export class InstanceExitEvent extends Event {
  /** Bundle id. */
  readonly bundle: string;
  /** Version. */
  readonly version: string;
  /** Instance id. */
  readonly instanceId: string;
  /** Why it ended. */
  readonly reason: string;
  /** `true` when the engine ended it on purpose (stop, scale-in), `false` for a fault. */
  readonly expected: boolean;

  /**
   * Creates the event.
   *
   * @param bundle Bundle id.
   * @param version Version.
   * @param instanceId Instance id.
   * @param reason Why it ended.
   * @param expected Whether the engine ended it on purpose.
   */
  constructor(
    bundle: string,
    version: string,
    instanceId: string,
    reason: string,
    expected: boolean,
  ) {
    super("instanceexit");
    this.bundle = bundle;
    this.version = version;
    this.instanceId = instanceId;
    this.reason = reason;
    this.expected = expected;
  }
}

/**
 * An instance of a bundle became ready to serve. Event type: `"instancestart"`. A `"cold"` start
 * launched a sandbox, loaded the bundle and ran `onStart`; a `"hot"` start handed out a warm,
 * pre-initialised instance (`onRefresh`).
 *
 * @example Measure cold starts
 * ```ts
 * import { createEngine, type InstanceStartEvent } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * engine.events.on("instancestart", (e: InstanceStartEvent) => {
 *   if (e.kind === "cold") console.log(`${e.bundle} cold start in ${e.durationMs} ms`);
 * });
 * ```
 */
export class InstanceStartEvent extends Event {
  /** Bundle id. */
  readonly bundle: string;
  /** Version. */
  readonly version: string;
  /** Instance id. */
  readonly instanceId: string;
  /** `"cold"` (launched) or `"hot"` (warm instance handed out). */
  readonly kind: "cold" | "hot";
  /** Time from launch (or hand-out) to ready, ms. */
  readonly durationMs: number;

  /**
   * Creates the event.
   *
   * @param bundle Bundle id.
   * @param version Version.
   * @param instanceId Instance id.
   * @param kind Cold or hot start.
   * @param durationMs Time to ready, ms.
   */
  constructor(
    bundle: string,
    version: string,
    instanceId: string,
    kind: "cold" | "hot",
    durationMs: number,
  ) {
    super("instancestart");
    this.bundle = bundle;
    this.version = version;
    this.instanceId = instanceId;
    this.kind = kind;
    this.durationMs = durationMs;
  }
}

/**
 * A log record from a bundle or the engine. Event type: `"log"`.
 *
 * @example Forward bundle logs with their trace
 * ```ts
 * import { createEngine, type LogEvent } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * engine.events.on("log", (e: LogEvent) => {
 *   console.log(e.level, e.bundle ?? "engine", e.message, e.traceparent ?? "");
 * });
 * ```
 */
export class LogEvent extends Event {
  /** Bundle id, or `undefined` for engine records. */
  readonly bundle: string | undefined;
  /** Version. */
  readonly version: string | undefined;
  /** Instance id. */
  readonly instanceId: string | undefined;
  /** Level. */
  readonly level: "debug" | "info" | "warn" | "error";
  /** Text. */
  readonly message: string;
  /** Trace context of the call that logged it, if any. */
  readonly traceparent: string | undefined;

  /**
   * Creates the event.
   *
   * @param init Record fields.
   */
  constructor(init: {
    bundle?: string;
    version?: string;
    instanceId?: string;
    level: "debug" | "info" | "warn" | "error";
    message: string;
    traceparent?: string;
  }) {
    super("log");
    this.bundle = init.bundle;
    this.version = init.version;
    this.instanceId = init.instanceId;
    this.level = init.level;
    this.message = init.message;
    this.traceparent = init.traceparent;
  }
}

/**
 * A circuit breaker changed state. Event type: `"breakerchange"`.
 *
 * @example Watch circuit breakers
 * ```ts
 * import { type BreakerEvent, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * engine.events.on("breakerchange", (e: BreakerEvent) => console.log(`${e.bundle}: ${e.from} -> ${e.to}`));
 * ```
 */
export class BreakerEvent extends Event {
  /** Bundle id. */
  readonly bundle: string;
  /** State before. */
  readonly from: string;
  /** State after. */
  readonly to: string;

  /**
   * Creates the event.
   *
   * @param bundle Bundle id.
   * @param from State before.
   * @param to State after.
   */
  constructor(bundle: string, from: string, to: string) {
    super("breakerchange");
    this.bundle = bundle;
    this.from = from;
    this.to = to;
  }
}

/**
 * The desired number of serving instances of a revision changed (an autoscaler decision, a cold
 * start from zero, standby after a switch). Event type: `"scale"`.
 *
 * @example Follow the autoscaler
 * ```ts
 * import { createEngine, type ScaleEvent } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * engine.events.on("scale", (e: ScaleEvent) => {
 *   console.log(`${e.bundle}@${e.version}: ${e.from} -> ${e.to} (${e.reason}, ${e.mode})`);
 * });
 * ```
 */
export class ScaleEvent extends Event {
  /** Bundle id. */
  readonly bundle: string;
  /** Version. */
  readonly version: string;
  /** Serving instances wanted before. */
  readonly from: number;
  /** Serving instances wanted now. */
  readonly to: number;
  /** What drove the change. */
  readonly reason: ScaleReason;
  /** Autoscaler mode at the time. */
  readonly mode: ScaleMode;
  /** Calls in flight observed (average over the window that decided, or now), calls. */
  readonly concurrency: number;

  /**
   * Creates the event.
   *
   * @param init Event fields.
   */
  constructor(init: {
    bundle: string;
    version: string;
    from: number;
    to: number;
    reason: ScaleReason;
    mode: ScaleMode;
    concurrency: number;
  }) {
    super("scale");
    this.bundle = init.bundle;
    this.version = init.version;
    this.from = init.from;
    this.to = init.to;
    this.reason = init.reason;
    this.mode = init.mode;
    this.concurrency = init.concurrency;
  }
}

/**
 * Phases of a phased release (canary).
 *
 * @example React to the end of a phased release
 * ```ts
 * import type { CanaryPhase } from "@bundlehost/sdk";
 *
 * const finished = (phase: CanaryPhase): boolean => phase !== "step";
 * ```
 */
export type CanaryPhase = "step" | "promoted" | "rolled-back" | "aborted";

/**
 * A phased release moved: a traffic step, promotion, automatic rollback. Event type: `"canary"`.
 *
 * @example Follow a phased release
 * ```ts
 * import { type CanaryEvent, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * engine.events.on("canary", (e: CanaryEvent) => {
 *   console.log(`${e.bundle}@${e.version} ${e.phase} at ${e.weight}%`, e.reason ?? "");
 * });
 * ```
 */
export class CanaryEvent extends Event {
  /** Bundle id. */
  readonly bundle: string;
  /** The new version under analysis. */
  readonly version: string;
  /** The stable version it replaces. */
  readonly from: string;
  /** What happened. */
  readonly phase: CanaryPhase;
  /** The new version's traffic weight now, percent. */
  readonly weight: number;
  /** Why it was rolled back or aborted. */
  readonly reason: string | undefined;
  /** The new version's outcomes over the step that was analysed, if any. */
  readonly analysis: OutcomeWindow | undefined;

  /**
   * Creates the event.
   *
   * @param init Event fields.
   */
  constructor(init: {
    bundle: string;
    version: string;
    from: string;
    phase: CanaryPhase;
    weight: number;
    reason?: string;
    analysis?: OutcomeWindow;
  }) {
    super("canary");
    this.bundle = init.bundle;
    this.version = init.version;
    this.from = init.from;
    this.phase = init.phase;
    this.weight = init.weight;
    this.reason = init.reason;
    this.analysis = init.analysis;
  }
}
