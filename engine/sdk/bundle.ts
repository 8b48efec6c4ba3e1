/**
 * The bundle author's entry: {@linkcode defineBundle} and the types a bundle sees (its context,
 * the broker, events, hooks). It has no runtime imports, so a bundle that imports it loads this
 * file and the type file beside it, nothing of the engine.
 *
 * @example A bundle's entry module
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   services: {
 *     HelloService: {
 *       greet(input: { name: string }, ctx) {
 *         return { message: `Hello, ${input.name}`, instance: ctx.bundle.instanceId };
 *       },
 *     },
 *   },
 *   fetch: (request, ctx) => Response.json({ path: new URL(request.url).pathname, id: ctx.bundle.id }),
 *   hooks: { onStart(ctx) { ctx.log.info("started", ctx.bundle.instanceId); } },
 * });
 * ```
 *
 * @module
 */
import type { BundleDefinition } from "./types.ts";

export type {
  AnyServiceMethod,
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
  ServiceObject,
} from "./types.ts";
export type { Implements, ServiceImplementation } from "./contract.ts";

/**
 * Declares a bundle. It only adds types: the object is returned as it is, so a plain object of
 * the same shape works too and a bundle needs no import at all.
 *
 * In an object-literal service, every method's `ctx` is typed as {@linkcode BundleContext}
 * without an annotation, and so are `ctx` in `fetch` and in the hooks; the input types the author
 * writes, and the return types, are kept in the result's type.
 *
 * @typeParam D The definition's exact type.
 * @param definition Services, optional fetch handler, optional hooks.
 * @returns The same object.
 *
 * @example Declare a service with a start hook
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   services: {
 *     Clock: {
 *       now: (_input, ctx) => ({ at: Date.now(), instance: ctx.bundle.instanceId }),
 *     },
 *   },
 *   hooks: { onStart(ctx) { ctx.log.info("started", ctx.bundle.instanceId); } },
 * });
 * ```
 */
export function defineBundle<const D extends BundleDefinition>(definition: D): D {
  return definition;
}
