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
import type { BundleDefinition } from "./engine/types.ts";

export type {
  Broker,
  BundleContext,
  BundleDefinition,
  BundleHooks,
  BundleInfo,
  BundleLogger,
  CallOptions,
  IsolationTier,
  LifecycleState,
  RouteSpec,
  RouteType,
  ServiceClient,
  ServiceMethod,
} from "./engine/types.ts";
export {
  type BundleStatus,
  createEngine,
  Engine,
  type EngineCallOptions,
  type EngineOptions,
  type EngineStatus,
} from "./engine/engine.ts";
export type { InstanceStatus, RevisionStatus } from "./engine/revision.ts";
export {
  type EngineEventMap,
  EngineEvents,
  InstanceExitEvent,
  LifecycleEvent,
  LogEvent,
} from "./engine/lifecycle.ts";
export * from "./engine/errors.ts";
export type {
  BreakerStrategy,
  Manifest,
  ManifestGovernance,
  ManifestPermissions,
  ManifestScaling,
} from "./engine/manifest.ts";
export type { PermissionCeiling, PermissionKind } from "./engine/permissions.ts";

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
