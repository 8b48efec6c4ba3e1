/**
 * Types that hold a provider to its published contract (the `types` file of its `bundle.json`):
 * {@linkcode Implements} turns the contract's service interfaces into the shape its
 * `defineBundle` must have, so a method whose input or output drifts from the contract fails
 * `deno check`. Type-only: nothing here exists at run time.
 *
 * @module
 */
import type { BundleContext, BundleDefinition } from "./types.ts";

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
