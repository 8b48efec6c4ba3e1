/**
 * The engine's event target (`engine.events`), typed by {@linkcode EngineEventMap}: lifecycle,
 * instance, log, breaker, scaling, canary and delivery events. The layers below dispatch on it as a
 * plain `EventTarget`; only the runtime and the facade know the whole map.
 *
 * @module
 */
import type {
  BreakerEvent,
  CanaryEvent,
  InstanceExitEvent,
  InstanceStartEvent,
  LifecycleEvent,
  LogEvent,
  ScaleEvent,
} from "../core/lifecycle.ts";
import type { DeliveryEvent, PublishEvent } from "../events/types.ts";
import type { OutboundFetchEvent, StorageEvent } from "../storage/storage_events.ts";

/**
 * Event types the engine dispatches, with their classes.
 *
 * @example A listener for any event type
 * ```ts
 * import { createEngine, type EngineEventMap } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * function count<K extends keyof EngineEventMap>(type: K): () => number {
 *   let seen = 0;
 *   engine.events.on(type, () => seen++);
 *   return () => seen;
 * }
 * const starts = count("instancestart");
 * ```
 */
export interface EngineEventMap {
  /** Lifecycle state changes. */
  statechange: LifecycleEvent;
  /** Instance exits. */
  instanceexit: InstanceExitEvent;
  /** Instance starts (cold or hot). */
  instancestart: InstanceStartEvent;
  /** Log records. */
  log: LogEvent;
  /** Circuit breaker state changes. */
  breakerchange: BreakerEvent;
  /** Desired instance count changes (autoscaling). */
  scale: ScaleEvent;
  /** Phased release progress. */
  canary: CanaryEvent;
  /** Event delivery attempts: delivered, to be retried, dead-lettered. */
  delivery: DeliveryEvent;
  /** Events published (committed with their deliveries). */
  publish: PublishEvent;
  /** `ctx.kv` and `ctx.cache` operations. */
  storage: StorageEvent;
  /** Outbound fetches of bundles. */
  outboundfetch: OutboundFetchEvent;
}

/**
 * The engine's event target, typed by {@linkcode EngineEventMap}.
 *
 * @example Listen once, then stop
 * ```ts
 * import { createEngine, type EngineEvents } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const events: EngineEvents = engine.events;
 * const onLog = () => console.log("first log record");
 * events.on("log", onLog, { once: true });
 * events.off("log", onLog);
 * ```
 */
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
