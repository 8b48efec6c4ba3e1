/**
 * What the observability plugin hears from the engine's events: lifecycle changes, instance starts
 * and exits, breaker changes and log records become metrics (`recorder.ts`, `storage_metrics.ts`)
 * and log lines (`logs.ts`); breaker states are also kept for the call spans (`tracing.ts`).
 *
 * @module
 */
import type { Engine } from "../../engine/engine.ts";
import type {
  BreakerEvent,
  InstanceExitEvent,
  InstanceStartEvent,
  LifecycleEvent,
  LogEvent,
} from "../../engine/core/lifecycle.ts";
import type { StorageMetrics } from "./storage_metrics.ts";
import {
  fromBreakerChange,
  fromInstanceExit,
  fromInstanceStart,
  fromLogEvent,
  fromStateChange,
  type LogSink,
} from "./logs.ts";
import type { BundlehostMetrics } from "./recorder.ts";

/** The plugin's listeners on one engine's events. */
export interface EngineListeners {
  /** Starts listening to an engine (the plugin's `setup`). */
  attach(engine: Engine): void;
  /** Stops listening (the plugin's `close`). */
  detach(engine: Engine): void;
}

/**
 * Makes the plugin's listeners.
 *
 * @param recorder The engine's metrics.
 * @param storage The storage metrics.
 * @param sink Where log lines go, if anywhere.
 * @param breakers Kept up to date: each bundle's breaker state.
 * @returns The listeners.
 */
export function engineListeners(
  recorder: BundlehostMetrics,
  storage: StorageMetrics,
  sink: LogSink | undefined,
  breakers: Map<string, string>,
): EngineListeners {
  const onLog = (event: LogEvent) => sink?.write(fromLogEvent(event));
  const onState = (event: LifecycleEvent) => {
    recorder.namesChanged();
    sink?.write(fromStateChange(event));
  };
  const onStart = (event: InstanceStartEvent) => {
    recorder.namesChanged();
    recorder.instanceStarted(event);
    sink?.write(fromInstanceStart(event));
  };
  const onExit = (event: InstanceExitEvent) => {
    recorder.instanceExited(event);
    sink?.write(fromInstanceExit(event));
  };
  const onBreaker = (event: BreakerEvent) => {
    breakers.set(event.bundle, event.to);
    recorder.breakerChanged(event);
    sink?.write(fromBreakerChange(event));
  };
  return {
    attach(engine) {
      recorder.attach(engine);
      engine.events.on("log", onLog);
      engine.events.on("statechange", onState);
      engine.events.on("instancestart", onStart);
      engine.events.on("instanceexit", onExit);
      engine.events.on("breakerchange", onBreaker);
      storage.attach(engine);
      engine.events.on("storage", storage.storage);
      engine.events.on("outboundfetch", storage.outbound);
    },
    detach(engine) {
      engine.events.off("log", onLog);
      engine.events.off("statechange", onState);
      engine.events.off("instancestart", onStart);
      engine.events.off("instanceexit", onExit);
      engine.events.off("breakerchange", onBreaker);
      engine.events.off("storage", storage.storage);
      engine.events.off("outboundfetch", storage.outbound);
      storage.attach(undefined);
      recorder.detach();
    },
  };
}
