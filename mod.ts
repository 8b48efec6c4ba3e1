/**
 * Bundlehost for hosts: a resident Deno engine that hosts user bundles in sandboxed Web Workers or
 * child processes, releases them as services, routes calls between them, and scales them.
 *
 * This entry is for code that runs an engine: {@linkcode createEngine}, the plugin API
 * ({@linkcode definePlugin}), the errors, the stores a host may swap, and the clock. Bundle authors
 * import `@bundlehost/sdk/bundle`; tests import `@bundlehost/sdk/testing`; the HTTP surface is the
 * `@bundlehost/sdk/service-release` and `@bundlehost/sdk/observability` plugins.
 *
 * @example Serve an engine with a plugin of your own
 * ```ts
 * import { createEngine, definePlugin } from "@bundlehost/sdk";
 *
 * const audit = definePlugin({
 *   name: "audit",
 *   bundleStarted: (e) => console.log(`${e.id}@${e.version} started`),
 * });
 * const engine = await createEngine({ plugins: [audit] });
 * Deno.serve({ hostname: "127.0.0.1", port: 8000 }, engine.fetch);
 * ```
 *
 * @module
 */
import { defineBundle as defineBundleEntry } from "./engine/sdk/bundle.ts";
import type { BundleDefinition } from "./engine/sdk/types.ts";

// The engine.
export {
  type BundleStatus,
  type CallOptions as EngineCallOptions,
  createEngine,
  Engine,
  type EngineOptions,
  type EngineSettingsOptions,
  type EngineStatus,
  type FetchBundleOptions,
} from "./engine/engine.ts";
export type { ForwardTarget, HeaderListEdit } from "./engine/edge/http.ts";
export type { Exposed, InstanceStatus, RevisionStatus } from "./engine/core/revision_status.ts";
export type {
  BundleRouting,
  InstallOptions,
  RuntimePort,
  WrittenFile,
} from "./engine/core/port.ts";

// The one call type: what `engine.invoke` takes and `wrapCall` plugins see.
export type { AdmittedCall, CallKind, CallOutcome, CallRequest } from "./engine/call/request.ts";

// The plugin API.
export {
  type BundleEventInfo,
  definePlugin,
  type Plugin,
  PluginError,
  type PluginHooks,
} from "./engine/plugin/plugin.ts";

// Errors a host catches.
export {
  BundleCallError,
  BundlehostError,
  BundleStateError,
  CallCancelledError,
  CallTimeoutError,
  type ErrorCode,
  InstanceLostError,
  ManifestError,
  NotFoundError,
  OwnershipError,
  PolicyError,
  ReleaseRefusedError,
  type RemoteError,
  UnavailableError,
} from "./engine/base/errors.ts";
export { DataFolderInUseError } from "./engine/store/data_lock.ts";

// Storage a host may swap, and the clock.
export {
  type BundleRecord,
  KvStore,
  type KvStoreOptions,
  MemoryStore,
  type ReleaseRecord,
  type Store,
  type StoreChange,
} from "./engine/store/store.ts";
export type { OwnerStore } from "./engine/store/store.ts";
export {
  type DeadLetterPruning,
  type EventStore,
  MemoryEventStore,
} from "./engine/store/event_store.ts";
export { KvEventStore } from "./engine/store/kv_event_store.ts";
export type { ClusterOptions, ClusterStatus } from "./engine/cluster/cluster_mode.ts";
export type { EnginePresence } from "./engine/cluster/presence.ts";
export {
  type ConfigRevision,
  type ConfigStore,
  KvConfigStore,
  MemoryConfigStore,
  type SealedSecret,
} from "./engine/store/config_store.ts";
export { SecretBox, type SecretKeyOptions } from "./engine/store/secret_box.ts";
export {
  type BundleConfigView,
  BundleSettings,
  type SecretListing,
  type SettingsDefaults,
  type SettingsHost,
  type SettingsSnapshot,
} from "./engine/runtime/bundle_settings.ts";
export {
  NatsEventStore,
  type NatsEventStoreOptions,
  openNatsEventStore,
} from "./engine/cluster/nats_event_store.ts";
export {
  type Clock,
  ManualClock,
  systemClock,
  type TimerHandle,
  type TimerOptions,
} from "./engine/base/clock.ts";

