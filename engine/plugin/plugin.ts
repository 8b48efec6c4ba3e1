/**
 * Plugins extend the engine. A plugin is a plain object (usually made by a factory such as
 * `serviceRelease(options)`) with a unique `name`, optional `version`, `dependencies` (names of
 * plugins it needs) and `engine` (a semver range of engine versions it supports), and hooks collected
 * in one typed interface, {@linkcode PluginHooks}.
 *
 * **Order.** Plugins run in three groups, `enforce: "pre"`, normal, `enforce: "post"`; inside a
 * group a plugin runs after the plugins it depends on, otherwise in registration order. A plugin may
 * depend on one in its own or an earlier group only.
 *
 * **Kinds.** Each hook's kind is stated on it: *sequential* hooks run one after another in plugin
 * order (reverse order for `close`); *parallel* hooks run together and are all awaited; *first*
 * hooks run in order until one returns a value; *wrap* hooks form an onion around the operation
 * (the first plugin is outermost) and must call `next()` to continue.
 *
 * **Failures.** Every hook failure is rethrown as a {@linkcode PluginError} naming the plugin and
 * the hook, with the original error as `cause`.
 *
 * @module
 */
import semver from "semver";
import { BundlehostError } from "../base/errors.ts";
import type { AdmittedCall, CallOutcome } from "../call/request.ts";

/**
 * A bundle lifecycle event as plugins see it.
 *
 * @example Report failed starts
 * ```ts
 * import { type BundleEventInfo, definePlugin } from "@bundlehost/sdk";
 *
 * const report = (e: BundleEventInfo) => {
 *   if (e.error) console.error(`${e.id}@${e.version}: ${e.error}`);
 * };
 * const plugin = definePlugin({ name: "report", bundleStopped: report });
 * ```
 */
export interface BundleEventInfo {
  /** Bundle id. */
  id: string;
  /** Version. */
  version: string;
  /** Failure that came with the change, if any (e.g. `onStart` threw). */
  error?: string;
}

/**
 * The hooks a plugin may implement. `E` is the engine type (kept generic so this module does not
 * depend on the engine class).
 *
 * @example Time every HTTP request
 * ```ts
 * import { definePlugin, type Engine, type PluginHooks } from "@bundlehost/sdk";
 *
 * const hooks: PluginHooks<Engine> = {
 *   async wrapRequest(request, next) {
 *     const started = performance.now();
 *     const response = await next(request);
 *     console.log(request.method, new URL(request.url).pathname, performance.now() - started);
 *     return response;
 *   },
 * };
 * const plugin = definePlugin({ name: "timing", ...hooks });
 * ```
 */
export interface PluginHooks<E> {
  /** *Sequential.* Runs while the engine is created, before bundles are restored. */
  setup?(engine: E): void | Promise<void>;
  /** *Sequential.* Runs once the engine has restored its bundles and is ready for traffic. */
  ready?(engine: E): void | Promise<void>;
  /**
   * *Sequential, reverse order.* Runs when the engine closes, after bundles stopped; every plugin's
   * `close` runs even when an earlier one failed.
   */
  close?(engine: E): void | Promise<void>;
  /** *Parallel.* A bundle version was installed (RESOLVED). */
  bundleInstalled?(event: BundleEventInfo): void | Promise<void>;
  /** *Parallel.* A bundle version became ACTIVE. */
  bundleStarted?(event: BundleEventInfo): void | Promise<void>;
  /** *Parallel.* A bundle version stopped (back to RESOLVED), possibly with an error. */
  bundleStopped?(event: BundleEventInfo): void | Promise<void>;
  /** *Parallel.* A bundle version was uninstalled. */
  bundleUninstalled?(event: BundleEventInfo): void | Promise<void>;
  /**
   * *First.* Answers an HTTP request; return `undefined` to let the next plugin try. The engine
   * answers 404 when no plugin does.
   */
  fetch?(request: Request): Response | undefined | Promise<Response | undefined>;
  /** *Wrap.* Around every HTTP request the engine serves (logging, auth, tracing). */
  wrapRequest?(request: Request, next: (request: Request) => Promise<Response>): Promise<Response>;
  /**
   * *Wrap.* Around every call, from outside (`/rpc`, `/b/`, event deliveries) or between bundles
   * (tracing, metrics). The call has entered the engine: its `deadline` and `hops` are set. A
   * wrapper may pass `next()` a copy with another `traceparent`.
   */
  wrapCall?(
    call: AdmittedCall,
    next: (call: AdmittedCall) => Promise<CallOutcome>,
  ): Promise<CallOutcome>;
}

