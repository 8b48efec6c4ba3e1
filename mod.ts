/**
 * Bundlehost: a resident Deno engine that hosts user bundles in sandboxed Web Workers or child
 * processes, releases them as services, routes calls between them, and scales them.
 *
 * Bundle authors use {@linkcode defineBundle} and the context types; platform code uses
 * {@linkcode createEngine}.
 *
 * @example A bundle's entry module
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk";
 *
 * export default defineBundle({
 *   services: {
 *     HelloService: {
 *       greet(input: { name: string }, ctx) {
 *         return { message: `Hello, ${input.name}`, instance: ctx.bundle.instanceId };
 *       },
 *     },
 *   },
 * });
 * ```
 *
 * @module
 */
import type { BundleDefinition } from "./engine/sdk/types.ts";

export type {
  Broker,
  BundleContext,
  BundleDefinition,
  BundleEvents,
  BundleHooks,
  BundleInfo,
  BundleLogger,
  CallOptions,
  EventEnvelope,
  IsolationTier,
  LifecycleState,
  PublishResult,
  RouteSpec,
  RouteType,
  ServiceClient,
  ServiceMethod,
} from "./engine/sdk/types.ts";
export {
  type BundleStatus,
  createEngine,
  Engine,
  type EngineCallOptions,
  type EngineOptions,
  type EngineSettingsOptions,
  type EngineStatus,
} from "./engine/engine.ts";
export type { InstanceStatus, RevisionStatus } from "./engine/core/revision.ts";
export {
  BreakerEvent,
  CanaryEvent,
  type CanaryPhase,
  type EngineEventMap,
  EngineEvents,
  InstanceExitEvent,
  InstanceStartEvent,
  LifecycleEvent,
  LogEvent,
  ScaleEvent,
} from "./engine/core/lifecycle.ts";
export type { ScaleDecision, ScaleMode, ScaleReason } from "./engine/scaling/autoscaler.ts";
export type { ScaleRecord, ScalingStatus } from "./engine/scaling/scaling.ts";
export type { PoolCounts } from "./engine/scaling/pool.ts";
export type { OutcomeMark, OutcomeStats, OutcomeWindow } from "./engine/core/outcomes.ts";
export type {
  CanaryOptions,
  CanaryPlan,
  CanaryState,
  CanaryStatusName,
} from "./engine/release/canary.ts";
export * from "./engine/base/errors.ts";
export type {
  BreakerStrategy,
  Manifest,
  ManifestGovernance,
  ManifestPermissions,
  ManifestScaling,
} from "./engine/manifest/manifest.ts";
export type { PermissionCeiling, PermissionKind } from "./engine/manifest/permissions.ts";
export {
  type ChannelLimits,
  DEFAULT_CHANNEL_LIMITS,
} from "./engine/sandbox/host/channel_limits.ts";
export {
  DEFAULT_LIMITS,
  loadPolicyFile,
  type OperatorPolicy,
  parsePolicy,
  type PolicyInput,
  type PolicyLimits,
} from "./engine/manifest/policy.ts";
export type { OwnerStore } from "./engine/runtime/ownership.ts";
export {
  type BundleEventInfo,
  type CallInfo,
  type CallOutcome,
  definePlugin,
  type Plugin,
  PluginError,
  type PluginHooks,
} from "./engine/plugin/plugin.ts";
export {
  Registry,
  type RegistryEntry,
  type RegistryOptions,
  type ReleaseOptions,
  type ReleaseResult,
  type ReleaseSource,
  type RestoreReport,
} from "./engine/release/registry.ts";
export type { ReleaseLimits } from "./engine/release/files.ts";
export {
  type BundleRecord,
  KvStore,
  type KvStoreOptions,
  MemoryStore,
  type ReleaseRecord,
  type Store,
  type StoreChange,
} from "./engine/store/store.ts";
export type { DegradeReason, GovernanceStatus } from "./engine/broker/broker.ts";
export {
  backoffDelay,
  type BundlePublish,
  type DeadLetterView,
  EventBus,
  type EventBusHost,
  type EventBusOptions,
  type EventBusStats,
  MAX_FANOUT,
  type PublishOptions,
} from "./engine/events/bus.ts";
export {
  type Clock,
  ManualClock,
  systemClock,
  type TimerHandle,
  type TimerOptions,
} from "./engine/base/clock.ts";
export {
  EventGuard,
  type EventLimitOptions,
  type GuardCounters,
  type ResolvedLimits,
  resolveLimits,
} from "./engine/events/guard.ts";
export { KeyedBuckets, type RateSpec } from "./engine/events/rate_limit.ts";
export type { BusBundle, DeliveryHost } from "./engine/events/delivery.ts";
export type { BackoffOptions } from "./engine/events/dispatcher.ts";
export {
  EventMapStepError,
  type MapRun,
  type MapRunOptions,
  runEventMap,
  type StepResult,
} from "./engine/events/event_map.ts";
export {
  MAX_EVENT_PAYLOAD_BYTES,
  SCHEDULE_TOPIC,
  TOPIC_PATTERN,
} from "./engine/sandbox/wire/topic.ts";
export {
  type DeadLetterRecord,
  DeliveryEvent,
  type DeliveryKind,
  type DeliveryOutcome,
  type DeliveryRecord,
  type EventMapStep,
  type EventRecord,
  type EventStoreStats,
  type ManifestEventMap,
  type ManifestSchedule,
  type ManifestSubscription,
  type MapProgress,
  type MissedRunPolicy,
  type ScheduleMark,
  type StepErrorPolicy,
} from "./engine/events/types.ts";
export {
  type DeadLetterPruning,
  type EventStore,
  MemoryEventStore,
} from "./engine/store/event_store.ts";
export { KvEventStore } from "./engine/store/kv_event_store.ts";
export type { BreakerState } from "./engine/broker/breaker.ts";
export type { BundleRule, RulesDocument, ServiceRule } from "./engine/broker/rules.ts";
export type { WindowSnapshot } from "./engine/broker/window.ts";

/**
 * Declares a bundle. It only adds types: a plain object of the same shape works too, so a bundle
 * needs no import at all.
 *
 * @typeParam D The definition's exact type.
 * @param definition Services, optional fetch handler, optional hooks.
 * @returns The same object.
 *
 * @example Declare a service with a start hook
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk";
 *
 * export default defineBundle({
 *   services: { Clock: { now: () => Date.now() } },
 *   hooks: { onStart(ctx) { ctx.log.info("started", ctx.bundle.instanceId); } },
 * });
 * ```
 */
export function defineBundle<const D extends BundleDefinition>(definition: D): D {
  return definition;
}
