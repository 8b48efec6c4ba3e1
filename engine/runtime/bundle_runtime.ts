/**
 * The bundle runtime: the table of installed bundles and their versions, their lifecycle
 * (install, start, stop, activate, weights, uninstall) and the one call path every call takes
 * (admission, `wrapCall` plugins, broker, sandbox). It keeps nothing durable: the release
 * registry drives it through {@linkcode RuntimePort} and records intent in the store.
 *
 * The class is the runtime's one public surface (`engine.runtime`), so its verbs stay together:
 * each is a few lines over the bundle table (`bundle_table.ts`), a version's {@linkcode Revision},
 * the broker or the install step (`install.ts`), where the work is.
 *
 * @module
 */
import { VetCache } from "../release/vet_cache.ts";
import { BundleStateError, NotFoundError } from "../base/errors.ts";
import type { Clock } from "../base/clock.ts";
import { authorFolderOf, vetErrorInAuthorTerms } from "../base/author_terms.ts";
import { admitCall, type CallOutcome, type CallRequest } from "../call/request.ts";
import type { BundleRouting, InstallOptions, RuntimePort } from "../core/port.ts";
import { BreakerEvent, type LifecycleEvent } from "../core/lifecycle.ts";
import type { EngineEvents } from "./engine_events.ts";
import type { OutcomeStats } from "../core/outcomes.ts";
import { Revision, type RuntimeSettings } from "../core/revision.ts";
import type { RevisionStatus } from "../core/revision_status.ts";
import { Broker } from "../broker/broker.ts";
import type { BundleEntry } from "../broker/router.ts";
import type { RulesDocument } from "../broker/rules.ts";
import { METHOD_NAME_PATTERN, SERVICE_NAME_PATTERN } from "../manifest/manifest.ts";
import type { OperatorPolicy } from "../manifest/policy.ts";
import { Sandboxes } from "../sandbox/host/sandboxes.ts";
import type { OutboundPublish } from "../sandbox/host/types.ts";
import type { LifecycleState } from "../sdk/types.ts";
import { type InstallPolicy, prepareInstall } from "./install.ts";
import { LogBudget } from "./log_budget.ts";
import { LogBuffer } from "./log_buffer.ts";
import type { ResolvedOptions } from "./options.ts";
import { Ownership } from "./ownership.ts";
import { type BundleStatus, bundleStatus } from "./status.ts";
import { BundleStorage, type StorageUsage } from "../storage/storage.ts";
import { BundleTable } from "./bundle_table.ts";
import {
  type CallChain,
  defaultSettings,
  type RuntimeInit,
  type RuntimeLinks,
  type SettingsSource,
} from "./runtime_links.ts";

/**
 * The bundle table, lifecycle and call path; see the module documentation. Reach it as
 * `engine.runtime`; its verbs are immediate and not durable.
 *
 * @example Install and start a version without recording a release (a test, an embedding)
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * await engine.runtime.install("./bundles/hello");
 * await engine.runtime.start("hello");
 * console.log(engine.runtime.stateOf("hello", "1.0.0")); // "ACTIVE"
 * ```
 */
export class BundleRuntime implements RuntimePort {
  /** Lifecycle, instance and log events. */
  readonly events: EngineEvents;
  readonly #options: ResolvedOptions;
  readonly #settings: RuntimeSettings;
  readonly #clock: Clock;
  /** Installed bundles, their versions and routing, and who provides which service. */
  readonly #bundles = new BundleTable();
  /** Accepted module graphs by content, kept in the data folder across restarts. */
  readonly #vetCache: VetCache;
  readonly #broker: Broker;
  readonly #sandboxes: Sandboxes;
  readonly #ownership: Ownership;
  readonly #logBudget: LogBudget;
  /** `ctx.kv`, `ctx.cache` and outbound-fetch reports of every bundle. */
  readonly #storage: BundleStorage;
  /** Recent log records of each bundle and their live followers (`engine.logs`). */
  readonly logs: LogBuffer;
  readonly #chain: CallChain;
  readonly #afterTransition: ((event: LifecycleEvent) => Promise<void>) | undefined;
  #links?: RuntimeLinks;
  #settingsSource?: SettingsSource;
  #closed = false;

