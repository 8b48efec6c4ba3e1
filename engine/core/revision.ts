/**
 * A bundle revision: one released version of a bundle, with its lifecycle state and its instances.
 *
 * @module
 */
import { BundleStateError, UnavailableError } from "../base/errors.ts";
import type { Instance, OutboundPublish } from "../sandbox/host/instance.ts";
import type { StorageHandle } from "../sandbox/host/instance.ts";
import type { ReadyInfo, TransportFactory } from "../sandbox/host/instance.ts";
import type { AdmittedCall, CallRequest } from "../call/request.ts";
import { assertTransition, LifecycleEvent, LogEvent } from "./lifecycle.ts";
import type { Manifest } from "../manifest/manifest.ts";
import { isFailure, OutcomeStats } from "./outcomes.ts";
import type { ResolvedPermissions } from "../manifest/permissions.ts";
import type { InstancePool } from "../scaling/pool.ts";
import { createRevisionPool, type RevisionPoolInit, spawnInstance } from "./revision_pool.ts";
import { assertContract } from "../manifest/contract.ts";
import { RevisionScaling } from "./scaling.ts";
import type { IsolationTier, LifecycleState } from "../sdk/types.ts";
import { type Clock, systemClock } from "../base/clock.ts";
import type { WireSettings } from "../sandbox/wire/protocol.ts";
import type { Exposed, InstanceStatus, RevisionStatus } from "./revision_status.ts";

/** Timings shared by every revision of an engine. */
export interface RuntimeSettings {
  /** Default call timeout, ms. */
  callTimeoutMs: number;
  /** Time allowed to load a bundle and run `onStart`, ms. */
  startTimeoutMs: number;
  /** Time allowed for `onStop`/`onRefresh`, ms. */
  hookTimeoutMs: number;
  /** Default drain period when stopping, ms. */
  drainMs: number;
  /** Heartbeat period, ms. */
  heartbeatMs: number;
  /** Missed heartbeats for this long → unresponsive, ms. */
  unresponsiveMs: number;
  /** Liveness probe after a timed-out call, ms. */
  probeMs: number;
  /** Autoscaler period, ms. */
  autoscaleTickMs: number;
  /** The engine's clock. @default {systemClock} */
  clock?: Clock;
}

/** Everything a revision needs, prepared by the engine at install. */
export interface RevisionInit {
  /** Validated manifest. */
  manifest: Manifest;
  /** Release folder (real path). */
  dir: string;
  /** Persistent data folder. */
  dataDir: string;
  /** Entry module URL. */
  entryUrl: string;
  /** Exact grants, including the module files. */
  grants: ResolvedPermissions;
  /** Isolation tier. */
  tier: IsolationTier;
  /** Why this tier (the operator policy's decision), shown in status. */
  tierReason?: string;
  /** Whether the bundle's log budget admits one more line (the engine's per-bundle budget). */
  admitLog?(): boolean;
  /** Lines the sandbox dropped itself, to count with the bundle's other drops. */
  countDroppedLogs?(count: number): void;
  /** Content hash of the release, when known. */
  hash?: string;
  /** The author's folder the release came from: errors name its files (base/author_terms.ts). */
  source?: string;
  /** What it exposed when it last started (restore), until an instance reports it again. */
  exposes?: Exposed;
  /** Builds a transport for one instance. */
  transport(instanceName: string): TransportFactory;
  /** Engine timings. */
  settings: RuntimeSettings;
  /** Engine events. */
  events: EventTarget;
  /** Routes a call made by the bundle. */
  outbound(call: CallRequest, from: Revision): Promise<unknown>;
  /** Publishes an event for the bundle (`ctx.events`). */
  publish?(event: OutboundPublish, from: Revision): Promise<unknown>;
  /** The bundle's storage (`ctx.kv`, `ctx.cache`) and outbound-fetch reports. */
  storage?: StorageHandle;
  /** Runs after every transition (plugin hooks); its failure is rethrown to the operation's caller. */
  afterTransition?(event: LifecycleEvent): Promise<void>;
  /** The bundle's settings now (`ctx.config`, `ctx.secrets`), for each instance it starts. */
  currentSettings?(): WireSettings;
}

