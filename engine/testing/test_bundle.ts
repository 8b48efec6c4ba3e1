/**
 * {@linkcode testBundle}: one bundle released into a real engine in a temporary data folder, with
 * typed calls to its services and requests to its fetch handler, mocked services, captured logs
 * and publishes, and an event clock the test can move.
 *
 * @module
 */
import { ManualClock, systemClock } from "../base/clock.ts";
import type { CallOptions as EngineCallOptions, Engine, EngineOptions } from "../engine.ts";
import type { ReleaseResult } from "../release/registry.ts";
import type { BundleDefinition, IsolationTier, ServiceObject } from "../sdk/types.ts";
import { startTempEngine, toRequest } from "./_temp_engine.ts";
import { capture, type CapturedLog, type PublishedEvent } from "./capture.ts";
import { advance, publishAndWait, type PublishReport, settle } from "./event_driver.ts";
import { type MockCall, mockPlugin, type ServiceMocks } from "./mocks.ts";

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
  /**
   * Services answered by the test's functions instead of a bundle: every call to them (from the
   * bundle's `ctx.broker`, an event map step, or {@linkcode TestBundle.call}) runs the mock in the
   * test's process and is recorded ({@linkcode TestBundle.mockCalls}). A throw fails the call as a
   * bundle's throw would (`BundleCallError`, code `BUNDLE_ERROR`); a thrown engine error (e.g. a
   * `NotFoundError`) is passed on as it is. @default {{}}
   */
  mocks?: ServiceMocks;
  /** More bundle folders to release first, beside the one under test (real dependencies). @default {[]} */
  with?: string[];
  /**
   * The event clock: `"manual"` (a {@linkcode ManualClock} at the current time), or your own
   * `ManualClock` (to start at a chosen time) drives schedules, retry backoff, event rate limits
   * and dead-letter expiry through {@linkcode TestBundle.advance}. It does not drive call
   * timeouts, heartbeats or scaling (real time), nor `Date.now()` and timers inside the bundle's
   * sandbox. @default {"system"}
   */
  clock?: "system" | "manual" | ManualClock;
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
  /** Log records every bundle wrote (`console.*`, `ctx.log`) since the engine started, in order. */
  readonly logs: readonly CapturedLog[];
  /** Events bundles published with `ctx.events.publish`, in order (not the test's own). */
  readonly published: readonly PublishedEvent[];
  /**
   * The calls mocked services received, in order.
   *
   * @param service Only this service's.
   * @param method Only this method's.
   * @returns The calls, each with its input and, once settled, its result or error.
   */
  mockCalls(service?: string, method?: string): MockCall[];
  /**
   * Releases one more bundle folder into the engine (a dependency, or a new version).
   *
   * @param dir Bundle folder.
   * @returns What was released.
   */
  release(dir: string): Promise<ReleaseResult>;
  /**
   * Publishes an event as `POST /events` does and waits until the first attempt of each of its
   * deliveries (the bundles' `subscribe` handlers and event maps) has ended.
   *
   * @param topic Topic.
   * @param payload JSON-compatible payload.
   * @returns The event id and how each delivery's first attempt ended.
   */
  publish(topic: string, payload?: unknown): Promise<PublishReport>;
  /**
   * The manual event clock.
   *
   * @throws {TypeError} When the bundle was not started with `clock: "manual"`.
   */
  readonly clock: ManualClock;
  /**
   * Moves the manual event clock by `ms`, firing the schedules and retries due on the way and
   * waiting for their deliveries at each step.
   *
   * @param ms How far, ms.
   * @throws {TypeError} When the bundle was not started with `clock: "manual"`.
   */
  advance(ms: number): Promise<void>;
  /**
   * Waits until the event bus has finished what is due now (on a manual clock, after a
   * `t.clock.advance` of your own).
   */
  settle(): Promise<void>;
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
 * @param options Isolation tier, engine options, mocked services, more bundles, event clock.
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
 *
 * @example Mock a service the bundle calls, read its logs and publishes, move the event clock
 * ```ts
 * import { testBundle } from "@bundlehost/sdk/testing";
 *
 * await using t = await testBundle("./bundles/shop", {
 *   mocks: { PriceService: { quote: (input: { sku: string }) => ({ sku: input.sku, price: 42 }) } },
 *   clock: "manual",
 * });
 * await t.call("ShopService", "buy", { sku: "tea" });
 * console.log(t.mockCalls("PriceService", "quote").length, t.logs, t.published);
 * await t.advance(5 * 60_000); // fires an every-5-minutes schedule once
 * ```
 */
export async function testBundle<D = BundleDefinition>(
  dir: string,
  options: TestBundleOptions = {},
): Promise<TestBundle<D>> {
  const { clock, engineOptions, calls } = testEngineOptions(options);
  const temp = await startTempEngine(engineOptions, options.tier ?? "process");
  const { engine } = temp;
  const captured = capture(engine);
  const close = () => {
    captured.stop();
    return temp.close();
  };
  const manual = () => {
    if (clock) return clock;
    throw new TypeError(`Bundle ${dir} runs on the system clock: pass { clock: "manual" }`);
  };
  try {
    const release = (path: string) => engine.registry.release({ path });
    for (const other of options.with ?? []) await release(other);
    const { id, version } = await release(dir);
    const call = (service: string, method: string, input?: unknown, opts?: EngineCallOptions) =>
      engine.call(service, method, input, opts);
    return {
      engine,
      id,
      version,
      dataDir: engine.dataDir,
      call: call as TestBundle<D>["call"],
      fetch: (input, init) => engine.fetchBundle(id, toRequest(input, init)),
      logs: captured.logs,
      published: captured.published,
      mockCalls: (service, method) =>
        calls.filter((c) =>
          (service === undefined || c.service === service) &&
          (method === undefined || c.method === method)
        ),
      release,
      publish: (topic, payload = null) => publishAndWait(engine, clock, topic, payload),
      get clock() {
        return manual();
      },
      advance: async (ms) => await advance(engine, manual(), ms),
      settle: () => settle(engine, clock),
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The engine options for a test: the caller's, the event clock and the mock plugin (innermost). */
function testEngineOptions(options: TestBundleOptions) {
  const given = options.engine ?? {};
  const asked = options.clock ?? "system";
  if (!(asked instanceof ManualClock) && asked !== "manual" && asked !== "system") {
    throw new TypeError(
      `Unknown clock ${JSON.stringify(asked)}: use "system", "manual" or a ManualClock`,
    );
  }
  const clock = asked instanceof ManualClock
    ? asked
    : asked === "manual"
    ? new ManualClock(systemClock.now())
    : undefined;
  const calls: MockCall[] = [];
  const engineOptions: Omit<EngineOptions, "dataDir" | "isolation"> = { ...given };
  // Scans and schedules are woken by what happens; a minute's poll keeps long advances cheap.
  if (clock) engineOptions.events = { pollMs: 60_000, ...given.events, clock };
  if (options.mocks) {
    const mocks = mockPlugin(options.mocks, calls, given.clock ?? systemClock);
    engineOptions.plugins = [...(given.plugins ?? []), mocks];
  }
  return { clock, engineOptions, calls };
}