/**
 * A plugin: identity, dependencies and hooks.
 *
 * @example A plugin that needs another and runs last
 * ```ts
 * import { createEngine, type Engine, type Plugin } from "@bundlehost/sdk";
 * import { serviceRelease } from "@bundlehost/sdk/service-release";
 *
 * const banner: Plugin<Engine> = {
 *   name: "banner",
 *   version: "1.0.0",
 *   dependencies: ["service-release"],
 *   engine: "^0.1",
 *   enforce: "post",
 *   fetch: (request) => new URL(request.url).pathname === "/" ? new Response("Bundlehost") : undefined,
 * };
 * await using engine = await createEngine({ plugins: [serviceRelease(), banner] });
 * ```
 */
export interface Plugin<E = unknown> extends PluginHooks<E> {
  /** Unique name, e.g. `"service-release"`. */
  name: string;
  /** Plugin version (free text, semver recommended). */
  version?: string;
  /** Names of plugins that must be present and run before this one. */
  dependencies?: string[];
  /** Semver range of engine versions the plugin supports, e.g. `"^0.1"`. */
  engine?: string;
  /** Group: `"pre"` plugins run first, `"post"` last. */
  enforce?: "pre" | "post";
}

/**
 * A hook failed; names the plugin and the hook, keeps the original error as `cause`.
 *
 * @example Which plugin failed to start
 * ```ts
 * import { createEngine, definePlugin, PluginError } from "@bundlehost/sdk";
 *
 * const broken = definePlugin({ name: "broken", setup: () => { throw new Error("no config"); } });
 * await createEngine({ plugins: [broken] }).catch((error) => {
 *   if (error instanceof PluginError) console.log(error.plugin, error.hook, error.cause);
 * });
 * ```
 */
export class PluginError extends BundlehostError {
  /** Plugin name. */
  readonly plugin: string;
  /** Hook name. */
  readonly hook: string;

  /**
   * Creates the error.
   *
   * @param plugin Plugin name.
   * @param hook Hook name.
   * @param cause The original error.
   */
  constructor(plugin: string, hook: string, cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    super("PLUGIN", `Plugin "${plugin}" failed in hook "${hook}": ${message}`, { cause });
    this.plugin = plugin;
    this.hook = hook;
  }

  /** Error class name. */
  override get name(): string {
    return "PluginError";
  }
}

const GROUP = { pre: 0, normal: 1, post: 2 } as const;
/** Errors that came out of a wrap hook's `next()`, so wrappers rethrowing them are not blamed. */
const PASSED_THROUGH = new WeakSet<object>();
const NAME = /^[a-z0-9@][a-z0-9@/._-]{0,127}$/;

/**
 * Marks an error a wrap hook raises as the operation's own, not the plugin's: a wrapper that
 * answers a call itself (the testing helper's mocks) fails it with the error a bundle would
 * have, instead of a {@linkcode PluginError}.
 *
 * @param error The error to pass on unchanged.
 * @returns The same error.
 */
export function ownFailure<T extends object>(error: T): T {
  PASSED_THROUGH.add(error);
  return error;
}

/**
 * Validates plugins and sorts them into run order.
 *
 * @param plugins Plugins in registration order.
 * @param engineVersion The engine's version.
 * @returns Plugins in run order.
 * @throws {PluginError} For a duplicate or malformed name, an unsupported engine version, a missing
 * or cyclic dependency, or a dependency that runs in a later group.
 */
