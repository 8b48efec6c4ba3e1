/**
 * Builds the {@linkcode InstancePool} of a starting revision: how its instances are spawned, and
 * how pool callbacks become engine events (instance starts and exits, log records, scale events).
 *
 * @module
 */
import type { CallRequest } from "../call/request.ts";
import { Instance, type OutboundPublish, type TransportFactory } from "../sandbox/host/instance.ts";
import type { InstanceOptions, StorageHandle } from "../sandbox/host/instance.ts";
import { InstanceExitEvent, InstanceStartEvent, LogEvent } from "./lifecycle.ts";
import type { Manifest } from "../manifest/manifest.ts";
import { assertContract } from "../manifest/contract.ts";
import { InstancePool } from "../scaling/pool.ts";
import type { RevisionScaling } from "./scaling.ts";
import type { IsolationTier } from "../sdk/types.ts";
import type { Clock } from "../base/clock.ts";
import type { WireSettings } from "../sandbox/wire/protocol.ts";
import { type BundleFolder, inAuthorTerms } from "../base/author_terms.ts";

/** Engine timings a pool uses. */
export interface PoolSettings {
  /** Time allowed to load a bundle and run `onStart`, ms. */
  startTimeoutMs: number;
  /** Time allowed for `onStop`/`onRefresh`/`onRetire`, ms. */
  hookTimeoutMs: number;
  /** Heartbeat period, ms. */
  heartbeatMs: number;
  /** Missed heartbeats for this long → unresponsive, ms. */
  unresponsiveMs: number;
  /** Liveness probe after a timed-out call, ms. */
  probeMs: number;
  /** Time of the pool and its instances. @default {systemClock} */
  clock?: Clock;
}

/** What {@linkcode createRevisionPool} needs. */
export interface RevisionPoolInit {
  /** Manifest of the revision. */
  manifest: Manifest;
  /** Isolation tier. */
  tier: IsolationTier;
  /** Persistent data folder. */
  dataDir: string;
  /** Entry module URL. */
  entryUrl: string;
  /** The bundle's folders: its errors and logs name the author's files. */
  folder: BundleFolder;
  /** Builds a transport for one instance. */
  transport(instanceName: string): TransportFactory;
  /** Engine timings. */
  settings: PoolSettings;
  /** Engine events. */
  events: EventTarget;
  /** The revision's scaling (scale events, hot starts). */
  scaling: RevisionScaling;
  /** Routes a call made by the bundle. */
  outbound(call: CallRequest): Promise<unknown>;
  /** Publishes an event for the bundle (`ctx.events`). */
  publish?(event: OutboundPublish): Promise<unknown>;
  /** The bundle's storage (`ctx.kv`, `ctx.cache`) and outbound-fetch reports. */
  storage?: StorageHandle;
  /** The pool gave up after a crash loop. */
  onCrashLoop(reason: string): void;
  /** An instance started (cold) and is ready. */
  onStarted?(instance: Instance): void;
  /** Whether the bundle's log budget admits one more line; dropped lines are counted there. */
  admitLog?(): boolean;
  /** Lines the sandbox dropped itself, to count with the bundle's other drops. */
  countDroppedLogs?(count: number): void;
  /** The bundle's settings now (`ctx.config`, `ctx.secrets`). */
  currentSettings?(): WireSettings;
}

/**
 * Creates the pool of a revision, bound to its scaling.
 *
 * @param init Manifest, tier, timings, events and callbacks.
 * @returns The pool (not opened).
 */
export function createRevisionPool(init: RevisionPoolInit): InstancePool {
  const { manifest, settings, events, scaling } = init;
  const { id, version } = manifest;
  const label = `${id}@${version}`;
  const pool: InstancePool = new InstancePool({
    label,
    min: manifest.scaling.minWorkers,
    max: manifest.scaling.maxWorkers,
    warm: manifest.scaling.warmWorkers,
    maxBuffered: manifest.scaling.maxBuffered,
    ...(manifest.scaling.maxCallsPerInstance === undefined
      ? {}
      : { maxCallsPerInstance: manifest.scaling.maxCallsPerInstance }),
    ...(manifest.scaling.maxLifetimeMs === undefined
      ? {}
      : { maxLifetimeMs: manifest.scaling.maxLifetimeMs }),
    startTimeoutMs: settings.startTimeoutMs,
    hookTimeoutMs: settings.hookTimeoutMs,
    ...(settings.clock ? { clock: settings.clock } : {}),
    spawn: () => spawnInstance(init, (reason, self) => pool.exited(self, reason)),
    checkReady: (ready) => assertContract(manifest, ready.services),
    onCrashLoop: (reason) => init.onCrashLoop(reason),
    onExit: (instance, reason, expected) => {
      events.dispatchEvent(new InstanceExitEvent(id, version, instance.id, reason, expected));
    },
    onStart: (instance, durationMs) => {
      init.onStarted?.(instance);
      events.dispatchEvent(new InstanceStartEvent(id, version, instance.id, "cold", durationMs));
    },
    onHandOut: (instance, durationMs, engineMs) => {
      scaling.handedOut(durationMs, engineMs);
      events.dispatchEvent(new InstanceStartEvent(id, version, instance.id, "hot", durationMs));
    },
    onScale: (from, to, reason) => scaling.scaled(from, to, reason),
  });
  scaling.attach(pool);
  return pool;
}

/**
 * Creates one instance of a revision (not started): its identity, entry, timings, and how its
 * logs, outbound calls and published events reach the engine.
 *
 * @param init Manifest, tier, timings, events and callbacks.
 * @param onExit Called once when the instance dies.
 * @returns The instance.
 */
export function spawnInstance(
  init: Omit<RevisionPoolInit, "scaling" | "onCrashLoop">,
  onExit: (reason: string, instance: Instance) => void,
): Instance {
  const { manifest, settings, events } = init;
  const { id, version } = manifest;
  const label = `${id}@${version}`;
  const instanceId = crypto.randomUUID();
  const instance: Instance = new Instance(init.transport(`${label}#${instanceId}`), {
    tier: init.tier,
    bundle: { id, version, instanceId, dataDir: init.dataDir },
    entry: init.entryUrl,
    folder: init.folder,
    heartbeatMs: settings.heartbeatMs,
    unresponsiveMs: settings.unresponsiveMs,
    probeMs: settings.probeMs,
    ...(settings.clock ? { clock: settings.clock } : {}),
    onLog: (level, message, record) => {
      // One budget per bundle id, shared by every instance of every version, so more
      // instances never buy more log volume.
      if (init.admitLog && !init.admitLog()) return;
      const log: ConstructorParameters<typeof LogEvent>[0] = {
        bundle: id,
        version,
        instanceId: instance.id,
        level,
        message: inAuthorTerms(message, init.folder, "author"),
      };
      if (record?.traceparent) log.traceparent = record.traceparent;
      events.dispatchEvent(new LogEvent(log));
    },
    ...(init.countDroppedLogs ? { onLogsDropped: init.countDroppedLogs } : {}),
    onOutboundCall: (call) => init.outbound(call),
    ...(init.publish ? { onPublish: init.publish } : {}),
    ...(init.currentSettings ? { currentSettings: init.currentSettings } : {}),
    ...(init.storage ? storageOptions(init.storage) : {}),
    onExit,
  });
  return instance;
}

/** How an instance reaches its bundle's storage. */
function storageOptions(
  storage: StorageHandle,
): Pick<InstanceOptions, "onStorage" | "onOutboundFetch"> {
  return {
    onStorage: (request) => storage.serve(request),
    onOutboundFetch: (report) => storage.report(report),
  };
}
