/**
 * Bundle lifecycle (OSGi states, DESIGN.md §4) and the engine's typed events.
 *
 * ```
 * INSTALLED → RESOLVED → STARTING → ACTIVE → STOPPING → RESOLVED → … → UNINSTALLED
 *                          └──(onStart fails)──→ RESOLVED
 * ```
 *
 * @module
 */
import { BundleStateError } from "./errors.ts";
import type { LifecycleState } from "./types.ts";

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

/** A bundle revision changed lifecycle state. Event type: `"statechange"`. */
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

/** An instance of a bundle ended. Event type: `"instanceexit"`. */
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

/** A log record from a bundle or the engine. Event type: `"log"`. */
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

/** Event types the engine dispatches, with their classes. */
export interface EngineEventMap {
  /** Lifecycle state changes. */
  statechange: LifecycleEvent;
  /** Instance exits. */
  instanceexit: InstanceExitEvent;
  /** Log records. */
  log: LogEvent;
}

/** The engine's event target, typed by {@linkcode EngineEventMap}. */
export class EngineEvents extends EventTarget {
  /**
   * Adds a typed listener.
   *
   * @param type Event type.
   * @param listener Listener.
   * @param options Listener options.
   */
  on<K extends keyof EngineEventMap>(
    type: K,
    listener: (event: EngineEventMap[K]) => void,
    options?: AddEventListenerOptions,
  ): void {
    this.addEventListener(type, listener as EventListener, options);
  }

  /**
   * Removes a typed listener.
   *
   * @param type Event type.
   * @param listener Listener.
   */
  off<K extends keyof EngineEventMap>(type: K, listener: (event: EngineEventMap[K]) => void): void {
    this.removeEventListener(type, listener as EventListener);
  }
}
