/**
 * The engine's durable state around the {@linkcode BundleRuntime}: the data folder's lock, the
 * store (a Deno KV file, or cluster mode's shared one), the bundles' settings, the release registry
 * and the event bus, opened in that order and closed in the reverse one. The engine facade holds
 * one and runs its plugins' hooks between the steps (docs/architecture.md, "Layers").
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { EngineEvents } from "./engine_events.ts";
import { LogEvent } from "../core/lifecycle.ts";
import { KvStore, type Store } from "../store/store.ts";
import { type DataLock, lockDataDir } from "../store/data_lock.ts";
import { SecretBox, type SecretKeyOptions } from "../store/secret_box.ts";
import { EventBus, type EventBusOptions } from "../events/bus.ts";
import { busBundle } from "../events/delivery.ts";
import { Registry, type RestoreReport } from "../release/registry.ts";
import { ClusterMode, type ClusterOptions } from "../cluster/cluster_mode.ts";
import type { BundleRuntime } from "./bundle_runtime.ts";
import { BundleSettings } from "./bundle_settings.ts";
import { clusterHandlers } from "./cluster_handlers.ts";
import type { LogLevel } from "./log_follower.ts";
import type { ResolvedOptions } from "./options.ts";

/** What {@linkcode DurableState} needs from the engine that holds it. */
export interface DurableStateInit {
  /** The engine's resolved options (data folder, timeouts, hops, rollback warmth). */
  options: ResolvedOptions;
  /** The engine's events: the bus's deliveries, and the log records of this state. */
  events: EngineEvents;
  /** The engine's clock. */
  clock: Clock;
  /** Message and scheduled events: attempts, timeouts, backoff. */
  eventOptions: EventBusOptions;
  /** The key secrets are sealed under, and keys of earlier rotations. */
  secretKeys: SecretKeyOptions;
  /** Cluster mode, when the engine shares its registry through NATS. */
  cluster: ClusterOptions | undefined;
}

/**
 * The durable parts of one engine. Each part is `undefined` until {@linkcode DurableState.open}
 * opened it, so an engine whose setup failed half-way closes what it did open.
 */
export class DurableState {
  readonly #runtime: BundleRuntime;
  readonly #init: DurableStateInit;
  #store?: Store;
  #dataLock?: DataLock;
  #settings?: BundleSettings;
  #registry?: Registry;
  #bus?: EventBus;
  #cluster?: ClusterMode;

  /**
   * Creates the state of an engine; nothing is opened yet.
   *
   * @param runtime The engine's bundle runtime, which the registry and the bus drive.
   * @param init Options and parts of the engine.
   */
  constructor(runtime: BundleRuntime, init: DurableStateInit) {
    this.#runtime = runtime;
    this.#init = init;
  }

  /** The store, once open. */
  get store(): Store | undefined {
    return this.#store;
  }

  /** The bundles' config overrides and secrets, once open. */
  get settings(): BundleSettings | undefined {
    return this.#settings;
  }

  /** The durable release registry, once open. */
  get registry(): Registry | undefined {
    return this.#registry;
  }

  /** The durable event bus, once open. */
  get bus(): EventBus | undefined {
    return this.#bus;
  }

  /** Cluster mode, once connected; `undefined` for a single engine. */
  get cluster(): ClusterMode | undefined {
    return this.#cluster;
  }

  /**
   * Opens the data folder and the store, then the settings, the registry and the event bus around
   * the runtime, and applies the stored governance rules.
   *
   * @param store Registry storage; a Deno KV file in the data folder by default.
   */
  async open(store?: Store): Promise<void> {
    const { options, clock } = this.#init;
    // The data folder holds the admin token and every release: owner-only.
    await Deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    // One engine per data folder, before any state is opened (README, "Limits and hardening").
    this.#dataLock = await lockDataDir(options.dataDir);
    if (!store && this.#init.cluster) {
      this.#cluster = await ClusterMode.open(this.#init.cluster, options.dataDir, clock);
    }
    this.#store = store ?? this.#cluster?.store ??
      await KvStore.open(`${options.dataDir}/registry.sqlite3`);
    const runtime = this.#runtime;
    await runtime.ownership.open(this.#store);
    await this.#openSettings(this.#store);
    this.#registry = new Registry(runtime, this.#store, {
      rollbackWarmMs: options.rollbackWarmMs,
      clock,
      ...(this.#cluster ? { archives: this.#cluster.archives } : {}),
    });
    this.#openBus(this.#store);
    const rules = await this.#store.getRules();
    if (rules !== undefined) {
      try {
        runtime.setRules(rules);
      } catch (error) {
        this.#log("error", `Stored governance rules were refused: ${(error as Error).message}`);
      }
    }
  }

