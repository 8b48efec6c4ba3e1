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
import type { BundleContext, BundleDefinition } from "./types.ts";

export type {
  AnyServiceMethod,
  Broker,
  BundleContext,
  BundleDefinition,
  BundleEvents,
  BundleHooks,
  BundleInfo,
  BundleLogger,
  BundleSecrets,
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
export type {
  BundleCache,
  BundleKv,
  CacheSetOptions,
  KvEntryMaybe,
  KvKey,
  KvKeyPart,
  KvListOptions,
  KvListPage,
  KvSetOptions,
  KvSetResult,
} from "./types.ts";

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

/**
 * The implementation of one contract interface: each method takes the contract's input and the
 * {@linkcode BundleContext}, and returns the contract's output or a promise of it.
 *
 * @typeParam S A service interface, e.g. `{ greet(input: { name?: string }): { message: string } }`.
 *
 * @example Implement one service of a contract
 * ```ts
 * import type { ServiceImplementation } from "@bundlehost/sdk/bundle";
 *
 * interface HelloService {
 *   greet(input: { name?: string }): { message: string };
 * }
 * const hello: ServiceImplementation<HelloService> = {
 *   greet: (input, ctx) => ({ message: `Hello, ${input.name ?? "world"} from ${ctx.bundle.id}` }),
 * };
 * ```
 */
export type ServiceImplementation<S> = {
  [M in keyof S]: S[M] extends (input: infer I, ...rest: never[]) => infer O
    ? (input: I, ctx: BundleContext) => Awaited<O> | Promise<Awaited<O>>
    : never;
};

/**
 * A bundle definition that implements every service of a contract: pass it as `defineBundle`'s
 * type argument (or `satisfies` it). The contract's services and methods must all be there with
 * compatible inputs and outputs; `ctx` and the inputs need no annotation. Services outside the
 * contract may be added beside them.
 *
 * @typeParam C Service name → service interface, e.g. `{ HelloService: HelloService }`.
 *
 * @example A provider checked against its contract
 * ```ts
 * import { defineBundle, type Implements } from "@bundlehost/sdk/bundle";
 *
 * // In the provider's contract.ts, named by "types" in its bundle.json.
 * interface HelloService {
 *   greet(input: { name?: string }): { message: string };
 * }
 *
 * export default defineBundle<Implements<{ HelloService: HelloService }>>({
 *   services: {
 *     HelloService: {
 *       greet: (input, ctx) => ({ message: `Hello, ${input.name ?? "world"} (${ctx.bundle.id})` }),
 *     },
 *   },
 * });
 * ```
 */
export type Implements<C> = Omit<BundleDefinition, "services"> & {
  /** The contract's services, each implemented; other services may stand beside them. */
  services: { [K in keyof C]: ServiceImplementation<C[K]> } & { [service: string]: object };
};