  /**
   * Creates an empty runtime.
   *
   * @param init Settings, events, clock and the plugin chain.
   */
  constructor(init: RuntimeInit) {
    const o = init.options;
    this.#options = o;
    this.#vetCache = new VetCache(undefined, `${this.#options.dataDir}/vet`);
    this.events = init.events;
    this.#clock = init.clock;
    this.#afterTransition = init.afterTransition;
    this.#settings = {
      callTimeoutMs: o.callTimeoutMs,
      startTimeoutMs: o.startTimeoutMs,
      hookTimeoutMs: o.hookTimeoutMs,
      drainMs: o.drainMs,
      heartbeatMs: o.heartbeatMs,
      unresponsiveMs: o.unresponsiveMs,
      probeMs: o.probeMs,
      autoscaleTickMs: o.autoscaleTickMs,
      clock: init.clock,
    };
    this.#ownership = new Ownership(
      o.ceiling,
      (service) => this.#broker.rules.services[service]?.providers,
    );
    const limits = o.ceiling.limits;
    this.#logBudget = new LogBudget({
      linesPerSecond: limits.logLinesPerSecond,
      burst: limits.logBurst,
      clock: init.clock,
    });
    this.logs = new LogBuffer(o.logs, init.clock);
    this.#storage = new BundleStorage(o.storage, init.clock, this.events);
    // Only bundles the runtime holds: a late line after a delete must not bring a ring back.
    this.events.on("log", (event) => {
      if (event.bundle !== undefined && this.#bundles.entry(event.bundle)) this.logs.append(event);
    });
    this.#sandboxes = new Sandboxes(o.denoCommand, o.channel);
    this.#broker = new Broker({
      entries: () => this.#bundles.entries(),
      entry: (id) => this.#bundles.entry(id),
      providers: (service) => this.#bundles.providers(service),
      serviceNames: () => this.#bundles.services(),
      onBreakerChange: (bundle, from, to) => {
        this.events.dispatchEvent(new BreakerEvent(bundle, from, to));
      },
      clock: init.clock,
    });
    const route: CallChain = (call) => this.#broker.call(call);
    this.#chain = init.wrapCall ? init.wrapCall(route) : route;
  }

  /**
   * Builds the worker tier's runtime as one module, in the data folder's `guest/`; workers boot
   * from the TypeScript entry until it is done, and for good when it fails.
   *
   * @returns Why the build failed, or `undefined`.
   */
  prepareSandboxes(): Promise<string | undefined> {
    return this.#sandboxes.prepareGuest(`${this.#options.dataDir}/guest`);
  }

  /** Absolute path of the engine's data folder. */
  get dataDir(): string {
    return this.#options.dataDir;
  }

  /** The operator policy in force. */
  get policy(): OperatorPolicy {
    return this.#options.ceiling;
  }

  /** Service and topic ownership (opened with the store). */
  get ownership(): Ownership {
    return this.#ownership;
  }

  /**
   * Connects the event layer; the composition root calls it once the bus exists. Until then a
   * bundle's publishes and calls to other bundles are refused.
   *
   * @param links Publishing and nested-call admission.
   */
  connect(links: RuntimeLinks): void {
    this.#links = links;
  }

  /**
   * Connects the engine's settings service; until then instances get the manifest's defaults.
   *
   * @param source Settings per version, and forgetting a deleted bundle.
   */
  useSettings(source: SettingsSource): void {
    this.#settingsSource = source;
  }

  /**
   * Sends a bundle's current settings to every instance of every installed version, each then
   * running `onRefresh` (README, "Config"); resolves once all have them.
   *
   * @param id Bundle id.
   */
  async reconfigure(id: string): Promise<void> {
    const entry = this.#bundles.entry(id);
    if (!entry) return;
    await Promise.all([...entry.revisions.values()].map((r) => r.reconfigure()));
  }

  /** Every bundle entry (the broker's and the event bus's view). */
  entries(): IterableIterator<BundleEntry> {
    return this.#bundles.entries();
  }

  /**
   * One bundle entry.
   *
   * @param id Bundle id.
   * @returns The entry, if installed.
   */
  entry(id: string): BundleEntry | undefined {
    return this.#bundles.entry(id);
  }

  /**
   * Installs a bundle from a folder: validates `bundle.json`, resolves permissions against the
   * ceiling, vets the module graph, claims its services and topics. The version ends RESOLVED.
   *
   * @param dir Bundle folder.
   * @param options `hash`: the release's content hash, shown in status; `exposes`: what the
   * version exposed when it last started (restore), shown until an instance starts; `source`: the
   * author's folder the release was copied from, so that its errors name the author's files.
   * @returns The version's status.
   * @throws {ManifestError} For a bad manifest, permissions beyond the ceiling, or a field above
   * the operator's limits.
   * @throws {OwnershipError} When it declares a service or topic another bundle owns, ungranted.
   * @throws {ReleaseRefusedError} When vetting refuses the module graph.
   * @throws {BundleStateError} When this id@version is already installed.
   */
  async install(
    dir: string,
    options: InstallOptions = {},
  ): Promise<RevisionStatus> {
    this.#assertOpen();
    const policy: InstallPolicy = {
      dataRoot: this.#options.dataDir,
      ceiling: this.#options.ceiling,
      denoCommand: this.#options.denoCommand,
      installed: (id, version) => this.#bundles.has(id, version),
      vetCache: this.#vetCache,
    };
    if (this.#options.isolation) policy.isolation = this.#options.isolation;
    if (options.written) policy.written = options.written;
    const source = authorFolderOf(dir, this.#options.dataDir, options.source);
    const prepared = await prepareInstall(dir, policy).catch((error) => {
      throw vetErrorInAuthorTerms(error, dir, source);
    });
    const { manifest, tier, grants } = prepared;
    const revision = new Revision({
      manifest,
      dir: prepared.bundleDir,
      dataDir: prepared.dataDir,
      entryUrl: prepared.entryUrl,
      grants,
      tier,
      tierReason: prepared.tierReason,
      admitLog: () => this.#logBudget.admit(manifest.id),
      countDroppedLogs: (count) => this.#logBudget.countDropped(manifest.id, count),
      ...(options.hash === undefined ? {} : { hash: options.hash }),
      ...(source === undefined ? {} : { source }),
      ...(options.exposes === undefined ? {} : { exposes: options.exposes }),
      transport: (name) =>
        this.#sandboxes.transport({ tier, name, grants, memoryMb: manifest.scaling.memoryMb }),
      settings: this.#settings,
      events: this.events,
      outbound: (call, from) => this.#nested(call, from),
      publish: (event, from) => this.#publish(event, from),
      storage: this.#storage.forBundle(manifest.id, prepared.dataDir, grants.net),
      afterTransition: (event) => this.#afterTransition?.(event) ?? Promise.resolve(),
      currentSettings: () => this.#settingsSource?.snapshot(manifest) ?? defaultSettings(manifest),
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
    this.#bundles.add(revision);
    await revision.transition("RESOLVED");
    return revision.status();
  }

  /**
   * Starts a version (the current one by default) and waits until it is ACTIVE.
   *
   * @param id Bundle id.
   * @param version Version; the current one when omitted.
   * @param options `atZero`: start it scaled to zero when its scaling allows (`minWorkers` and
   * `warmWorkers` 0): the first call starts an instance.
   * @returns The version's status.
   * @throws {NotFoundError} For an unknown bundle or version.
   * @throws The load or `onStart` failure; the version is RESOLVED again with the error kept.
   */
  async start(
    id: string,
    version?: string,
    options: { atZero?: boolean } = {},
  ): Promise<RevisionStatus> {
    this.#assertOpen();
    const revision = this.#revision(id, version);
    await revision.start(options);
    return revision.status();
  }

  /**
   * Vets a version that is not started: loads its module once in a sandbox of its own (no
   * `onStart`, no traffic) and checks its exports against the manifest.
   *
   * @param id Bundle id.
   * @param version Version.
   * @throws {ReleaseRefusedError} When the module lacks a declared or named service or method.
   * @throws The load failure.
   */
  async vet(id: string, version: string): Promise<void> {
    this.#assertOpen();
    await this.#revision(id, version).vet();
  }

  /**
   * Stops a version (the current one by default): drains calls in flight, runs `onStop`.
   *
   * @param id Bundle id.
   * @param version Version; the current one when omitted.
   * @returns The version's status.
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
    this.#bundles.activate(id, version, options.requireActive ?? true);
  }

  /**
   * Splits traffic between versions by weight (see {@linkcode checkWeights}). Every version with
   * a weight above zero must be ACTIVE; `undefined` returns to the current version only.
   *
   * @param id Bundle id.
   * @param weights Version → weight.
   * @throws {TypeError} For malformed weights.
   * @throws {BundleStateError} When a weighted version is not ACTIVE.
   */
  setWeights(id: string, weights: Record<string, number> | undefined): void {
    this.#bundles.setWeights(id, weights);
  }

  /**
   * The lifecycle state of one installed version.
   *
   * @param id Bundle id.
   * @param version Version.
   * @returns The state, or `undefined` when that version is not installed.
   */
  stateOf(id: string, version: string): LifecycleState | undefined {
    return this.#bundles.entry(id)?.revisions.get(version)?.state;
  }

  /**
   * How a bundle is routed now.
   *
   * @param id Bundle id.
   * @returns Current version, weights and each version's state; `undefined` when not installed.
   */
  routing(id: string): BundleRouting | undefined {
    return this.#bundles.routing(id);
  }

  /**
   * Holds an ACTIVE version at one warm instance without autoscaling while it gets no traffic (a
   * warm rollback target), or resumes its normal scaling.
   *
   * @param id Bundle id.
   * @param version Version.
   * @param on Standby or not.
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
    const entry = this.#bundles.entry(id);
    if (!entry) throw new NotFoundError(`No bundle "${id}"`);
    const targets = version === undefined
      ? [...entry.revisions.values()]
      : [this.#revision(id, version)];
    for (const revision of targets) {
      await revision.uninstall();
      this.#bundles.remove(entry, revision);
    }
    if (entry.revisions.size === 0) {
      this.#bundles.delete(id);
      // The last version is gone: its services and topics are free for another bundle.
      await this.disown(id);
    } else entry.current ??= [...entry.revisions.keys()].at(-1);
  }

  /**
   * Releases every service and topic a bundle owns, and forgets its log budget and recent logs.
   *
   * @param id Bundle id.
   */
  async disown(id: string): Promise<void> {
    // Its KV database is closed before anything removes its data folder.
    await this.#storage.forget(id);
    this.#logBudget.forget(id);
    this.#settingsSource?.forget(id);
    this.logs.drop(id);
    await this.#ownership.release(id);
  }

  /**
   * Makes one call: admits it (names checked, deadline fixed once, clamped to the operator's
   * maximum), then runs it through the `wrapCall` plugins and the broker.
   *
   * @param call The call.
   * @returns Result, serving `id@version`, degradation reason.
   * @throws {TypeError} For a malformed service or method name.
   * @throws {NotFoundError} When nothing can serve the call.
   * @throws {CallTimeoutError} At the deadline.
   * @throws {CallCancelledError} When the call's signal aborts.
   * @throws {BundleCallError} When the bundle threw.
   */
  call(call: CallRequest): Promise<CallOutcome> {
    try {
      this.#assertOpen();
      if (call.kind !== "fetch") {
        if (!SERVICE_NAME_PATTERN.test(call.service.split("@")[0] ?? "")) {
          throw new TypeError(`Invalid service name "${call.service}"`);
        }
        if (!METHOD_NAME_PATTERN.test(call.method)) {
          throw new TypeError(`Invalid method name "${call.method}"`);
        }
      }
      return this.#chain(admitCall(call, this.#clock.now(), {
        defaultTimeoutMs: this.#options.callTimeoutMs,
        maxTimeoutMs: this.#options.ceiling.limits.maxTimeoutMs,
      }));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The governance rules in force. */
  get rules(): RulesDocument {
    return this.#broker.rules;
  }

  /**
   * Replaces the governance rules (not durably: the engine stores them).
   *
   * @param rules The rules document.
   * @returns The normalized document now in force.
   * @throws {TypeError} Listing every problem; the old rules stay in force.
   */
  setRules(rules: unknown): RulesDocument {
    return this.#broker.setRules(rules);
  }

  /**
   * Status of one bundle.
   *
   * @param id Bundle id.
   * @returns The status, with a service URI per method.
   * @throws {NotFoundError} For an unknown bundle.
   */
  bundle(id: string): BundleStatus {
    const entry = this.#bundles.entry(id);
    if (!entry) throw new NotFoundError(`No bundle "${id}"`);
    const name = this.#options.name;
    return bundleStatus(entry, name, this.#broker.status(id), this.#logBudget.dropped(id));
  }

  /**
   * Status of every bundle.
   *
   * @returns One status per bundle.
   */
  bundles(): BundleStatus[] {
    return [...this.#bundles.ids()].map((id) => this.bundle(id));
  }

  /**
   * Stops every version (draining calls in flight) and reaps every child; refuses further work.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const revisions = [...this.#bundles.entries()].flatMap((e) => [...e.revisions.values()]);
    await Promise.allSettled(revisions.map((r) => r.stop()));
    // Stopping has SIGKILLed every child; wait until each is reaped (and kill any stray one).
    await this.#sandboxes.reapAll();
    await this.#storage.close();
  }

  /**
   * What each bundle's `ctx.kv` and `ctx.cache` hold now (bundles that used them since the engine
   * started).
   *
   * @returns One record per bundle.
   */
  storageUsage(): StorageUsage[] {
    return this.#storage.usage();
  }

  #assertOpen(): void {
    if (this.#closed) throw new BundleStateError("The engine is closed");
  }

  #revision(id: string, version?: string): Revision {
    return this.#bundles.revision(id, version);
  }

  /** A call a bundle makes: admitted by the event layer's limits, then the same call path. */
  #nested(call: CallRequest, from: Revision): Promise<unknown> {
    try {
      if (!this.#links) throw new BundleStateError("Calls between bundles are not running yet");
      this.#links.admitNested(call, from);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.call(call).then((outcome) => outcome.result);
  }

  #publish(event: OutboundPublish, from: Revision): Promise<unknown> {
    if (!this.#links) return Promise.reject(new BundleStateError("Events are not running yet"));
    return this.#links.publish(event, from);
  }
}