/** One version of a bundle in the engine. */
export class Revision {
  /** Bundle id. */
  readonly id: string;
  /** Version. */
  readonly version: string;
  /** `id@version`. */
  readonly label: string;
  /** Manifest. */
  readonly manifest: Manifest;
  /** Release folder. */
  readonly dir: string;
  /** Tier. */
  readonly tier: IsolationTier;
  /** Lifecycle state. */
  state: LifecycleState = "INSTALLED";
  /** Last failure. */
  error?: string;
  /** What the bundle exposes, from its first ready instance. */
  ready?: ReadyInfo;

  readonly #init: RevisionInit;
  readonly #outcomes = new OutcomeStats();
  #pool?: InstancePool;
  #scaling?: RevisionScaling;
  #leaked = 0;
  #restarts = 0;
  #lastExitReason?: string;
  #transitionChain: Promise<void> = Promise.resolve();

  /**
   * Creates a revision in state INSTALLED.
   *
   * @param init Prepared install data.
   */
  constructor(init: RevisionInit) {
    this.#init = init;
    this.manifest = init.manifest;
    this.id = init.manifest.id;
    this.version = init.manifest.version;
    this.label = `${this.id}@${this.version}`;
    this.dir = init.dir;
    this.tier = init.tier;
    // Hooks are the instance's own business: a revision reads services and fetch only.
    if (init.exposes) this.ready = { ...init.exposes, hooks: [] };
  }

  /** Release content hash. */
  get hash(): string | undefined {
    return this.#init.hash;
  }

  /** Calls in flight. */
  get inflight(): number {
    return this.#pool?.inflight ?? 0;
  }

  /** Call outcomes (counts, errors, latencies), for phased-release analysis. */
  get outcomes(): OutcomeStats {
    return this.#outcomes;
  }

  /** Whether the revision is held in standby (warm rollback target without traffic). */
  get standby(): boolean {
    return this.#scaling?.standby ?? false;
  }

  /**
   * Holds the running revision at one warm serving instance without autoscaling (it gets no
   * traffic but can take it back at once), or resumes normal scaling. No-op unless ACTIVE.
   *
   * @param on Standby or not.
   */
  setStandby(on: boolean): void {
    if (this.state === "ACTIVE") this.#scaling?.setStandby(on);
  }

  /**
   * Moves to a new state, dispatches a {@linkcode LifecycleEvent}, and runs the engine's
   * after-transition work (plugin hooks).
   *
   * @param to New state.
   * @param error Failure that caused the change, if any.
   * @throws {BundleStateError} For an illegal transition (the state is unchanged).
   * @throws {PluginError} When a plugin hook fails (the state has changed).
   */
  async transition(to: LifecycleState, error?: string): Promise<void> {
    assertTransition(this.label, this.state, to);
    const from = this.state;
    this.state = to;
    if (error !== undefined) this.error = error;
    const event = new LifecycleEvent(this.id, this.version, from, to, error);
    this.#init.events.dispatchEvent(event);
    await this.#init.afterTransition?.(event);
  }