  /** After plugin setup, so the log plugins see it: what the store moved when it opened. */
  reportMigration(): void {
    if (this.#store instanceof KvStore && this.#store.migratedEvents > 0) {
      this.#log("info", `Moved ${this.#store.migratedEvents} event records to events.sqlite3`);
    }
  }

  /**
   * Restores released bundles from the registry and forgets owners of names no bundle holds.
   *
   * @param registry The open registry.
   * @returns What was restored and what failed (each failure logged).
   */
  async restore(registry: Registry): Promise<RestoreReport> {
    const report = await registry.restore();
    const known = new Set((await this.#store!.listBundles()).map((b) => b.id));
    for (const entry of this.#runtime.entries()) known.add(entry.id);
    await this.#runtime.ownership.prune(known);
    for (const failure of report.failed) {
      this.#log("error", `Could not restore bundle ${failure.id}: ${failure.error}`);
    }
    return report;
  }

  /** Starts event delivery and schedules, and cluster mode's following of other engines. */
  async start(): Promise<void> {
    await this.#bus?.start();
    this.#cluster?.start(
      clusterHandlers({
        runtime: this.#runtime,
        registry: this.#registry!,
        settings: this.#settings,
        store: this.#store!,
        log: (level, message) => this.#log(level, message),
      }),
    );
  }

  /**
   * First step of closing: no new deliveries or schedule firings, no change from another engine,
   * no phased release moving traffic. Calls in flight go on while the runtime drains.
   */
  async quiesce(): Promise<void> {
    // No new deliveries or schedule firings; those in flight finish while bundles drain.
    this.#bus?.stop();
    // Cluster mode: no change from another engine starts anything while bundles stop.
    await this.#cluster?.stopFollowing().catch(() => {});
    // Phased releases and warm rollback targets stop first, so none of them moves traffic now.
    await this.#registry?.close();
  }

  /** Last step of closing, once bundles and plugins are done: the store, NATS, the lock. */
  async release(): Promise<void> {
    this.#store?.close();
    // The shared event store and the NATS connection, once deliveries have finished.
    await this.#cluster?.close().catch(() => {});
    this.#dataLock?.release();
  }

  /** Builds the event bus over the runtime and links the runtime's publish and nested calls to it. */
  #openBus(store: Store): void {
    const runtime = this.#runtime;
    const { options, eventOptions } = this.#init;
    const bus = new EventBus(
      {
        bundles: () => [...runtime.entries()].flatMap((e) => busBundle(e) ?? []),
        bundle: (id) => {
          const entry = runtime.entry(id);
          return entry && busBundle(entry);
        },
        invoke: (call) => runtime.call(call),
        events: this.#init.events,
        log: (level, message) => this.#log(level, message),
        maxHops: options.maxHops,
      },
      store.events,
      {
        ...eventOptions,
        timeoutMs: eventOptions.timeoutMs ?? options.callTimeoutMs,
        clock: eventOptions.clock ?? this.#init.clock,
      },
    );
    this.#bus = bus;
    runtime.connect({
      publish: (event, from) => bus.publishFor(from.label, event),
      admitNested: (call, from) => {
        // Calls made outside any call are charged to the bundle's detached budget (README, "Events").
        if (call.detached) bus.guard.takeDetached(from.manifest.id, "call");
        bus.guard.checkHops(call.hops ?? 0, `Call chain from ${from.label}`);
      },
    });
  }

  /** Opens the secrets key and the settings service, before any bundle is restored. */
  async #openSettings(store: Store): Promise<void> {
    const runtime = this.#runtime;
    const settings = new BundleSettings({
      store: store.settings,
      box: await SecretBox.open(this.#init.options.dataDir, this.#init.secretKeys),
      clock: this.#init.clock,
      exists: async (id) => (await store.getBundle(id)) !== undefined,
      manifests: (id) => {
        const entry = runtime.entry(id);
        if (!entry) return [];
        const revisions = [...entry.revisions.values()];
        const active = revisions.filter((r) => r.version === entry.current);
        return [...active, ...revisions.filter((r) => r.version !== entry.current)]
          .map((r) => r.manifest);
      },
      changed: (id) => runtime.reconfigure(id),
      log: (level, message) => this.#log(level, message),
    });
    await settings.load((await store.listBundles()).map((b) => b.id));
    runtime.useSettings(settings);
    this.#settings = settings;
  }

  #log(level: LogLevel, message: string): void {
    this.#init.events.dispatchEvent(new LogEvent({ level, message }));
  }
}
