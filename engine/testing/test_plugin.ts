/**
 * {@linkcode testPlugin}: a plugin running in a real engine in a temporary data folder, driven
 * through the engine's `fetch` (so its `fetch` and `wrapRequest` hooks run) and real calls (so its
 * `wrapCall` and lifecycle hooks run).
 *
 * @module
 */
import type { CallOptions as EngineCallOptions, Engine, EngineOptions } from "../engine.ts";
import type { Plugin } from "../plugin/plugin.ts";
import type { ReleaseResult } from "../release/registry.ts";
import type { IsolationTier } from "../sdk/types.ts";
import { startTempEngine, toRequest } from "./_temp_engine.ts";

/**
 * Options for {@linkcode testPlugin}.
 *
 * @example Release two bundles, with a plugin the one under test depends on
 * ```ts
 * import { definePlugin } from "@bundlehost/sdk";
 * import { type TestPluginOptions, testPlugin } from "@bundlehost/sdk/testing";
 *
 * const base = definePlugin({ name: "base" });
 * const options: TestPluginOptions = {
 *   before: [base],
 *   bundles: ["./bundles/hello", "./bundles/catalog"],
 * };
 * await using t = await testPlugin(definePlugin({ name: "mine", dependencies: ["base"] }), options);
 * ```
 */
export interface TestPluginOptions {
  /** Bundle folders to release once the engine is ready. @default {[]} */
  bundles?: string[];
  /** Plugins registered before the one under test (e.g. ones it depends on). @default {[]} */
  before?: Plugin<Engine>[];
  /** Isolation tier of every bundle. @default {"process"} */
  tier?: IsolationTier;
  /** Other engine options; the data folder is always a temporary one. */
  engine?: Omit<EngineOptions, "dataDir" | "isolation" | "plugins">;
}

/**
 * A plugin running in a test engine. `await using` closes the engine (running the plugin's `close`
 * hook) and removes the temporary folder.
 *
 * @example Drive a plugin's HTTP hook
 * ```ts
 * import { definePlugin } from "@bundlehost/sdk";
 * import { testPlugin } from "@bundlehost/sdk/testing";
 *
 * const ping = definePlugin({
 *   name: "ping",
 *   fetch: (request) => new URL(request.url).pathname === "/ping" ? new Response("pong") : undefined,
 * });
 * await using t = await testPlugin(ping);
 * console.log(await (await t.fetch("/ping")).text()); // "pong"
 * ```
 */
export interface TestPlugin extends AsyncDisposable {
  /** The engine the plugin runs in. */
  readonly engine: Engine;
  /** The engine's temporary data folder. */
  readonly dataDir: string;
  /** What releasing each of `options.bundles` returned, in order. */
  readonly released: readonly ReleaseResult[];
  /**
   * Serves a request through the engine's `fetch`: every plugin's `wrapRequest` and `fetch` hooks.
   *
   * @param input Path such as `/healthz`, or a request.
   * @param init Request options when `input` is a path.
   * @returns The response (404 when no plugin answered).
   */
  fetch(input: string | Request, init?: RequestInit): Promise<Response>;
  /**
   * Releases one more bundle folder (the plugin's `bundleInstalled` and `bundleStarted` run).
   *
   * @param dir Bundle folder.
   * @returns What was released.
   */
  release(dir: string): Promise<ReleaseResult>;
  /**
   * Calls a service through the broker, so every plugin's `wrapCall` runs around it.
   *
   * @param service Service name.
   * @param method Method name.
   * @param input Input value.
   * @param options Timeout, trace context, signal.
   * @returns The method's result.
   */
  call(
    service: string,
    method: string,
    input?: unknown,
    options?: EngineCallOptions,
  ): Promise<unknown>;
  /** Closes the engine and removes the temporary folder; a second call does nothing. */
  close(): Promise<void>;
}

/**
 * Starts a real engine in a temporary data folder with `plugin` registered (after
 * `options.before`), then releases `options.bundles`.
 *
 * @param plugin The plugin under test.
 * @param options Bundles to release, other plugins, tier, engine options.
 * @returns The running plugin.
 * @throws {PluginError} When one of the plugin's start hooks (`setup`, `ready`) fails.
 *
 * @example Check that a plugin sees every call
 * ```ts
 * import { definePlugin } from "@bundlehost/sdk";
 * import { testPlugin } from "@bundlehost/sdk/testing";
 *
 * const seen: string[] = [];
 * const audit = definePlugin({
 *   name: "audit",
 *   wrapCall: (call, next) => {
 *     seen.push(`${call.service}.${call.method}`);
 *     return next(call);
 *   },
 * });
 * await using t = await testPlugin(audit, { bundles: ["./bundles/hello"], tier: "worker" });
 * await t.call("HelloService", "greet", { name: "Ada" });
 * console.log(seen); // ["HelloService.greet"]
 * ```
 */
export async function testPlugin(
  plugin: Plugin<Engine>,
  options: TestPluginOptions = {},
): Promise<TestPlugin> {
  const temp = await startTempEngine(
    { ...options.engine, plugins: [...(options.before ?? []), plugin] },
    options.tier ?? "process",
  );
  const { engine } = temp;
  const release = (dir: string) => engine.registry.release({ path: dir });
  try {
    const released: ReleaseResult[] = [];
    for (const dir of options.bundles ?? []) released.push(await release(dir));
    return {
      engine,
      dataDir: engine.dataDir,
      released,
      fetch: (input, init) => engine.fetch(toRequest(input, init)),
      release,
      call: (service, method, input, opts) => engine.call(service, method, input, opts),
      close: temp.close,
      [Symbol.asyncDispose]: temp.close,
    };
  } catch (error) {
    await temp.close();
    throw error;
  }
}