  /** Serializes lifecycle operations so a start and a stop never interleave. */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#transitionChain.then(work, work);
    this.#transitionChain = run.then(() => {}, () => {});
    return run;
  }

  /**
   * Starts the revision: RESOLVED → STARTING → ACTIVE, or back to RESOLVED with the error kept.
   * `atZero` (restore) starts it scaled to zero when its scaling allows (`minWorkers` and
   * `warmWorkers` 0): no instance until the first call, as after an idle scale-down.
   *
   * @param options `atZero`: start scaled to zero when the scaling allows it.
   * @throws {BundleStateError} When not RESOLVED.
   * @throws The load or `onStart` failure.
   */
  start(options: { atZero?: boolean } = {}): Promise<void> {
    return this.#serial(async () => {
      if (this.state === "ACTIVE") return;
      if (this.state !== "RESOLVED") {
        throw new BundleStateError(`Cannot start bundle ${this.label}: it is ${this.state}`);
      }
      await this.transition("STARTING");
      const scaling = new RevisionScaling({
        bundle: this.id,
        version: this.version,
        scaling: this.manifest.scaling,
        tickMs: this.#init.settings.autoscaleTickMs,
        events: this.#init.events,
        clock: this.#init.settings.clock ?? systemClock,
      });
      const pool = this.#createPool(scaling);
      try {
        // Scaled to zero, no instance loads now: what it exposed when it last started is checked.
        if (options.atZero && this.ready) assertContract(this.manifest, this.ready.services);
        await pool.open({
          atZero: options.atZero === true && this.manifest.scaling.warmWorkers === 0,
        });
      } catch (error) {
        this.#absorb(pool);
        await this.transition("RESOLVED", (error as Error).message);
        throw error;
      }
      this.#pool = pool;
      this.#scaling = scaling;
      this.ready = pool.instances.find((i) => i.ready)?.ready ?? this.ready;
      this.error = undefined;
      scaling.start();
      await this.transition("ACTIVE");
    });
  }

  /**
   * Vets a revision that is not started (a release that moves no traffic, a stopped bundle): loads
   * its module once in a sandbox of its own, without `onStart` or traffic, checks what it exports
   * against the manifest (`assertContract`), and ends that sandbox. The state does not change.
   *
   * @throws {ReleaseRefusedError} When the module lacks a declared or named service or method.
   * @throws The load failure.
   */
  vet(): Promise<void> {
    return this.#serial(async () => {
      const clock = this.#init.settings.clock ?? systemClock;
      const instance = spawnInstance(this.#poolInit(), () => {});
      try {
        const ready = await instance.start(clock.now() + this.#init.settings.startTimeoutMs);
        assertContract(this.manifest, ready.services);
        this.ready = ready;
      } finally {
        instance.kill("vetted at release");
      }
    });
  }

  /**
   * Stops the revision: ACTIVE → STOPPING (drain up to `drainMs`, then `onStop`) → RESOLVED.
   */
  stop(): Promise<void> {
    return this.#serial(() => this.#stop());
  }

  async #stop(error?: string): Promise<void> {
    if (this.state !== "ACTIVE") return;
    await this.transition("STOPPING");
    this.#scaling?.stop();
    const pool = this.#pool;
    if (pool) {
      await pool.drain(this.manifest.governance.drainMs ?? this.#init.settings.drainMs);
      await pool.close(true);
      this.#absorb(pool);
    }
    this.#pool = undefined;
    this.#scaling = undefined;
    await this.transition("RESOLVED", error);
  }

  /** Marks the revision uninstalled; it must not be ACTIVE. */
  uninstall(): Promise<void> {
    return this.#serial(async () => {
      await this.#stop();
      if (this.state !== "UNINSTALLED") await this.transition("UNINSTALLED");
    });
  }

  /**
   * Runs a call (a service method or the fetch handler) on the least-loaded instance.
   *
   * @param call The admitted call.
   * @returns The result; for a `fetch`, the response as data.
   */
  call(call: AdmittedCall): Promise<unknown> {
    return this.#run(call.deadline, (i) => i.call(call));
  }

  /**
   * Runs one call on an instance. A ready instance is picked and the call sent synchronously, so
   * the instance's calls in flight rise before the next pick (concurrent calls spread over the
   * instances); otherwise the call waits in the activator. Records concurrency and the outcome.
   */
  async #run<T>(deadline: number, work: (instance: Instance) => Promise<T>): Promise<T> {
    const pool = this.#pool;
    const scaling = this.#scaling;
    if (this.state !== "ACTIVE" || !pool || !scaling) {
      throw new UnavailableError(`Bundle ${this.label} is ${this.state}, not ACTIVE`);
    }
    const clock = this.#init.settings.clock ?? systemClock;
    const started = clock.monotonic();
    scaling.meter.begin(started);
    let instance = pool.tryAcquire();
    let failed = false;
    try {
      instance ??= await pool.acquire(deadline);
      return await work(instance);
    } catch (error) {
      failed = isFailure(error);
      throw error;
    } finally {
      const ended = clock.monotonic();
      scaling.meter.end(ended);
      this.#outcomes.record(failed, ended - started);
      if (instance) pool.release(instance);
    }
  }

  /** Current status. */
  status(): RevisionStatus {
    const services: RevisionStatus["services"] = {};
    for (const [name, version] of Object.entries(this.manifest.services)) {
      services[name] = { version, methods: this.ready?.services[name] ?? [] };
    }
    const pool = this.#pool;
    const status: RevisionStatus = {
      id: this.id,
      version: this.version,
      state: this.state,
      isolation: this.tier,
      services,
      attributes: this.manifest.attributes,
      fetch: this.ready?.fetch ?? false,
      instances: (pool?.instances ?? []).map((i) => {
        const s: InstanceStatus = {
          id: i.id,
          tier: i.tier,
          state: pool?.roleOf(i) === "warm" ? "warm" : i.state,
          inflight: i.inflight,
          startedAt: new Date(i.createdAt).toISOString(),
        };
        if (i.pid !== undefined) s.pid = i.pid;
        if (i.memory) s.memory = i.memory;
        return s;
      }),
      restarts: this.#restarts + (pool?.restarts ?? 0),
      leakedWorkers: this.#leaked + (pool?.leaked ?? 0),
      calls: { total: this.#outcomes.totals.calls, errors: this.#outcomes.totals.errors },
    };
    if (this.#scaling) status.scaling = this.#scaling.status();
    if (this.#init.tierReason !== undefined) status.isolationReason = this.#init.tierReason;
    if (this.error !== undefined) status.error = this.error;
    if (this.#init.hash !== undefined) status.hash = this.#init.hash;
    const lastExit = pool?.lastExitReason ?? this.#lastExitReason;
    if (lastExit !== undefined) status.lastExitReason = lastExit;
    return status;
  }

  /** Keeps a closed pool's counters in the revision's totals. */
  #absorb(pool: InstancePool): void {
    this.#leaked += pool.leaked;
    this.#restarts += pool.restarts;
    if (pool.lastExitReason !== undefined) this.#lastExitReason = pool.lastExitReason;
  }

  #createPool(scaling: RevisionScaling): InstancePool {
    const init = this.#init;
    return createRevisionPool({
      ...this.#poolInit(),
      scaling,
      onStarted: (instance) => {
        if (instance.ready) this.ready = instance.ready;
      },
      onCrashLoop: (reason) => {
        this.#serial(() => this.#stop(reason)).catch((error) => {
          init.events.dispatchEvent(
            new LogEvent({
              bundle: this.id,
              version: this.version,
              level: "error",
              message: `Stopping after a crash loop failed: ${(error as Error).message}`,
            }),
          );
        });
      },
    });
  }

  /** What every instance of this revision is built from. */
  #poolInit(): Omit<RevisionPoolInit, "scaling" | "onCrashLoop"> {
    const init = this.#init;
    return {
      manifest: init.manifest,
      tier: this.tier,
      dataDir: init.dataDir,
      entryUrl: init.entryUrl,
      folder: {
        dir: init.dir,
        entry: init.manifest.entry,
        data: init.dataDir,
        ...(init.source === undefined ? {} : { source: init.source }),
      },
      transport: init.transport,
      settings: init.settings,
      events: init.events,
      outbound: (call) => init.outbound(call, this),
      ...(init.publish ? { publish: (event: OutboundPublish) => init.publish!(event, this) } : {}),
      ...(init.admitLog ? { admitLog: init.admitLog } : {}),
      ...(init.storage ? { storage: init.storage } : {}),
      ...(init.countDroppedLogs ? { countDroppedLogs: init.countDroppedLogs } : {}),
      ...(init.currentSettings ? { currentSettings: init.currentSettings } : {}),
    };
  }

  /**
   * Sends the bundle's current settings to every instance alive (serving, warm, starting,
   * retiring), each then running `onRefresh` (README, "Config"). An instance whose `onRefresh`
   * fails keeps serving with the new settings; the failure is logged.
   */
  async reconfigure(): Promise<void> {
    const instances = this.#pool?.instances ?? [];
    const clock = this.#init.settings.clock ?? systemClock;
    const deadline = clock.now() + this.#init.settings.hookTimeoutMs;
    const results = await Promise.allSettled(instances.map((i) => i.reconfigure(deadline)));
    for (const result of results) {
      if (result.status === "fulfilled") continue;
      this.#init.events.dispatchEvent(
        new LogEvent({
          bundle: this.id,
          version: this.version,
          level: "warn",
          message: `onRefresh after a settings change failed: ${(result.reason as Error).message}`,
        }),
      );
    }
  }
}