export function orderPlugins<E>(plugins: readonly Plugin<E>[], engineVersion: string): Plugin<E>[] {
  const byName = new Map<string, { plugin: Plugin<E>; index: number }>();
  plugins.forEach((plugin, index) => {
    if (typeof plugin?.name !== "string" || !NAME.test(plugin.name)) {
      throw new PluginError(String(plugin?.name), "register", new TypeError("invalid plugin name"));
    }
    if (byName.has(plugin.name)) {
      throw new PluginError(plugin.name, "register", new TypeError("registered twice"));
    }
    if (plugin.engine !== undefined && !semver.satisfies(engineVersion, plugin.engine)) {
      throw new PluginError(
        plugin.name,
        "register",
        new RangeError(`needs engine ${plugin.engine}, this engine is ${engineVersion}`),
      );
    }
    byName.set(plugin.name, { plugin, index });
  });
  const group = (p: Plugin<E>) => GROUP[p.enforce ?? "normal"];
  for (const { plugin } of byName.values()) {
    for (const dep of plugin.dependencies ?? []) {
      const found = byName.get(dep);
      if (!found) {
        throw new PluginError(
          plugin.name,
          "register",
          new Error(`depends on missing plugin "${dep}"`),
        );
      }
      if (group(found.plugin) > group(plugin)) {
        const later = found.plugin.enforce ?? "normal";
        throw new PluginError(
          plugin.name,
          "register",
          new Error(`depends on "${dep}", which runs in a later group (${later})`),
        );
      }
    }
  }
  // Depth-first topological sort over plugins taken in (group, registration) order.
  const sorted: Plugin<E>[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (plugin: Plugin<E>, path: string[]) => {
    const mark = state.get(plugin.name);
    if (mark === "done") return;
    if (mark === "visiting") {
      const cycle = [...path.slice(path.indexOf(plugin.name)), plugin.name].join(" → ");
      throw new PluginError(plugin.name, "register", new Error(`dependency cycle: ${cycle}`));
    }
    state.set(plugin.name, "visiting");
    for (const dep of plugin.dependencies ?? []) {
      visit(byName.get(dep)!.plugin, [...path, plugin.name]);
    }
    state.set(plugin.name, "done");
    sorted.push(plugin);
  };
  const candidates = [...byName.values()].sort((a, b) =>
    group(a.plugin) - group(b.plugin) || a.index - b.index
  );
  for (const { plugin } of candidates) visit(plugin, []);
  return sorted;
}

type HookName = keyof PluginHooks<unknown>;

/** Runs the hooks of ordered plugins with the semantics of each kind. */
export class PluginHost<E> {
  readonly #plugins: Plugin<E>[];

  /**
   * Creates a host for plugins already in run order.
   *
   * @param ordered Plugins from {@linkcode orderPlugins}.
   */
  constructor(ordered: Plugin<E>[]) {
    this.#plugins = ordered;
  }

  /** Plugin names in run order. */
  get names(): string[] {
    return this.#plugins.map((p) => p.name);
  }

  /**
   * Runs a sequential lifecycle hook (`setup`, `ready`, or `close` in reverse order). `setup` and
   * `ready` stop at the first failure; `close` runs every plugin, then throws the first failure.
   *
   * @param hook Hook name.
   * @param engine The engine.
   * @throws {PluginError} For the (first) plugin that failed.
   */
  async sequential(hook: "setup" | "ready" | "close", engine: E): Promise<void> {
    const plugins = hook === "close" ? [...this.#plugins].reverse() : this.#plugins;
    let failure: PluginError | undefined;
    for (const plugin of plugins) {
      const fn = plugin[hook];
      if (!fn) continue;
      try {
        await fn.call(plugin, engine);
      } catch (error) {
        const wrapped = new PluginError(plugin.name, hook, error);
        // `close` releases resources: one failure must not keep the other plugins from theirs.
        if (hook !== "close") throw wrapped;
        failure ??= wrapped;
      }
    }
    if (failure) throw failure;
  }

  /**
   * Runs a parallel bundle-event hook on every plugin and waits for all of them.
   *
   * @param hook Hook name.
   * @param event Event data.
   * @throws {PluginError} For the first plugin (in run order) that failed.
   */
  async parallel(
    hook: "bundleInstalled" | "bundleStarted" | "bundleStopped" | "bundleUninstalled",
    event: BundleEventInfo,
  ): Promise<void> {
    const runs = this.#plugins.map(async (plugin) => {
      const fn = plugin[hook];
      if (!fn) return;
      try {
        await fn.call(plugin, { ...event });
      } catch (error) {
        throw new PluginError(plugin.name, hook, error);
      }
    });
    const failed = (await Promise.allSettled(runs)).find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /**
   * Runs `fetch` hooks in order until one answers.
   *
   * @param request The request.
   * @returns The first response, or `undefined`.
   */
  first(request: Request): Promise<Response | undefined> {
    // No async function and no await for a hook that declines synchronously: this runs on every
    // request, and most plugins decline most requests (docs/architecture.md, "What a call costs
    // the engine's thread").
    return this.#firstFrom(0, request);
  }

  #firstFrom(start: number, request: Request): Promise<Response | undefined> {
    const plugins = this.#plugins;
    for (let i = start; i < plugins.length; i++) {
      const plugin = plugins[i]!;
      if (!plugin.fetch) continue;
      let answer: Response | undefined | Promise<Response | undefined>;
      try {
        answer = plugin.fetch(request);
      } catch (error) {
        return Promise.reject(new PluginError(plugin.name, "fetch", error));
      }
      if (answer === undefined) continue;
      if (answer instanceof Response) return Promise.resolve(answer);
      return this.#settle(i, answer, request);
    }
    return Promise.resolve(undefined);
  }

  /** Waits for plugin `index`'s answer; moves on to the next plugins when it declines. */
  async #settle(
    index: number,
    answer: Response | Promise<Response | undefined>,
    request: Request,
  ): Promise<Response | undefined> {
    let response: Response | undefined;
    try {
      response = await answer;
    } catch (error) {
      throw new PluginError(this.#plugins[index]!.name, "fetch", error);
    }
    return response !== undefined ? response : await this.#firstFrom(index + 1, request);
  }

  /**
   * Composes the `wrapRequest` or `wrapCall` hooks around `inner` (first plugin outermost).
   *
   * @param hook Hook name.
   * @param inner The operation itself.
   * @returns The wrapped operation.
   */
  wrap<I, O>(
    hook: "wrapRequest" | "wrapCall",
    inner: (input: I) => Promise<O>,
  ): (input: I) => Promise<O> {
    let next = inner;
    for (const plugin of [...this.#plugins].reverse()) {
      const fn = plugin[hook] as
        | ((input: I, next: (input: I) => Promise<O>) => Promise<O>)
        | undefined;
      if (!fn) continue;
      const downstream = next;
      // Promise chains, not async functions: this runs on every call, once per plugin.
      const mark = (error: unknown): unknown => {
        if (typeof error === "object" && error !== null) PASSED_THROUGH.add(error);
        return error;
      };
      const rethrowMarked = (error: unknown): never => {
        throw mark(error);
      };
      const tracked = (input: I): Promise<O> => {
        try {
          return downstream(input).catch(rethrowMarked);
        } catch (error) {
          return Promise.reject(mark(error));
        }
      };
      // Errors from further in are the operation's own; only the wrapper's are the plugin's.
      const own = (error: unknown): unknown =>
        typeof error === "object" && error !== null && PASSED_THROUGH.has(error)
          ? error
          : new PluginError(plugin.name, hook, error);
      const rethrowOwn = (error: unknown): never => {
        throw own(error);
      };
      next = (input: I): Promise<O> => {
        try {
          return Promise.resolve(fn.call(plugin, input, tracked)).catch(rethrowOwn);
        } catch (error) {
          return Promise.reject(own(error));
        }
      };
    }
    return next;
  }

  /** Whether any plugin implements `hook`. */
  has(hook: HookName): boolean {
    return this.#plugins.some((p) => typeof p[hook] === "function");
  }
}

/**
 * Declares a plugin. It only adds types; a plain object works too.
 *
 * @typeParam E Engine type the plugin's hooks receive.
 * @param plugin The plugin object.
 * @returns The same object.
 *
 * @example A plugin that logs every bundle start
 * ```ts
 * import { createEngine, definePlugin, type Engine, type Plugin } from "@bundlehost/sdk";
 *
 * function startLogger(): Plugin<Engine> {
 *   return definePlugin({
 *     name: "start-logger",
 *     bundleStarted(e) {
 *       console.log(`${e.id}@${e.version} is ACTIVE`);
 *     },
 *   });
 * }
 * await using engine = await createEngine({ plugins: [startLogger()] });
 * ```
 */
export function definePlugin<E = unknown>(plugin: Plugin<E>): Plugin<E> {
  return plugin;
}
