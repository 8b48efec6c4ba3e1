/**
 * {@linkcode testBundle}: one bundle released into a real engine in a temporary data folder, with
 * typed calls to its services and requests to its fetch handler.
 *
 * @module
 */
import type { CallOptions as EngineCallOptions, Engine, EngineOptions } from "../engine.ts";
import type { BundleDefinition, IsolationTier, ServiceObject } from "../sdk/types.ts";
import { startTempEngine, toRequest } from "./_temp_engine.ts";

/**
 * The services of a bundle definition type, service name → implementation. For a definition whose
 * services are not known (the default {@linkcode BundleDefinition}), any name and method.
 *
 * @typeParam D The bundle definition type, e.g. `typeof import("./mod.ts").default`.
 *
 * @example The services of a definition
 * ```ts
 * import type { BundleServices } from "@bundlehost/sdk/testing";
 *
 * const hello = { services: { Hello: { greet: (input: { name: string }) => `Hi ${input.name}` } } };
 * const greet: BundleServices<typeof hello>["Hello"]["greet"] = (input) => input.name;
 * ```
 */
export type BundleServices<D> = D extends { services?: infer S }
  ? string extends keyof NonNullable<S> ? Record<string, ServiceObject> : NonNullable<S>
  : Record<string, ServiceObject>;

/**
 * The arguments of {@linkcode TestBundle.call} after the service and method names: the method's
 * input (optional when the method declares none) and call options.
 *
 * @typeParam F The method's type.
 *
 * @example Arguments of a method that takes a name
 * ```ts
 * import type { CallArgs } from "@bundlehost/sdk/testing";
 *
 * const args: CallArgs<(input: { name: string }) => string> = [{ name: "Ada" }];
 * ```
 */
export type CallArgs<F> = F extends (input: infer I, ...rest: never[]) => unknown
  ? unknown extends I ? [input?: unknown, options?: EngineCallOptions]
  : [input: I, options?: EngineCallOptions]
  : [input?: unknown, options?: EngineCallOptions];

/**
 * What {@linkcode TestBundle.call} resolves to: the method's result, awaited.
 *
 * @typeParam F The method's type.
 *
 * @example The result of an async method
 * ```ts
 * import type { CallResult } from "@bundlehost/sdk/testing";
 *
 * const result: CallResult<() => Promise<number>> = 42;
 * ```
 */
export type CallResult<F> = F extends (...args: never[]) => infer O ? Awaited<O> : unknown;

/**
 * Options for {@linkcode testBundle}.
 *
 * @example The worker tier with a short call timeout
 * ```ts
 * import { testBundle, type TestBundleOptions } from "@bundlehost/sdk/testing";
 *
 * const options: TestBundleOptions = { tier: "worker", engine: { callTimeoutMs: 2_000 } };
 * await using hello = await testBundle("./bundles/hello", options);
 * ```
 */
export interface TestBundleOptions {
  /**
   * Isolation tier the bundle runs in. `"process"` is the tier production gives a bundle the
   * operator does not trust; `"worker"` starts faster. @default {"process"}
   */
  tier?: IsolationTier;
  /** Engine options (timeouts, policy, plugins); the data folder is always a temporary one. */
  engine?: Omit<EngineOptions, "dataDir" | "isolation">;
}

/**
 * A bundle released into a running test engine. `await using` closes the engine and removes its
 * temporary folder.
 *
 * @typeParam D The bundle definition type, which types {@linkcode TestBundle.call}.
 *
 * @example Call a service and the fetch handler
 * ```ts
 * import { testBundle } from "@bundlehost/sdk/testing";
 *
 * await using hello = await testBundle("./bundles/hello");
 * console.log(await hello.call("HelloService", "greet", { name: "Ada" }));
 * console.log((await hello.fetch("/?name=Ada")).status); // 200
 * ```
 */
export interface TestBundle<D = BundleDefinition> extends AsyncDisposable {
  /** The engine the bundle runs in (for status, events, more releases). */
  readonly engine: Engine;
  /** Bundle id, from its `bundle.json`. */
  readonly id: string;
  /** Released version. */
  readonly version: string;
  /** The engine's temporary data folder. */
  readonly dataDir: string;
  /**
   * Calls one of the bundle's services through the engine's broker, as `POST /rpc` does.
   *
   * @param service Service name.
   * @param method Method name.
   * @param args The input, then call options (timeout, trace context, signal).
   * @returns The method's result.
   */
  call<S extends keyof BundleServices<D> & string, M extends keyof BundleServices<D>[S] & string>(
    service: S,
    method: M,
    ...args: CallArgs<BundleServices<D>[S][M]>
  ): Promise<CallResult<BundleServices<D>[S][M]>>;
  /**
   * Sends a request to the bundle's fetch handler, as `/b/<id>/…` does; the bundle sees the path
   * given here.
   *
   * @param input Path such as `/items?page=2`, or a request.
   * @param init Request options when `input` is a path.
   * @returns The bundle's response.
   */
  fetch(input: string | Request, init?: RequestInit): Promise<Response>;
  /** Closes the engine and removes the temporary folder; a second call does nothing. */
  close(): Promise<void>;
}

/**
 * Releases the bundle in `dir` into a new engine with a temporary data folder (real sandbox, real
 * Deno KV) and waits until it is ACTIVE. The test needs the permissions the engine needs: read and
 * write, run `deno`, and env.
 *
 * @typeParam D The bundle definition type, e.g. `typeof import("./mod.ts").default`, for typed
 * calls; without it, any service and method may be called and results are `unknown`.
 * @param dir The bundle folder (with `bundle.json`).
 * @param options Isolation tier and engine options.
 * @returns The released bundle.
 * @throws {ManifestError} For a bad `bundle.json`.
 * @throws {ReleaseRefusedError} When the engine refuses the bundle's files or module graph.
 * @throws {BundleCallError} When the bundle's `onStart` hook throws (the engine is closed and the
 * folder removed).
 *
 * @example Test a bundle with typed calls
 * ```ts
 * import { testBundle } from "@bundlehost/sdk/testing";
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * const counter = defineBundle({ services: { Counter: { add: (input: { n: number }) => input.n + 1 } } });
 * await using t = await testBundle<typeof counter>("./bundles/counter", { tier: "worker" });
 * const next: number = await t.call("Counter", "add", { n: 1 });
 * ```
 */
export async function testBundle<D = BundleDefinition>(
  dir: string,
  options: TestBundleOptions = {},
): Promise<TestBundle<D>> {
  const temp = await startTempEngine(options.engine ?? {}, options.tier ?? "process");
  const { engine } = temp;
  try {
    const released = await engine.registry.release({ path: dir });
    const { id, version } = released;
    const call = (service: string, method: string, input?: unknown, opts?: EngineCallOptions) =>
      engine.call(service, method, input, opts);
    return {
      engine,
      id,
      version,
      dataDir: engine.dataDir,
      call: call as TestBundle<D>["call"],
      fetch: (input, init) => engine.fetchBundle(id, toRequest(input, init)),
      close: temp.close,
      [Symbol.asyncDispose]: temp.close,
    };
  } catch (error) {
    await temp.close();
    throw error;
  }
}
