/**
 * The resident engine's facade and composition root. {@linkcode createEngine} builds the parts in
 * order: the {@linkcode BundleRuntime} (bundle table, lifecycle, the one call path), then the
 * durable release registry and the event bus around it (both drive the runtime through its narrow
 * port), then the plugin host. The facade's verbs are the durable ones; the runtime's immediate,
 * non-durable verbs stay reachable as {@linkcode Engine.runtime} (docs/architecture.md).
 *
 * @module
 */
import { BundlehostError, BundleStateError, NotFoundError } from "./base/errors.ts";
import type { Clock } from "./base/clock.ts";
import { ENGINE_VERSION } from "./base/version.ts";
import type { CallOutcome, CallRequest } from "./call/request.ts";
import { LogEvent } from "./core/lifecycle.ts";
import { EngineEvents } from "./runtime/engine_events.ts";
import type { RulesDocument } from "./broker/rules.ts";
import type { OperatorPolicy } from "./manifest/policy.ts";
import { assertCeilingWithinEngine } from "./manifest/policy_reach.ts";
import type { Store } from "./store/store.ts";
import type { EventBus, EventBusOptions } from "./events/bus.ts";
import type { CanaryOptions, CanaryState } from "./store/canary_state.ts";
import type {
  Registry,
  ReleaseOptions,
  ReleaseResult,
  ReleaseSource,
  RestoreReport,
} from "./release/registry.ts";
import { BundleRuntime } from "./runtime/bundle_runtime.ts";
import type { BundleSettings } from "./runtime/bundle_settings.ts";
import { DurableState } from "./runtime/durable_state.ts";
import type { SecretKeyOptions } from "./store/secret_box.ts";
import {
  CallHistory,
  type CallHistoryOptions,
  type MetricsHistory,
} from "./runtime/call_history.ts";
import type { StorageUsage } from "./storage/storage.ts";
import type { FollowLogsOptions, RecentLogsOptions } from "./runtime/log_buffer.ts";
import type { BundleLogRecord, LogFollower } from "./runtime/log_follower.ts";
import type { RuntimePort } from "./core/port.ts";
import {
  type EngineSettingsOptions,
  type ResolvedOptions,
  resolveOptions,
} from "./runtime/options.ts";
import type { BundleStatus, EngineStatus } from "./runtime/status.ts";
import { orderPlugins, type Plugin, PluginHost } from "./plugin/plugin.ts";
import { runBundleHook } from "./plugin/bundle_hooks.ts";
import {
  type ForwardTarget,
  fromWireResponse,
  type HeaderListEdit,
  isWebSocketUpgrade,
  servePlugins,
  toWireRequest,
} from "./edge/http.ts";
import { acceptSocket, SocketGate } from "./edge/sockets.ts";
import type { HostResponse } from "./sandbox/host/stream_table.ts";
import type { ClusterOptions, ClusterStatus } from "./cluster/cluster_mode.ts";

export type { BundleStatus, EngineSettingsOptions, EngineStatus };

/**
 * Options for {@linkcode createEngine}; every field is optional.
 *
 * @example An engine with a policy, a plugin and fast event retries
 * ```ts
 * import { createEngine, definePlugin, type EngineOptions } from "@bundlehost/sdk";
 *
 * const options: EngineOptions = {
 *   dataDir: ".bundlehost",
 *   ceiling: { trusted: ["hello"] },
 *   plugins: [definePlugin({ name: "quiet" })],
 *   events: { backoffMs: 100 },
 * };
 * await using engine = await createEngine(options);
 * ```
 */
export interface EngineOptions extends EngineSettingsOptions {
  /** Plugins, in registration order (see {@linkcode Plugin} for ordering rules). @default {[]} */
  plugins?: Plugin<Engine>[];
  /** Registry storage. @default {KvStore at `<dataDir>/registry.sqlite3`} */
  store?: Store;
  /** Message and scheduled events: attempts, timeouts, backoff (README, "Events"). */
  events?: EventBusOptions;
  /**
   * The key secrets are sealed under, and keys of earlier rotations (README, "Secrets").
   * @default {the key file `secrets.key` in the data folder, created with mode 0600}
   */
  secrets?: SecretKeyOptions;
  /** The in-memory call history behind `GET /admin/metrics/history` (interval, samples kept). */
  metricsHistory?: CallHistoryOptions;
  /**
   * Cluster mode: share the registry and release archives with other engines through NATS
   * JetStream (README, "Running a cluster"). Ignored when `store` is given.
   */
  cluster?: ClusterOptions;
}

