/**
 * What the composition root gives the bundle runtime (`runtime/bundle_runtime.ts`) and connects to
 * it later: its settings, events, clock and plugin chain at creation, the event layer once the bus
 * exists, and the settings service once the store is open.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { AdmittedCall, CallOutcome, CallRequest } from "../call/request.ts";
import type { LifecycleEvent } from "../core/lifecycle.ts";
import type { Revision } from "../core/revision.ts";
import type { Manifest } from "../manifest/manifest.ts";
import type { WireSettings } from "../sandbox/wire/protocol.ts";
import type { OutboundPublish } from "../sandbox/host/types.ts";
import type { EngineEvents } from "./engine_events.ts";
import type { ResolvedOptions } from "./options.ts";

/**
 * Where the runtime gets each bundle's settings (`ctx.config`, `ctx.secrets`); the composition
 * root connects the engine's settings service (`runtime/bundle_settings.ts`).
 */
export interface SettingsSource {
  /** The settings an instance of this version gets now. */
  snapshot(manifest: Manifest): WireSettings;
  /** The bundle was deleted: forget what is held for it. */
  forget(id: string): void;
}

/**
 * Settings without an operator: the manifest's defaults and no secret set.
 *
 * @param manifest The version's manifest.
 * @returns Its default config, and each declared secret unset.
 */
export function defaultSettings(manifest: Manifest): WireSettings {
  const secrets: Record<string, null> = {};
  for (const name of manifest.secrets) secrets[name] = null;
  return { config: structuredClone(manifest.config), secrets };
}

/** A call made at the edge of the runtime, with the chain of wrappers around the broker. */
export type CallChain = (call: AdmittedCall) => Promise<CallOutcome>;

/** What the composition root gives the runtime. */
export interface RuntimeInit {
  /** Resolved engine settings. */
  options: ResolvedOptions;
  /** Lifecycle, instance and log events. */
  events: EngineEvents;
  /** Time source for deadlines. */
  clock: Clock;
  /** Wraps the broker's call in the `wrapCall` plugins. @default {no wrappers} */
  wrapCall?(next: CallChain): CallChain;
  /** Runs after every lifecycle transition (plugin hooks); a failure reaches the caller. */
  afterTransition?(event: LifecycleEvent): Promise<void>;
}

/**
 * What the runtime asks of the event layer, connected once the event bus exists: publishing for
 * a bundle, and admitting a call a bundle makes (hop limit, detached budget). The composition root
 * (`createEngine`) connects them; a host embedding the runtime alone connects its own.
 */
export interface RuntimeLinks {
  /** Publishes an event for a bundle (`ctx.events.publish`). */
  publish(event: OutboundPublish, from: Revision): Promise<unknown>;
  /** Refuses a call a bundle makes beyond the hop limit or its detached budget. */
  admitNested(call: CallRequest, from: Revision): void;
}