// Types only: what the members above take and return (`engine.registry`, `engine.eventBus`,
// `engine.events`, status views, store records), exported so a host can name them.
export type {
  BreakerEvent,
  CanaryEvent,
  CanaryPhase,
  InstanceExitEvent,
  InstanceStartEvent,
  LifecycleEvent,
  LogEvent,
  ScaleEvent,
} from "./engine/core/lifecycle.ts";
export type { EngineEventMap, EngineEvents } from "./engine/runtime/engine_events.ts";
export type {
  FollowLogsOptions,
  LogBufferOptions,
  RecentLogsOptions,
} from "./engine/runtime/log_buffer.ts";
export type {
  BundleLogRecord,
  LogFollower,
  LogFollowItem,
  LogLevel,
  StoredLogRecord,
} from "./engine/runtime/log_follower.ts";
export type {
  CallCounts,
  CallHistoryOptions,
  MetricsHistory,
  MetricsSample,
} from "./engine/runtime/call_history.ts";
export type {
  Registry,
  RegistryEntry,
  ReleaseOptions,
  ReleaseResult,
  ReleaseSource,
  RestoreReport,
} from "./engine/release/registry.ts";
export type {
  CanaryOptions,
  CanaryPlan,
  CanaryState,
  CanaryStatusName,
} from "./engine/store/canary_state.ts";
export type { EventBus } from "./engine/events/bus.ts";
export type {
  BundlePublish,
  DeadLetterView,
  EventBusOptions,
  EventBusStats,
  PublishOptions,
} from "./engine/events/bus_types.ts";
export type {
  EventGuard,
  EventLimitOptions,
  GuardCounters,
  ResolvedLimits,
} from "./engine/events/guard.ts";
export type { DeliveryEvent, DeliveryOutcome, PublishEvent } from "./engine/events/types.ts";
export type {
  DeadLetterRecord,
  DeliveryKind,
  DeliveryRecord,
  EventRecord,
  EventStoreStats,
  MapProgress,
  ScheduleMark,
} from "./engine/store/event_records.ts";
export type { OperatorPolicy, PolicyInput, PolicyLimits } from "./engine/manifest/policy.ts";
export type { PermissionCeiling, PermissionKind } from "./engine/manifest/permissions.ts";
export type { BreakerStrategy, ManifestGovernance } from "./engine/manifest/manifest.ts";
export { manifestJsonSchema } from "./engine/manifest/json_schema.ts";
export type { ChannelLimits } from "./engine/sandbox/host/channel_limits.ts";
export { StorageLimitError, type StorageLimits } from "./engine/storage/limits.ts";
export type {
  OutboundFetchEvent,
  StorageEvent,
  StorageOutcome,
} from "./engine/storage/storage_events.ts";
export type { StorageUsage } from "./engine/storage/storage.ts";
export type { KvUsage } from "./engine/storage/kv_namespace.ts";
export type { CacheUsage } from "./engine/storage/memory_cache.ts";
export type { BreakerState } from "./engine/broker/breaker.ts";
export type { GovernanceStatus } from "./engine/broker/governance_table.ts";
export type { BundleRule, RulesDocument, ServiceRule } from "./engine/broker/rules.ts";
export type { WindowSnapshot } from "./engine/broker/window.ts";
export type { OutcomeMark, OutcomeStats, OutcomeWindow } from "./engine/core/outcomes.ts";
export type { ScaleDecision, ScaleMode, ScaleReason } from "./engine/scaling/autoscaler.ts";
export type { PoolCounts } from "./engine/scaling/pool_parts.ts";
export type { ScaleRecord, ScalingStatus } from "./engine/core/scaling.ts";

/**
 * Declares a bundle; the same function as `defineBundle` in `@bundlehost/sdk/bundle`, kept here
 * for one release so existing bundles and hosts keep compiling.
 *
 * @deprecated Import `defineBundle` from `@bundlehost/sdk/bundle`: that entry has no runtime
 * imports, so a bundle loads one file instead of the engine.
 *
 * @typeParam D The definition's exact type.
 * @param definition Services, optional fetch handler, optional hooks.
 * @returns The same object.
 *
 * @example Move to the bundle entry
 * ```ts
 * // Before: import { defineBundle } from "@bundlehost/sdk";
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({ services: { Clock: { now: () => Date.now() } } });
 * ```
 */
export function defineBundle<const D extends BundleDefinition>(definition: D): D {
  return defineBundleEntry(definition);
}