/**
 * Per-call options of {@linkcode Engine.call}: every field of a {@linkcode CallRequest} but what
 * it names.
 *
 * @example A traced call with a timeout and a route
 * ```ts
 * import { createEngine, type EngineCallOptions } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const options: EngineCallOptions = {
 *   timeoutMs: 2_000,
 *   route: { type: "ID", pattern: "hello" },
 *   traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
 *   signal: AbortSignal.timeout(5_000),
 * };
 * console.log(await engine.call("HelloService", "greet", { name: "Ada" }, options));
 * ```
 */
export type CallOptions = Omit<CallRequest, "kind" | "service" | "method" | "input">;

/**
 * Options of {@linkcode Engine.fetchBundle}: the call's options, and the URL and headers the
 * bundle sees when the request is forwarded under another URL (as `/b/:id/*` does).
 *
 * @example Forward a request under the bundle's own path
 * ```ts
 * import type { FetchBundleOptions } from "@bundlehost/sdk";
 *
 * const options: FetchBundleOptions = {
 *   url: "http://127.0.0.1:8000/hello?x=1",
 *   setHeaders: [["x-forwarded-prefix", "/b/shop"]],
 *   timeoutMs: 2_000,
 * };
 * ```
 */
export type FetchBundleOptions = CallOptions & ForwardTarget & {
  /**
   * Rewrites the bundle's response headers (lower-case names) before the response is built, as
   * `/b/:id/*` confines them; not applied to a WebSocket's `101` response.
   */
  responseHeaders?: HeaderListEdit;
};

/**
 * The resident engine. Create it with {@linkcode createEngine}.
 *
 * @example Release a bundle durably and serve it over HTTP
 * ```ts
 * import { createEngine, type Engine } from "@bundlehost/sdk";
 * import { serviceRelease } from "@bundlehost/sdk/service-release";
 *
 * const engine: Engine = await createEngine({ plugins: [serviceRelease()] });
 * await engine.registry.release({ path: "./bundles/hello" });
 * console.log(engine.status().bundles.map((b) => `${b.id}: ${b.state}`));
 * Deno.serve({ hostname: "127.0.0.1", port: 8000 }, engine.fetch);
 * ```
 */
export class Engine {
  /** Engine version. */
  readonly version: string = ENGINE_VERSION;
  /** Lifecycle, instance and log events. */
  readonly events: EngineEvents = new EngineEvents();
  /**
   * The bundle runtime: immediate, non-durable verbs (install, start, stop, activate, weights,
   * uninstall) that the registry makes durable. Use the facade's verbs unless you manage state
   * yourself (tests, embedding).
   */
  get runtime(): RuntimePort {
    return this.#runtime;
  }
  readonly #runtime: BundleRuntime;
  /**
   * Serves an HTTP request: `wrapRequest` plugin hooks around the first plugin `fetch` hook that
   * answers; 404 when none does. Bound, so `Deno.serve(engine.fetch)` works.
   */
  readonly fetch: (request: Request) => Promise<Response>;
  readonly #options: ResolvedOptions;
  /** WebSocket connections per bundle (edge/sockets.ts). */
  readonly #sockets: SocketGate;
  /** Ends each response stream and WebSocket handed out and still open. */
  readonly #openStreams = new Set<(reason: string) => void>();
  readonly #plugins: PluginHost<Engine>;
  readonly #clock: Clock;
  readonly #startedAt: number;
  /** Store, settings, registry, event bus and cluster mode, once open. */
  readonly #durable: DurableState;
  #closed = false;
  readonly #history: CallHistory;

