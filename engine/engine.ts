/**
 * The resident engine: installs bundles into sandboxes, runs their lifecycle, and routes calls to
 * them, while it keeps running.
 *
 * This file is the engine's public facade (every method a documented API); the work lives beside
 * it: install preparation in `install.ts`, settings in `options.ts`, status views in `status.ts`,
 * sandboxes in `isolation/`, routing and governance in `broker/`, persistence in `registry/`,
 * events in `events/`, and the HTTP entry in `http.ts`.
 *
 * @module
 */
import { BundleStateError, NotFoundError } from "./base/errors.ts";
import type { CallRecord, OutboundCall } from "./sandbox/host/instance.ts";
import { Sandboxes } from "./sandbox/host/sandboxes.ts";
import { type InstallPolicy, prepareInstall } from "./runtime/install.ts";
import { type BundleStatus, bundleStatus, type EngineStatus } from "./runtime/status.ts";
import { BreakerEvent, EngineEvents, type LifecycleEvent, LogEvent } from "./core/lifecycle.ts";
import {
  type CallInfo,
  type CallOutcome,
  orderPlugins,
  type Plugin,
  PluginHost,
} from "./plugin/plugin.ts";
import { ENGINE_VERSION } from "./base/version.ts";
import { Registry, type RestoreReport } from "./release/registry.ts";
import { KvStore, type Store } from "./store/store.ts";
import { type DataLock, lockDataDir } from "./store/data_lock.ts";
import { METHOD_NAME_PATTERN, SERVICE_NAME_PATTERN } from "./manifest/manifest.ts";
import { type EngineSettingsOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import type { OutcomeStats } from "./core/outcomes.ts";
import { Revision, type RevisionStatus, type RuntimeSettings } from "./core/revision.ts";
import type { RouteSpec } from "./sdk/types.ts";
import type { BrokerRequest } from "./broker/broker.ts";
import { type BundleEntry, servingRevision } from "./broker/router.ts";
import { Broker } from "./broker/broker.ts";
import type { RulesDocument } from "./broker/rules.ts";
import { fromWireResponse, servePlugins, toWireRequest } from "./edge/http.ts";
import { EventBus, type EventBusHost, type EventBusOptions } from "./events/bus.ts";
import { busBundle } from "./events/delivery.ts";
import { Ownership } from "./runtime/ownership.ts";
import type { OperatorPolicy } from "./manifest/policy.ts";
import { LogBudget } from "./runtime/log_budget.ts";
import { assertCeilingWithinEngine } from "./manifest/policy_reach.ts";

export type { BundleStatus, EngineSettingsOptions, EngineStatus };

/** Options for {@linkcode createEngine}; every field is optional. */
export interface EngineOptions extends EngineSettingsOptions {
  /** Plugins, in registration order (see {@linkcode Plugin} for ordering rules). @default {[]} */
  plugins?: Plugin<Engine>[];
  /** Registry storage. @default {KvStore at `<dataDir>/registry.sqlite3`} */
  store?: Store;
  /** Message and scheduled events: attempts, timeouts, backoff, clock (README, "Events"). */
  events?: EventBusOptions;
}

/** Per-call options for {@linkcode Engine.call}. */
export interface EngineCallOptions {
  /** Route to use. */
  route?: RouteSpec;
  /** Timeout, ms (bounded by `deadline`). */
  timeoutMs?: number;
  /** Absolute deadline, epoch ms. */
  deadline?: number;
  /** W3C trace context. */
  traceparent?: string;
  /** Broker hops so far. @default {0} */
  hops?: number;
  /**
   * Cancels the call when aborted (the service plane passes the HTTP request's signal, which aborts
   * when the client disconnects): it fails with `CANCELLED` and the bundle's `ctx.signal` aborts.
   */
  signal?: AbortSignal;
  /**
   * Set by the engine on a call a bundle made outside any call it served: the callee does not
   * pass its hop count on to its own detached requests (README, "Events").
   */
  fromDetached?: boolean;
}

/** The resident engine. Create it with {@linkcode createEngine}. */
export class Engine {
  /** Engine version. */
  readonly version: string = ENGINE_VERSION;
  /** Lifecycle, instance and log events. */
  readonly events: EngineEvents = new EngineEvents();
  /**
   * Serves an HTTP request: `wrapRequest` plugin hooks around the first plugin `fetch` hook that
   * answers; 404 when none does. Bound, so `Deno.serve(engine.fetch)` works.
   */
  readonly fetch: (request: Request) => Promise<Response>;
  readonly #options: ResolvedOptions;
  readonly #settings: RuntimeSettings;
  readonly #plugins: PluginHost<Engine>;
  readonly #invoke: (
    call: CallInfo & { input: unknown; options: EngineCallOptions },
  ) => Promise<CallOutcome>;
  readonly #bundles = new Map<string, BundleEntry>();
  readonly #broker: Broker;
  readonly #startedAt: number;
  /** Live child processes (process tier), so close() can make sure none outlives the engine. */
  readonly #sandboxes: Sandboxes;
  #closed = false;
  #registry?: Registry;
  #store?: Store;
  #dataLock?: DataLock;
  #bus?: EventBus;
  readonly #eventOptions: EventBusOptions;
  readonly #ownership: Ownership;
  readonly #logBudget: LogBudget;

  /**
   * Creates an engine; prefer {@linkcode createEngine}, which also prepares the data folder.
   *
   * @param options Engine options (see {@linkcode EngineOptions}).
   * @throws {PolicyError} For an invalid operator policy, or one that grants more than the
   * engine's own permissions.
   */
  constructor(options: EngineOptions = {}) {
    this.#options = resolveOptions(options);
    const clock = this.#options.clock;
    this.#startedAt = clock.now();
    assertCeilingWithinEngine(this.#options.ceiling, this.#options.dataDir);
    this.#ownership = new Ownership(
      this.#options.ceiling,
      (service) => this.#broker.rules.services[service]?.providers,
    );
    const limits = this.#options.ceiling.limits;
    this.#logBudget = new LogBudget({
      linesPerSecond: limits.logLinesPerSecond,
      burst: limits.logBurst,
      clock,
    });
    this.#sandboxes = new Sandboxes(this.#options.denoCommand, this.#options.channel);
    this.#eventOptions = options.events ?? {};
    const o = this.#options;
    this.#settings = {
      callTimeoutMs: o.callTimeoutMs,
      startTimeoutMs: o.startTimeoutMs,
      hookTimeoutMs: o.hookTimeoutMs,
      drainMs: o.drainMs,
      heartbeatMs: o.heartbeatMs,
      unresponsiveMs: o.unresponsiveMs,
      probeMs: o.probeMs,
      autoscaleTickMs: o.autoscaleTickMs,
      clock,
    };
    this.#plugins = new PluginHost(orderPlugins(options.plugins ?? [], ENGINE_VERSION));
    this.fetch = servePlugins(this.#plugins, (message) => this.#log("error", message));
    this.#invoke = this.#plugins.wrap("wrapCall", (call) => this.#route(call));
    this.#broker = new Broker({
      entries: () => this.#bundles.values(),
      entry: (id) => this.#bundles.get(id),
      defaultTimeoutMs: this.#options.callTimeoutMs,
      onBreakerChange: (bundle, from, to) => {
        this.events.dispatchEvent(new BreakerEvent(bundle, from, to));
      },
      clock,
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

  /**
   * The durable release registry (releases, rollback, traffic, desired state).
   *
   * @throws {BundleStateError} Before {@linkcode Engine.setup} opened the store.
   */
  get registry(): Registry {
    if (!this.#registry) throw new BundleStateError("The engine's registry is not open yet");
    return this.#registry;
  }

  /**
   * Opens the registry store and runs plugin `setup` hooks; called by {@linkcode createEngine}.
   *
   * @param store Registry storage; a Deno KV file in the data folder by default.
   */
  async setup(store?: Store): Promise<void> {
    // The data folder holds the admin token and every release: owner-only.
    await Deno.mkdir(this.#options.dataDir, { recursive: true, mode: 0o700 });
    // One engine per data folder, before any state is opened (README, "Limits and hardening").
    this.#dataLock = await lockDataDir(this.#options.dataDir);
    this.#store = store ?? await KvStore.open(`${this.#options.dataDir}/registry.sqlite3`);
    await this.#ownership.open(this.#store);
    this.#registry = new Registry(this, this.#store, {
      rollbackWarmMs: this.#options.rollbackWarmMs,
      clock: this.#options.clock,
    });
    this.#bus = new EventBus(this.#busHost(), this.#store.events, {
      ...this.#eventOptions,
      timeoutMs: this.#eventOptions.timeoutMs ?? this.#options.callTimeoutMs,
      clock: this.#eventOptions.clock ?? this.#options.clock,
    });
    const rules = await this.#store.getRules();
    if (rules !== undefined) {
      try {
        this.#broker.setRules(rules);
      } catch (error) {
        this.#log("error", `Stored governance rules were refused: ${(error as Error).message}`);
      }
    }
    await this.#plugins.sequential("setup", this);
    // After plugin setup, so the log plugins see it.
    if (this.#store instanceof KvStore && this.#store.migratedEvents > 0) {
      this.#log("info", `Moved ${this.#store.migratedEvents} event records to events.sqlite3`);
    }
  }

  /**
   * Restores released bundles from the registry (see {@linkcode Registry.restore}); failures are
   * reported, never thrown, so one broken bundle does not keep the engine down.
   *
   * @returns What was restored and what failed.
   */
  async restore(): Promise<RestoreReport> {
    const report = await this.registry.restore();
    const known = new Set((await this.#store!.listBundles()).map((b) => b.id));
    for (const id of this.#bundles.keys()) known.add(id);
    await this.#ownership.prune(known);
    for (const failure of report.failed) {
      this.#log("error", `Could not restore bundle ${failure.id}: ${failure.error}`);
    }
    return report;
  }

  /**
   * Starts event delivery and schedules, then runs plugin `ready` hooks; called by
   * {@linkcode createEngine} once bundles are restored.
   */
  async ready(): Promise<void> {
    await this.#bus?.start();
    await this.#plugins.sequential("ready", this);
  }

  /**
   * The durable event bus: publish, dead letters, replay, stats (README, "Events").
   *
   * @throws {BundleStateError} Before {@linkcode Engine.setup} opened the store.
   *
   * @example Publish an event
   * ```ts ignore
   * const { id, deliveries } = await engine.eventBus.publish("order.created", { orderId: "o-1" });
   * ```
   */
  get eventBus(): EventBus {
    if (!this.#bus) throw new BundleStateError("The engine's event bus is not open yet");
    return this.#bus;
  }

  #busHost(): EventBusHost {
    const bundle = (id: string) => {
      const entry = this.#bundles.get(id);
      return entry && busBundle(entry);
    };
    return {
      bundles: () => [...this.#bundles.values()].flatMap((e) => busBundle(e) ?? []),
      bundle,
      invoke: (service, method, input, options) => this.invoke(service, method, input, options),
      events: this.events,
      log: (level, message) => this.#log(level, message),
      maxHops: this.#options.maxHops,
    };
  }

  #log(level: "debug" | "info" | "warn" | "error", message: string): void {
    this.events.dispatchEvent(new LogEvent({ level, message }));
  }

  async #afterTransition(event: LifecycleEvent): Promise<void> {
    const info = event.error === undefined
      ? { id: event.bundle, version: event.version }
      : { id: event.bundle, version: event.version, error: event.error };
    if (event.to === "RESOLVED" && event.from === "INSTALLED") {
      await this.#plugins.parallel("bundleInstalled", info);
    } else if (event.to === "ACTIVE") await this.#plugins.parallel("bundleStarted", info);
    else if (event.to === "RESOLVED" && event.from === "STOPPING") {
      await this.#plugins.parallel("bundleStopped", info);
    } else if (event.to === "UNINSTALLED") {
      await this.#plugins.parallel("bundleUninstalled", info);
    }
  }

  /** Absolute path of the engine's data folder. */
  get dataDir(): string {
    return this.#options.dataDir;
  }

  /**
   * Installs a bundle from a folder: validates `bundle.json`, resolves permissions against the
   * ceiling, vets the module graph. The revision ends RESOLVED (not started).
   *
   * @param dir Bundle folder.
   * @param options `hash`: the release's content hash, shown in status.
   * @returns The revision's status.
   * @throws {ManifestError} For a bad manifest, permissions beyond the ceiling, or a field above
   * the operator's limits.
   * @throws {OwnershipError} When it declares a service or topic another bundle owns, ungranted.
   * @throws {ReleaseRefusedError} When vetting refuses the module graph.
   * @throws {BundleStateError} When this id@version is already installed.
   */
  async install(dir: string, options: { hash?: string } = {}): Promise<RevisionStatus> {
    this.#assertOpen();
    const policy: InstallPolicy = {
      dataRoot: this.#options.dataDir,
      ceiling: this.#options.ceiling,
      denoCommand: this.#options.denoCommand,
      installed: (id, version) => this.#bundles.get(id)?.revisions.has(version) ?? false,
    };
    if (this.#options.isolation) policy.isolation = this.#options.isolation;
    const { manifest, bundleDir, dataDir, grants, tier, tierReason, entryUrl } =
      await prepareInstall(dir, policy);
    const revision = new Revision({
      manifest,
      dir: bundleDir,
      dataDir,
      entryUrl,
      grants,
      tier,
      tierReason,
      admitLog: () => this.#logBudget.admit(manifest.id),
      countDroppedLogs: (count) => this.#logBudget.countDropped(manifest.id, count),
      ...(options.hash === undefined ? {} : { hash: options.hash }),
      transport: (name) =>
        this.#sandboxes.transport({ tier, name, grants, memoryMb: manifest.scaling.memoryMb }),
      settings: this.#settings,
      events: this.events,
      outbound: (call, from) => this.#outbound(call, from),
      publish: (event, from) => this.eventBus.publishFor(from.label, event),
      afterTransition: (event) => this.#afterTransition(event),
    });
    await this.#ownership.claim({
      id: manifest.id,
      services: Object.keys(manifest.services),
      topics: [...Object.keys(manifest.subscribe), ...Object.keys(manifest.eventMaps)],
    });
    // Another install of the same version may have finished while this one was vetting.
    if (policy.installed(manifest.id, manifest.version)) {
      throw new BundleStateError(
        `Cannot install bundle ${manifest.id}@${manifest.version}: it is already installed`,
      );
    }
    let entry = this.#bundles.get(manifest.id);
    if (!entry) {
      entry = { id: manifest.id, revisions: new Map() };
      this.#bundles.set(manifest.id, entry);
    }
    entry.revisions.set(manifest.version, revision);
    entry.current ??= manifest.version;
    await revision.transition("RESOLVED");
    return revision.status();
  }

  /**
   * Starts a bundle's revision (the current one by default) and waits until it is ACTIVE.
   *
   * @param id Bundle id.
   * @param version Version; the current one when omitted.
   * @throws {NotFoundError} For an unknown bundle or version.
   * @throws The load or `onStart` failure; the revision is RESOLVED again with the error kept.
   */
  async start(id: string, version?: string): Promise<RevisionStatus> {
    this.#assertOpen();
    const revision = this.#revision(id, version);
    await revision.start();
    return revision.status();
  }

  /**
   * Stops a bundle's revision: drains calls in flight, runs `onStop`, ends its instances.
   *
   * @param id Bundle id.
   * @param version Version; the current one when omitted.
   */
  async stop(id: string, version?: string): Promise<RevisionStatus> {
    const revision = this.#revision(id, version);
    await revision.stop();
    return revision.status();
  }

  /**
   * Makes a version the one that serves traffic and clears weights. The switch is atomic: calls
   * routed after it returns go to `version`, calls in flight finish where they are.
   *
   * @param id Bundle id.
   * @param version Version to serve.
   * @param options `requireActive` (default `true`): refuse unless the version is ACTIVE.
   * @throws {BundleStateError} When `requireActive` and the version is not ACTIVE.
   */
  activate(id: string, version: string, options: { requireActive?: boolean } = {}): void {
    const revision = this.#revision(id, version);
    if ((options.requireActive ?? true) && revision.state !== "ACTIVE") {
      throw new BundleStateError(
        `Cannot route traffic to ${revision.label}: it is ${revision.state}`,
      );
    }
    const entry = this.#bundles.get(id)!;
    // A warm standby version resumes normal scaling as soon as it gets traffic again.
    revision.setStandby(false);
    entry.current = version;
    entry.weights = undefined;
  }

  /**
   * Splits traffic between versions by weight. Every version with a weight above zero must be
   * ACTIVE; `undefined` returns to the current version only.
   *
   * @param id Bundle id.
   * @param weights Version → non-negative weight.
   * @throws {TypeError} For a malformed weight or weights that sum to zero.
   * @throws {BundleStateError} When a weighted version is not ACTIVE.
   */
  setWeights(id: string, weights: Record<string, number> | undefined): void {
    const entry = this.#bundles.get(id);
    if (!entry) throw new NotFoundError(`No bundle "${id}"`);
    if (weights === undefined) {
      entry.weights = undefined;
      return;
    }
    let total = 0;
    for (const [version, weight] of Object.entries(weights)) {
      if (!Number.isFinite(weight) || weight < 0) {
        throw new TypeError(`Weight of version "${version}" must be a non-negative number`);
      }
      const revision = this.#revision(id, version);
      if (weight > 0 && revision.state !== "ACTIVE") {
        throw new BundleStateError(
          `Cannot route traffic to ${revision.label}: it is ${revision.state}`,
        );
      }
      total += weight;
    }
    if (total <= 0) throw new TypeError("Traffic weights must sum to more than zero");
    for (const [version, weight] of Object.entries(weights)) {
      if (weight > 0) this.#revision(id, version).setStandby(false);
    }
    entry.weights = new Map(Object.entries(weights));
  }

  /**
   * The lifecycle state of one installed version.
   *
   * @param id Bundle id.
   * @param version Version.
   * @returns The state, or `undefined` when that version is not installed.
   */
  stateOf(id: string, version: string): string | undefined {
    return this.#bundles.get(id)?.revisions.get(version)?.state;
  }

  /**
   * Holds an ACTIVE version at one warm instance without autoscaling while it gets no traffic (a
   * warm rollback target), or resumes its normal scaling. No-op for a version that is not ACTIVE.
   *
   * @param id Bundle id.
   * @param version Version.
   * @param on Standby or not.
   * @throws {NotFoundError} For an unknown bundle or version.
   */
  standby(id: string, version: string, on: boolean): void {
    this.#revision(id, version).setStandby(on);
  }

  /**
   * Call outcomes of one version (counts, errors, latencies), as phased releases analyse them.
   *
   * @param id Bundle id.
   * @param version Version.
   * @returns The version's outcome statistics.
   * @throws {NotFoundError} For an unknown bundle or version.
   */
  outcomes(id: string, version: string): OutcomeStats {
    return this.#revision(id, version).outcomes;
  }

  /**
   * Uninstalls one version, or every version of a bundle: stops it first, then forgets it.
   *
   * @param id Bundle id.
   * @param version Only this version; all when omitted.
   */
  async uninstall(id: string, version?: string): Promise<void> {
    const entry = this.#bundles.get(id);
    if (!entry) throw new NotFoundError(`No bundle "${id}"`);
    const targets = version === undefined
      ? [...entry.revisions.values()]
      : [this.#revision(id, version)];
    for (const revision of targets) {
      await revision.uninstall();
      entry.revisions.delete(revision.version);
      if (entry.current === revision.version) entry.current = undefined;
      entry.weights?.delete(revision.version);
    }
    if (entry.revisions.size === 0) {
      this.#bundles.delete(id);
      // The last version is gone: its services and topics are free for another bundle.
      await this.disown(id);
    } else entry.current ??= [...entry.revisions.keys()].at(-1);
  }

  /**
   * Releases every service and topic a bundle owns, and forgets its log budget; the registry calls
   * it when a bundle is deleted (uninstalling its last version does too).
   *
   * @param id Bundle id.
   */
  async disown(id: string): Promise<void> {
    this.#logBudget.forget(id);
    await this.#ownership.release(id);
  }

  /**
   * The owner of a service or topic: the bundle id that first declared it.
   *
   * @param kind `"service"` or `"topic"`.
   * @param name Service name or topic.
   * @returns The owning bundle id, if any.
   */
  ownerOf(kind: "service" | "topic", name: string): string | undefined {
    return this.#ownership.owner(kind, name);
  }

  /**
   * Calls a service method through the routing layer.
   *
   * @param service Service name, optionally `Service@semverRange`.
   * @param method Method name.
   * @param input Input value.
   * @param options Route, timeout, deadline, trace context.
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
    options: EngineCallOptions = {},
  ): Promise<unknown> {
    return (await this.invoke(service, method, input, options)).result;
  }

  /**
   * Like {@linkcode Engine.call}, but also says which bundle served and whether it was degraded.
   *
   * @param service Service name, optionally `Service@semverRange`.
   * @param method Method name.
   * @param input Input value.
   * @param options Route, timeout, deadline, trace context.
   * @returns Result, serving `id@version`, degradation reason.
   */
  invoke(
    service: string,
    method: string,
    input: unknown,
    options: EngineCallOptions = {},
  ): Promise<CallOutcome> {
    this.#assertOpen();
    if (!SERVICE_NAME_PATTERN.test(service.split("@")[0] ?? "")) {
      return Promise.reject(new TypeError(`Invalid service name "${service}"`));
    }
    if (!METHOD_NAME_PATTERN.test(method)) {
      return Promise.reject(new TypeError(`Invalid method name "${method}"`));
    }
    // No caller (an HTTP client, a bundle) extends a call past the operator's maximum.
    const maxTimeoutMs = this.#options.ceiling.limits.maxTimeoutMs;
    if (options.timeoutMs !== undefined && options.timeoutMs > maxTimeoutMs) {
      options = { ...options, timeoutMs: maxTimeoutMs };
    }
    const call: CallInfo & { input: unknown; options: EngineCallOptions } = {
      service,
      method,
      input,
      options,
      hops: options.hops ?? 0,
    };
    if (options.route) call.route = options.route;
    if (options.traceparent) call.traceparent = options.traceparent;
    return this.#invoke(call);
  }

  #route(call: CallInfo & { input: unknown; options: EngineCallOptions }): Promise<CallOutcome> {
    const request: BrokerRequest = {
      service: call.service,
      method: call.method,
      input: call.input,
      hops: call.hops,
    };
    if (call.route !== undefined) request.route = call.route;
    if (call.options.deadline !== undefined) request.deadline = call.options.deadline;
    if (call.options.timeoutMs !== undefined) request.timeoutMs = call.options.timeoutMs;
    if (call.traceparent !== undefined) request.traceparent = call.traceparent;
    if (call.options.signal !== undefined) request.signal = call.options.signal;
    if (call.options.fromDetached) request.fromDetached = true;
    return this.#broker.call(request);
  }

  /** The governance rules in force (`PUT /admin/rules`). */
  get rules(): RulesDocument {
    return this.#broker.rules;
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
    const previous = this.#broker.rules;
    const applied = this.#broker.setRules(rules);
    try {
      await this.#store?.putRules(applied);
    } catch (error) {
      this.#broker.setRules(previous);
      throw error;
    }
    return applied;
  }

  /**
   * Forwards an HTTP request to a bundle's fetch handler.
   *
   * @param id Bundle id.
   * @param request The request, with the URL the bundle should see.
   * @param options Timeout, deadline, trace context.
   * @returns The bundle's response.
   */
  async fetchBundle(
    id: string,
    request: Request,
    options: EngineCallOptions = {},
  ): Promise<Response> {
    this.#assertOpen();
    const entry = this.#bundles.get(id);
    const revision = entry && servingRevision(entry);
    if (!revision) throw new NotFoundError(`No active bundle "${id}"`);
    if (revision.ready && !revision.ready.fetch) {
      throw new NotFoundError(`Bundle ${revision.label} has no fetch handler`);
    }
    const record = this.#record(revision, options);
    const wire = await toWireRequest(request, this.#options.maxBodyBytes);
    const response = fromWireResponse(await revision.fetch(wire, record));
    response.headers.set("x-bundle", revision.label);
    return response;
  }

  /**
   * Status of one bundle.
   *
   * @param id Bundle id.
   * @throws {NotFoundError} For an unknown bundle.
   */
  bundle(id: string): BundleStatus {
    const entry = this.#bundles.get(id);
    if (!entry) throw new NotFoundError(`No bundle "${id}"`);
    return bundleStatus(
      entry,
      this.#options.name,
      this.#broker.status(id),
      this.#logBudget.dropped(id),
    );
  }

  /** Status of every bundle. */
  status(): EngineStatus {
    const bundles = [...this.#bundles.values()].map((e) =>
      bundleStatus(e, this.#options.name, this.#broker.status(e.id), this.#logBudget.dropped(e.id))
    );
    return {
      uptimeMs: this.#options.clock.now() - this.#startedAt,
      bundles,
      leakedWorkers: bundles.reduce(
        (n, b) => n + b.revisions.reduce((m, r) => m + r.leakedWorkers, 0),
        0,
      ),
    };
  }

  /** Stops every bundle (draining calls in flight), runs plugin `close` hooks, refuses further work. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // No new deliveries or schedule firings; those in flight finish while bundles drain.
    this.#bus?.stop();
    // Phased releases and warm rollback targets stop first, so none of them moves traffic now.
    await this.#registry?.close();
    const revisions = [...this.#bundles.values()].flatMap((e) => [...e.revisions.values()]);
    await Promise.allSettled(revisions.map((r) => r.stop()));
    // Stopping has SIGKILLed every child; wait until each is reaped (and kill any stray one).
    await this.#sandboxes.reapAll();
    try {
      await this.#bus?.close();
      await this.#plugins.sequential("close", this);
    } finally {
      this.#store?.close();
      this.#dataLock?.release();
    }
  }

  /** `await using engine = await createEngine()` closes it at scope end. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new BundleStateError("The engine is closed");
  }

  #revision(id: string, version?: string): Revision {
    const entry = this.#bundles.get(id);
    if (!entry) throw new NotFoundError(`No bundle "${id}"`);
    const v = version ?? entry.current;
    const revision = v === undefined ? undefined : entry.revisions.get(v);
    if (!revision) throw new NotFoundError(`No version "${v}" of bundle "${id}"`);
    return revision;
  }

  #record(revision: Revision, options: EngineCallOptions): CallRecord {
    const timeout = Math.min(
      options.timeoutMs ?? revision.manifest.governance.timeoutMs ?? this.#options.callTimeoutMs,
      this.#options.ceiling.limits.maxTimeoutMs,
    );
    const deadline = Math.min(options.deadline ?? Infinity, this.#options.clock.now() + timeout);
    const record: CallRecord = { deadline, hops: options.hops ?? 0 };
    if (options.traceparent) record.traceparent = options.traceparent;
    return record;
  }

  #outbound(call: OutboundCall, from: Revision): Promise<unknown> {
    const hops = (call.parent?.hops ?? 0) + 1;
    try {
      // Calls made outside any call are charged to the bundle's detached budget (README, "Events").
      if (call.parent?.detached) this.eventBus.guard.takeDetached(from.manifest.id, "call");
      this.eventBus.guard.checkHops(hops, `Call chain from ${from.label}`);
    } catch (error) {
      return Promise.reject(error);
    }
    const options: EngineCallOptions = { hops };
    if (call.parent?.detached) options.fromDetached = true;
    if (call.parent) options.deadline = call.parent.deadline;
    if (call.parent?.traceparent) options.traceparent = call.parent.traceparent;
    // A cancelled call cancels the calls it made.
    if (call.parent?.signal) options.signal = call.parent.signal;
    if (call.timeoutMs !== undefined) options.timeoutMs = call.timeoutMs;
    if (call.route !== undefined) options.route = call.route as RouteSpec;
    return this.call(call.service, call.method, call.input, options);
  }
}

/**
 * Creates an engine.
 *
 * @param options Engine options.
 * @returns A running engine with no bundles.
 *
 * @example Install, start and call a bundle
 * ```ts ignore
 * import { createEngine } from "@bundlehost/sdk";
 * await using engine = await createEngine({ dataDir: ".bundlehost" });
 * await engine.install("./bundles/hello");
 * await engine.start("hello");
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
