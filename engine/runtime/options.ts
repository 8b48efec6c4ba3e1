/**
 * The engine's scalar settings and their defaults, merged in one place.
 *
 * @module
 */
import { resolve } from "node:path";
import { type OperatorPolicy, parsePolicy, type PolicyInput } from "../manifest/policy.ts";
import type { IsolationTier } from "../sdk/types.ts";
import { type ChannelLimits, resolveChannelLimits } from "../sandbox/host/channel_limits.ts";
import { type Clock, systemClock } from "../base/clock.ts";
import { resolveStorageLimits, type StorageLimits } from "../storage/limits.ts";
import {
  type LogBufferOptions,
  type ResolvedLogBufferOptions,
  resolveLogBufferOptions,
} from "./log_buffer.ts";

/**
 * The engine's scalar settings (part of {@linkcode EngineOptions}); every field is optional.
 *
 * @example Shorter timeouts, every bundle in the process tier
 * ```ts
 * import { createEngine, type EngineSettingsOptions } from "@bundlehost/sdk";
 *
 * const settings: EngineSettingsOptions = { isolation: "process", callTimeoutMs: 5_000, drainMs: 1_000 };
 * await using engine = await createEngine(settings);
 * ```
 */
export interface EngineSettingsOptions {
  /** Folder for the engine's state (registry, releases, bundle data). @default {".bundlehost"} */
  dataDir?: string;
  /**
   * The operator policy: the most any bundle may be granted (permission kinds, merged over the
   * default per kind), which bundles may use the worker tier (`trusted`), service and topic grants,
   * and resource limits (README, "Operator policy"). Validated: an invalid one throws
   * `PolicyError`, as does one granting more than the engine's own permissions.
   * @default {{} (no bundle trusted, default limits)}
   */
  ceiling?: PolicyInput;
  /**
   * Force one isolation tier for every bundle, whatever its manifest or the policy's `trusted`
   * list says (`"worker"` trusts every bundle with the engine's memory).
   */
  isolation?: IsolationTier;
  /** Deno executable for `deno info` and the process tier. @default {"deno"} */
  denoCommand?: string;
  /**
   * Default call timeout, ms; at most the policy's `limits.maxTimeoutMs`.
   * @default {30000, or limits.maxTimeoutMs when that is lower}
   */
  callTimeoutMs?: number;
  /** Time allowed to load a bundle and run `onStart`, ms. @default {30000} */
  startTimeoutMs?: number;
  /** Time allowed for `onStop` and `onRefresh`, ms. @default {10000} */
  hookTimeoutMs?: number;
  /** How long stopping waits for calls in flight, ms. @default {5000} */
  drainMs?: number;
  /** Heartbeat period, ms. @default {2000} */
  heartbeatMs?: number;
  /** No heartbeat reply for this long → instance evicted, ms. @default {5000} */
  unresponsiveMs?: number;
  /** After a call times out, the instance must answer a probe within this long, ms. @default {1000} */
  probeMs?: number;
  /** Longest chain of bundle-to-bundle calls. @default {8} */
  maxHops?: number;
  /** Autoscaler period: concurrency is sampled and a scaling decision made this often, ms. @default {1000} */
  autoscaleTickMs?: number;
  /**
   * After traffic moves to another version (release, rollback, canary promotion), the version that
   * served before stays ACTIVE and warm (one instance, no traffic) this long, so a rollback to it
   * is only a traffic switch; then it is stopped. 0 stops it at once, ms. @default {300000}
   */
  rollbackWarmMs?: number;
  /** Largest HTTP request body forwarded to a bundle, bytes. @default {10485760} */
  maxBodyBytes?: number;
  /** Most WebSocket connections open at once to one bundle (all its versions). @default {256} */
  maxSocketsPerBundle?: number;
  /** Engine name in service URIs (`bundle://<name>/<service>/<version>/<method>`). @default {"local"} */
  name?: string;
  /**
   * What one sandbox may make the engine decode, per message and per second (a sandbox over a
   * per-second budget is killed); merged over {@linkcode DEFAULT_CHANNEL_LIMITS}.
   */
  channel?: Partial<ChannelLimits>;
  /**
   * Bounds of the recent log records kept per bundle and of their live followers
   * (`GET /admin/bundles/:id/logs`), merged over the defaults of {@linkcode LogBufferOptions}.
   */
  logs?: LogBufferOptions;
  /**
   * Per-bundle bounds of `ctx.kv` and `ctx.cache` (quota, keys, cache budget, requests at once),
   * merged over the defaults of {@linkcode StorageLimits} (README, "Storage").
   */
  storage?: Partial<StorageLimits>;
  /**
   * Where every engine part reads the time and arms its timers: call deadlines, throttles,
   * breakers, pools, autoscaling, phased releases, log budgets and the event bus (unless
   * `events.clock` names another). Tests pass a `ManualClock` started at `Date.now()`: sandboxes
   * enforce call deadlines on their own real clock (docs/architecture.md, "Time").
   * @default {systemClock}
   */
  clock?: Clock;
}

/** Settings with every default applied. */
export type ResolvedOptions =
  & Required<Omit<EngineSettingsOptions, "isolation" | "ceiling" | "channel" | "logs" | "storage">>
  & {
    isolation?: IsolationTier;
    ceiling: OperatorPolicy;
    channel: ChannelLimits;
    logs: ResolvedLogBufferOptions;
    storage: StorageLimits;
  };

/**
 * Applies the defaults, in one place.
 *
 * @param options Settings as given.
 * @returns Settings with defaults.
 * @throws {PolicyError} For an invalid operator policy.
 */
export function resolveOptions(options: EngineSettingsOptions): ResolvedOptions {
  const ceiling = parsePolicy(options.ceiling, "engine policy");
  // The operator's maximum bounds every timeout, the engine's own default included.
  const maxTimeoutMs = ceiling.limits.maxTimeoutMs;
  const resolved: ResolvedOptions = {
    dataDir: resolve(options.dataDir ?? ".bundlehost"),
    name: options.name ?? "local",
    ceiling,
    callTimeoutMs: options.callTimeoutMs ?? Math.min(30_000, maxTimeoutMs),
    denoCommand: options.denoCommand ?? "deno",
    startTimeoutMs: options.startTimeoutMs ?? 30_000,
    hookTimeoutMs: options.hookTimeoutMs ?? 10_000,
    drainMs: options.drainMs ?? 5_000,
    heartbeatMs: options.heartbeatMs ?? 2_000,
    unresponsiveMs: options.unresponsiveMs ?? 5_000,
    probeMs: options.probeMs ?? 1_000,
    autoscaleTickMs: options.autoscaleTickMs ?? 1_000,
    rollbackWarmMs: options.rollbackWarmMs ?? 300_000,
    maxHops: options.maxHops ?? 8,
    maxBodyBytes: options.maxBodyBytes ?? 10 * 1024 * 1024,
    maxSocketsPerBundle: options.maxSocketsPerBundle ?? 256,
    channel: resolveChannelLimits(options.channel),
    logs: resolveLogBufferOptions(options.logs),
    storage: resolveStorageLimits(options.storage),
    clock: options.clock ?? systemClock,
  };
  if (resolved.callTimeoutMs > maxTimeoutMs) {
    throw new RangeError(
      `Cannot set callTimeoutMs to ${resolved.callTimeoutMs}: it exceeds the policy's limits.maxTimeoutMs ${maxTimeoutMs}`,
    );
  }
  if (options.isolation) resolved.isolation = options.isolation;
  return resolved;
}