  /**
   * Creates an engine; prefer {@linkcode createEngine}, which also opens the data folder.
   *
   * @param options Engine options (see {@linkcode EngineOptions}).
   * @throws {PolicyError} For an invalid operator policy, or one that grants more than the
   * engine's own permissions.
   */
  constructor(options: EngineOptions = {}) {
    this.#options = resolveOptions(options);
    this.#sockets = new SocketGate(this.#options.maxSocketsPerBundle);
    assertCeilingWithinEngine(this.#options.ceiling, this.#options.dataDir);
    this.#clock = this.#options.clock;
    this.#startedAt = this.#clock.now();
    this.#plugins = new PluginHost(orderPlugins(options.plugins ?? [], ENGINE_VERSION));
    this.fetch = servePlugins(this.#plugins, (message) => this.#log("error", message));
    this.#history = new CallHistory(this.#clock, options.metricsHistory);
    const ownerOf = (service: string) => this.#runtime.ownership.owner("service", service);
    this.#runtime = new BundleRuntime({
      options: this.#options,
      events: this.events,
      clock: this.#clock,
      wrapCall: (next) => this.#plugins.wrap("wrapCall", this.#history.wrap(next, ownerOf)),
      afterTransition: (event) => runBundleHook(this.#plugins, event),
    });
    this.#durable = new DurableState(this.#runtime, {
      options: this.#options,
      events: this.events,
      clock: this.#clock,
      eventOptions: options.events ?? {},
      secretKeys: options.secrets ?? {},
      cluster: options.cluster,
    });
  }

  /**
   * The operator policy in force (permission ceiling, trusted bundles, grants, limits), with its
   * defaults applied. `limits.maxTimeoutMs` is the longest timeout any caller may ask for.
   */
  get policy(): OperatorPolicy {
    return this.#options.ceiling;
  }

  /** Plugin names in run order. */
  get plugins(): string[] {
    return this.#plugins.names;
  }

  /** Absolute path of the engine's data folder. */
  get dataDir(): string {
    return this.#options.dataDir;
  }

  /**
   * The durable release registry (releases, rollback, traffic, canaries, desired state).
   *
   * @throws {BundleStateError} Before {@linkcode Engine.setup} opened the store.
   */
  get registry(): Registry {
    const registry = this.#durable.registry;
    if (!registry) throw new BundleStateError("The engine's registry is not open yet");
    return registry;
  }

  /**
   * Bundles' config overrides and secrets (README, "Config" and "Secrets").
   *
   * @throws {BundleStateError} Before {@linkcode Engine.setup} opened the store.
   */
  get settings(): BundleSettings {
    const settings = this.#durable.settings;
    if (!settings) throw new BundleStateError("The engine's settings are not open yet");
    return settings;
  }

  /**
   * The durable event bus: publish, dead letters, replay, stats (README, "Events").
   *
   * @throws {BundleStateError} Before {@linkcode Engine.setup} opened the store.
   *
   * @example Publish an event
   * ```ts
   * import { createEngine } from "@bundlehost/sdk";
   *
   * await using engine = await createEngine();
   * const { id, deliveries } = await engine.eventBus.publish("order.created", { orderId: "o-1" });
   * ```
   */
  get eventBus(): EventBus {
    const bus = this.#durable.bus;
    if (!bus) throw new BundleStateError("The engine's event bus is not open yet");
    return bus;
  }

  /**
   * Opens the data folder and the store, builds the registry and the event bus around the
   * runtime, and runs plugin `setup` hooks; called by {@linkcode createEngine}.
   *
   * @param store Registry storage; a Deno KV file in the data folder by default.
   */
  async setup(store?: Store): Promise<void> {
    const [, guestFailure] = await Promise.all([
      this.#durable.open(store),
      this.#runtime.prepareSandboxes(),
    ]);
    await this.#plugins.sequential("setup", this);
    // After plugin setup, so the log plugins see it.
    this.#durable.reportMigration();
    if (guestFailure !== undefined) {
      this.#log("warn", `Workers boot from the runtime's source files: ${guestFailure}`);
    }
  }

  /**
   * Restores released bundles from the registry (see {@linkcode Registry.restore}); failures are
   * reported, never thrown, so one broken bundle does not keep the engine down.
   *
   * @returns What was restored and what failed.
   */
  restore(): Promise<RestoreReport> {
    return this.#durable.restore(this.registry);
  }

  /**
   * Starts event delivery and schedules, then runs plugin `ready` hooks; called by
   * {@linkcode createEngine} once bundles are restored.
   */
  async ready(): Promise<void> {
    await this.#durable.start();
    await this.#plugins.sequential("ready", this);
  }

  /**
   * Cluster mode: this engine's id, NATS reachability, and every engine with what it runs (the
   * `cluster` section of `GET /admin/status`); `undefined` for a single engine.
   *
   * @example Engines of the cluster
   * ```ts
   * import { createEngine } from "@bundlehost/sdk";
   *
   * await using engine = await createEngine({ cluster: { servers: "nats://127.0.0.1:4222" } });
   * for (const e of (await engine.clusterStatus())?.engines ?? []) console.log(e.id, e.url, e.runs);
   * ```
   */
  async clusterStatus(): Promise<ClusterStatus | undefined> {
    return await this.#durable.cluster?.status();
  }

  /**
   * Cluster mode: says where this engine serves, shown to every engine's status (`main.ts` calls
   * it once it listens). Does nothing for a single engine.
   *
   * @param url The engine's base URL.
   */
  advertise(url: string): void {
    this.#durable.cluster?.advertise(url);
  }

  /**
   * Releases a bundle durably (see {@linkcode Registry.release}).
   *
   * @param source A folder path or a `.tar.gz` archive.
   * @param options Activation and staging.
   * @returns The release's id, version, hash and state.
   */
  release(source: ReleaseSource, options: ReleaseOptions = {}): Promise<ReleaseResult> {
    return this.registry.release(source, options);
  }

  /**
   * Starts a released bundle durably: it stays started across restarts.
   *
   * @param id Bundle id.
   */
  start(id: string): Promise<void> {
    return this.registry.start(id);
  }

  /**
   * Stops a released bundle durably: it stays stopped across restarts.
   *
   * @param id Bundle id.
   */
  stop(id: string): Promise<void> {
    return this.registry.stop(id);
  }

  /**
   * Rolls back to an earlier released version (the previous one by default), durably.
   *
   * @param id Bundle id.
   * @param version Version to serve again.
   * @returns The version now active.
   */
  rollback(id: string, version?: string): Promise<string> {
    return this.registry.rollback(id, version);
  }

  /**
   * Splits traffic between released versions by weight, durably.
   *
   * @param id Bundle id.
   * @param weights Version → weight (1 to 16 versions, 0 to 1000000 each, not all zero).
   */
  setTraffic(id: string, weights: Record<string, number>): Promise<void> {
    return this.registry.setTraffic(id, weights);
  }

  /**
   * Starts a phased release of a released version, durably (see {@linkcode Registry.canary}).
   *
   * @param id Bundle id.
   * @param version The new version.
   * @param options Steps, step length, analysis.
   * @returns The canary's state.
   */
  canary(id: string, version: string, options: CanaryOptions = {}): Promise<CanaryState> {
    return this.registry.canary(id, version, options);
  }

  /**
   * Deletes a bundle: every version, its records, release folders and data folder.
   *
   * @param id Bundle id.
   */
  delete(id: string): Promise<void> {
    return this.registry.delete(id);
  }

  /**
   * Calls a service method through the engine's one call path.
   *
   * @param service Service name, optionally `Service@semverRange`.
   * @param method Method name.
   * @param input Input value.
   * @param options Route, timeout, deadline, trace context, cancellation.
   * @returns The method's result.
   * @throws {TypeError} For a malformed service or method name.
   * @throws {NotFoundError} When no active bundle provides the service.
   * @throws {CallTimeoutError} At the deadline.
   * @throws {BundleCallError} When the bundle threw.
   */
  async call(
    service: string,
    method: string,
    input: unknown,
    options: CallOptions = {},
  ): Promise<unknown> {
    return (await this.invoke({ ...options, service, method, input })).result;
  }

  /**
   * Makes one call and says which bundle served it and whether it was degraded: `/rpc`, `/b/`,
   * event deliveries and calls between bundles all come through here.
   *
   * @param call The call.
   * @returns Result, serving `id@version`, degradation reason.
   */
  invoke(call: CallRequest): Promise<CallOutcome> {
    return this.#runtime.call(call);
  }

  /**
   * Forwards an HTTP request to a bundle's fetch handler, through the same call path as a service
   * call (plugins, throttling, breaker, degradation, cancellation).
   *
   * @param id Bundle id.
   * @param request The request.
   * @param options Timeout, deadline, trace context, cancellation; the URL and headers the
   * bundle sees when it is not the request's own.
   * @returns The bundle's response, with `x-bundle` (and `x-degraded` when a fallback served).
   */
  async fetchBundle(
    id: string,
    request: Request,
    options: FetchBundleOptions = {},
  ): Promise<Response> {
    const { url, setHeaders, responseHeaders, ...call } = options;
    const target: ForwardTarget = {};
    if (url !== undefined) target.url = url;
    if (setHeaders !== undefined) target.setHeaders = setHeaders;
    // A WebSocket takes a slot of its bundle before the bundle is called (edge/sockets.ts).
    const release = isWebSocketUpgrade(request) ? this.#sockets.admit(id) : undefined;
    let outcome: CallOutcome;
    try {
      const input = await toWireRequest(request, this.#options.maxBodyBytes, target);
      outcome = await this.invoke({
        ...call,
        kind: "fetch",
        service: id,
        method: request.method,
        input,
      });
    } catch (error) {
      release?.();
      throw error;
    }
    const result = outcome.result as HostResponse;
    this.#track(result);
    if (result.upgrade) {
      if (release) return acceptSocket(request, result, release);
      result.attachSocket?.(undefined);
      throw new BundlehostError(
        "BUNDLE_ERROR",
        `Bundle ${outcome.bundle} answered with a WebSocket upgrade a request that asked for none`,
      );
    }
    release?.();
    const own: [string, string][] = [["x-bundle", outcome.bundle]];
    if (outcome.degraded) own.push(["x-degraded", outcome.degraded]);
    return fromWireResponse(result, own, responseHeaders);
  }

  /** Keeps a streamed response's or socket's end until it ends, for {@linkcode Engine.endStreams}. */
  #track(result: HostResponse): void {
    const { end, ended } = result;
    if (!end || !ended) return;
    this.#openStreams.add(end);
    void ended.then(() => this.#openStreams.delete(end));
  }

  /**
   * Ends every response stream and WebSocket open through `/b/` now, cleanly: bodies end, sockets
   * close with 1001. A server's graceful shutdown waits for responses in flight, and a stream
   * (server-sent events) may never end by itself, so call this before shutting the server down.
   *
   * @param reason Why, in the sockets' close reason. @default {"engine stopping"}
   *
   * @example Shut down with streams open
   * ```ts
   * import { createEngine } from "@bundlehost/sdk";
   *
   * await using engine = await createEngine();
   * const server = Deno.serve({ port: 0, onListen() {} }, engine.fetch);
   * engine.endStreams();
   * await server.shutdown();
   * ```
   */
  endStreams(reason = "engine stopping"): void {
    for (const end of [...this.#openStreams]) end(reason);
    this.#openStreams.clear();
  }

  /**
   * A bundle's recent log records, oldest first (the engine keeps a bounded number per bundle;
   * engine option `logs`).
   *
   * @param id Bundle id.
   * @param options How many (default 100), lowest level, only those after a sequence number.
   * @returns The records.
   * @throws {NotFoundError} For an unknown bundle.
   *
   * @example The last ten warnings of a bundle
   * ```ts
   * import { createEngine } from "@bundlehost/sdk";
   *
   * await using engine = await createEngine();
   * await engine.release({ path: "./bundles/hello" });
   * for (const record of await engine.logs("hello", { limit: 10, level: "warn" })) {
   *   console.log(record.time, record.level, record.message, record.traceId ?? "");
   * }
   * ```
   */
  async logs(id: string, options: RecentLogsOptions = {}): Promise<BundleLogRecord[]> {
    await this.#assertKnown(id);
    return this.#runtime.logs.recent(id, options).map((stored) => stored.record);
  }

  /**
   * Follows a bundle's logs: its recent records (unless `tail` is false, or those after `after`
   * for a resume), then new ones as they come. A follower that reads too slowly loses records
   * (counted and reported as a `dropped` item) rather than holding them; every follower ends when
   * the bundle is deleted or the engine stops.
   *
   * @param id Bundle id.
   * @param options Replay, level, resume point, cancellation.
   * @returns The follower; close it (or abort `signal`) when done.
   * @throws {NotFoundError} For an unknown bundle.
   * @throws {UnavailableError} When the bundle, or the engine, has its most followers.
   * @throws {BundleStateError} Once the engine is closing.
   *
   * @example Follow new records for a second
   * ```ts
   * import { createEngine } from "@bundlehost/sdk";
   *
   * await using engine = await createEngine();
   * await engine.release({ path: "./bundles/hello" });
   * const follower = await engine.followLogs("hello", { tail: false, signal: AbortSignal.timeout(1_000) });
   * for await (const item of follower) {
   *   if (item.kind === "record") console.log(item.stored.record.message);
   *   if (item.kind === "dropped") console.log(`${item.count} records lost`);
   * }
   * ```
   */
  async followLogs(id: string, options: FollowLogsOptions = {}): Promise<LogFollower> {
    await this.#assertKnown(id);
    if (this.#closed) throw new BundleStateError("The engine is closed");
    return this.#runtime.logs.follow(id, options);
  }

  /**
   * What each bundle's `ctx.kv` and `ctx.cache` hold now: KV bytes and keys, cache bytes, entries
   * and evictions (bundles that used storage since the engine started; README, "Storage").
   *
   * @returns One record per bundle.
   *
   * @example Bundles near their KV quota
   * ```ts
   * import { createEngine } from "@bundlehost/sdk";
   *
   * await using engine = await createEngine();
   * for (const { bundle, kv } of engine.storageUsage()) {
   *   if (kv.bytes > 12 * 1024 * 1024) console.log(bundle, kv.bytes, kv.keys);
   * }
   * ```
   */
  storageUsage(): StorageUsage[] {
    return this.#runtime.storageUsage();
  }

  /** Log followers open now, of every bundle (`GET /admin/bundles/:id/logs?follow=1`). */
  get logFollowers(): number {
    return this.#runtime.logs.followers;
  }

  /**
   * Ends every log follower: a server about to shut down calls this first, since an open log
   * stream would keep it waiting; {@linkcode Engine.close} does it too.
   *
   * @param reason Why, told to each follower.
   */
  endLogFollowers(reason = "the engine is stopping"): void {
    this.#runtime.logs.endFollowers(reason);
  }

  /** The governance rules in force (`PUT /admin/rules`). */
  get rules(): RulesDocument {
    return this.#runtime.rules;
  }

  /**
   * Replaces the governance rules at run time, durably. The document is validated whole: an invalid
   * one changes nothing.
   *
   * @param rules The rules document.
   * @returns The normalized document now in force.
   * @throws {TypeError} Listing every problem.
   */
  async setRules(rules: unknown): Promise<RulesDocument> {
    const previous = this.#runtime.rules;
    const applied = this.#runtime.setRules(rules);
    try {
      await this.#durable.store?.putRules(applied);
    } catch (error) {
      this.#runtime.setRules(previous);
      throw error;
    }
    return applied;
  }

  /**
   * The owner of a service or topic: the bundle id that first declared it.
   *
   * @param kind `"service"` or `"topic"`.
   * @param name Service name or topic.
   * @returns The owning bundle id, if any.
   */
  ownerOf(kind: "service" | "topic", name: string): string | undefined {
    return this.#runtime.ownership.owner(kind, name);
  }

  /**
   * Status of one bundle.
   *
   * @param id Bundle id.
   * @returns Its versions, routing, governance and instances.
   * @throws {NotFoundError} For an unknown bundle.
   */
  bundle(id: string): BundleStatus {
    return this.#runtime.bundle(id);
  }

  /** Status of every bundle. */
  status(): EngineStatus {
    const bundles = this.#runtime.bundles();
    return {
      uptimeMs: this.#clock.now() - this.#startedAt,
      bundles,
      leakedWorkers: bundles.reduce(
        (n, b) => n + b.revisions.reduce((m, r) => m + r.leakedWorkers, 0),
        0,
      ),
    };
  }

  /**
   * The last few minutes of calls, errors and latency, engine-wide and per bundle, from the
   * engine's own memory (`GET /admin/metrics/history`; engine option `metricsHistory`).
   *
   * @returns Closed intervals, oldest first.
   */
  metricsHistory(): MetricsHistory {
    return this.#history.snapshot();
  }

  /** Stops every bundle (draining calls in flight), runs plugin `close` hooks, refuses further work. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.endLogFollowers();
    await this.#durable.quiesce();
    await this.#runtime.close();
    try {
      await this.#durable.bus?.close();
      await this.#plugins.sequential("close", this);
    } finally {
      await this.#durable.release();
    }
  }

  /** `await using engine = await createEngine()` closes it at scope end. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #assertKnown(id: string): Promise<void> {
    if (this.#runtime.entry(id)) return;
    // Released but not installed (never started, or failed to restore): known to the registry.
    const registry = this.#durable.registry;
    if (!registry) throw new NotFoundError(`No bundle "${id}"`);
    await registry.get(id);
  }

  #log(level: "debug" | "info" | "warn" | "error", message: string): void {
    this.events.dispatchEvent(new LogEvent({ level, message }));
  }
}

/**
 * Creates an engine: the composition root (runtime, then store, registry, event bus and plugins).
 *
 * @param options Engine options.
 * @returns A running engine with its released bundles restored.
 *
 * @example Release a bundle and call it
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine({ dataDir: ".bundlehost" });
 * await engine.release({ path: "./bundles/hello" });
 * console.log(await engine.call("HelloService", "greet", { name: "Ada" }));
 * ```
 */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const engine = new Engine(options);
  try {
    await engine.setup(options.store);
    await engine.restore();
    await engine.ready();
  } catch (error) {
    await engine.close().catch(() => {});
    throw error;
  }
  return engine;
}
