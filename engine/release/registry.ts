/**
 * The release registry: durable releases, activation, rollback, traffic weights and desired state,
 * on top of the engine's in-memory lifecycle.
 *
 * **Durability.** A release is acknowledged (the promise resolves) only after its files are in the
 * immutable release folder (written to a temporary name, synced, renamed) and its record is
 * committed to the store. Work done before a crash but never acknowledged is cleaned up by
 * {@linkcode Registry.restore}: folders without a record are removed.
 *
 * **Switching.** A new or rolled-back version is started before traffic moves to it, and the old
 * version is drained and stopped only after the switch is recorded, so no call is refused on the
 * way; the old version stays installed for a rollback. The version that served just before stays
 * ACTIVE and warm (standby, one instance, no traffic) for the engine's `rollbackWarmMs`, so a
 * rollback to it is only a traffic switch.
 *
 * **Phased releases.** {@linkcode Registry.canary} steps a released version's traffic weight up and
 * promotes it, or rolls back by itself when its error ratio or p99 latency crosses a threshold
 * (see `canary.ts`). Its state is in the bundle record; an engine restart during a phased release
 * rolls it back to the stable version (nothing is left half-split without a controller). Any
 * operator action on the bundle (release, rollback, traffic, stop, delete) aborts it.
 *
 * **Layout.** {@linkcode Registry} is the public face: each operation on a bundle runs under that
 * bundle's lock (`../base/keyed_queue.ts`) and is carried out by concern in `release_source.ts` (reading a
 * release), `release_transaction.ts` (storing and activating it), `bundle_lifecycle.ts` (start,
 * stop, delete, prune), `traffic_verbs.ts` (rollback, weights, phased release), `restore.ts` and
 * `converge.ts`, over the parts they share (`registry_parts.ts`, `installed_release.ts`).
 *
 * @module
 */
import type { RuntimePort } from "../core/port.ts";
import type { BundleRecord, ReleaseRecord, Store } from "../store/store.ts";
import { resolveCanaryPlan } from "./canary.ts";
import type { CanaryOptions, CanaryState } from "../store/canary_state.ts";
import type { Clock } from "../base/clock.ts";
import { TrafficControl } from "./traffic.ts";
import type { OutcomeWindow } from "../core/outcomes.ts";
import type { ReleaseArchives } from "../store/archives.ts";
import { convergeBundle } from "./converge.ts";
import { DEFAULT_LIMITS, type ReleaseLimits } from "./files.ts";
import { KeyedQueue } from "../base/keyed_queue.ts";
import { bundleRecord, type RegistryParts, releaseDir } from "./registry_parts.ts";
import { ensureInstalled } from "./installed_release.ts";
import { readRelease, type ReleaseOptions, type ReleaseSource } from "./release_source.ts";
import { commitRelease, type ReleaseResult } from "./release_transaction.ts";
import {
  deleteBundle,
  pruneBundle,
  removeBundleFolders,
  startBundle,
  stopBundle,
} from "./bundle_lifecycle.ts";
import { beginCanary, rollbackBundle, setBundleTraffic } from "./traffic_verbs.ts";
import { restoreBundles, type RestoreReport } from "./restore.ts";

export type { ReleaseOptions, ReleaseSource } from "./release_source.ts";
export type { ReleaseResult } from "./release_transaction.ts";
export type { RestoreReport } from "./restore.ts";

/** Options for {@linkcode Registry}. */
export interface RegistryOptions {
  /** Release size limits. @default {DEFAULT_LIMITS} */
  limits?: ReleaseLimits;
  /**
   * How long the version that served before a switch stays ACTIVE and warm, ms; 0 stops it at
   * once. @default {300000}
   */
  rollbackWarmMs?: number;
  /** Time of warm rollback targets and phased releases. @default {systemClock} */
  clock?: Clock;
  /**
   * Cluster mode: where release archives are shared. A release is stored there before it is
   * acknowledged; a version whose folder this engine lacks is fetched from there and verified.
   */
  archives?: ReleaseArchives;
}

/**
 * Registry view of one bundle: its record and every released version.
 *
 * @example Every bundle and its versions
 * ```ts
 * import { createEngine, type RegistryEntry } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const entries: RegistryEntry[] = await engine.registry.list();
 * for (const e of entries) console.log(e.record.id, e.record.active, e.releases.map((r) => r.version));
 * ```
 */
export interface RegistryEntry {
  /** The bundle record. */
  record: BundleRecord;
  /** Released versions, in release order. */
  releases: ReleaseRecord[];
}

/**
 * Durable release management for an engine.
 *
 * @example Release, split traffic, roll back
 * ```ts
 * import { createEngine, type Registry } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const registry: Registry = engine.registry;
 * await registry.release({ path: "./hello-1.1.0" });
 * await registry.setTraffic("hello", { "1.1.0": 10, "1.0.0": 90 });
 * const serving = await registry.rollback("hello");
 * ```
 */
export class Registry {
  readonly #parts: RegistryParts;
  readonly #locks = new KeyedQueue();

  /**
   * Creates a registry; the engine creates one in {@linkcode createEngine}.
   *
   * @param engine The engine whose bundles it manages.
   * @param store Durable storage.
   * @param options Release limits, warm rollback period.
   */
  constructor(engine: RuntimePort, store: Store, options: RegistryOptions = {}) {
    const lock = <T>(id: string, work: () => Promise<T>): Promise<T> => this.#locks.run(id, work);
    this.#parts = {
      engine,
      store,
      root: `${engine.dataDir}/releases`,
      limits: options.limits ?? DEFAULT_LIMITS,
      archives: options.archives,
      lock,
      traffic: new TrafficControl({
        engine,
        store,
        lock,
        rollbackWarmMs: options.rollbackWarmMs ?? 300_000,
        ...(options.clock ? { clock: options.clock } : {}),
      }),
    };
  }

  /** The store behind the registry. */
  get store(): Store {
    return this.#parts.store;
  }

  /** Release folder of one version. */
  releaseDir(id: string, version: string): string {
    return releaseDir(this.#parts, id, version);
  }

  /**
   * Releases a bundle: stores an immutable copy, installs (vets) and starts it, records it, then
   * moves traffic to it and stops the previous version. Releasing the same id@version with the same
   * content again is a no-op; with different content it is refused.
   *
   * @param source A folder path or a tar / tar.gz archive.
   * @param options `activate: false` stores and installs the version without moving traffic.
   * @returns What was released.
   * @throws {ManifestError} For a bad or missing bundle.json.
   * @throws {ReleaseRefusedError} For unsafe files, an unsafe archive, or a refused module graph.
   * @throws {BundlehostError} `CONFLICT` when the version exists with different content.
   */
  async release(source: ReleaseSource, options: ReleaseOptions = {}): Promise<ReleaseResult> {
    const read = await readRelease(source, options.version, this.#parts.limits);
    return await this.#locks.run(
      read.id,
      () => commitRelease(this.#parts, read, options.activate ?? true),
    );
  }

  /**
   * Starts a bundle (its serving versions) and records that it should run.
   *
   * @param id Bundle id.
   */
  start(id: string): Promise<void> {
    return this.#locks.run(id, () => startBundle(this.#parts, id));
  }

  /**
   * Stops every version of a bundle and records that it should stay stopped (also across restarts).
   *
   * @param id Bundle id.
   */
  stop(id: string): Promise<void> {
    return this.#locks.run(id, () => stopBundle(this.#parts, id));
  }

  /**
   * Re-activates an earlier released version from the store (the source folder is not touched).
   * When that version is still warm (the one active before, within `rollbackWarmMs`), this is only
   * a traffic switch: calls in flight finish where they are, and every call routed after the
   * promise resolves goes to `version`. During a phased release, the default target is the
   * stable version (the release is aborted and its new version stopped).
   *
   * @param id Bundle id.
   * @param version Version to go back to; by default the one active before the current one.
   * @returns The version now active.
   * @throws {BundleStateError} When there is no earlier version.
   */
  rollback(id: string, version?: string): Promise<string> {
    return this.#locks.run(id, () => rollbackBundle(this.#parts, id, version));
  }

  /**
   * Splits traffic between released versions by weight; starts every weighted version first.
   *
   * @param id Bundle id.
   * @param weights Version → non-negative weight; at least one above zero.
   * @throws {TypeError} For malformed weights.
   * @throws {NotFoundError} For a version that was never released.
   */
  setTraffic(id: string, weights: Record<string, number>): Promise<void> {
    return this.#locks.run(id, () => setBundleTraffic(this.#parts, id, weights));
  }

  /**
   * Deletes a bundle: every version is stopped and uninstalled, its records, release folders and
   * data folder are removed.
   *
   * @param id Bundle id.
   */
  delete(id: string): Promise<void> {
    return this.#locks.run(id, () => deleteBundle(this.#parts, id));
  }

  /**
   * Removes old versions of a bundle that nothing serves or may soon serve (see
   * {@linkcode prunable}): their records, installed revisions and release folders.
   *
   * @param id Bundle id.
   * @param keep How many of the newest matching versions stay.
   * @param match Which versions may go. @default {every version}
   * @returns The versions removed.
   * @throws {NotFoundError} For an unknown bundle.
   */
  prune(
    id: string,
    keep: number,
    match: (version: string) => boolean = () => true,
  ): Promise<string[]> {
    return this.#locks.run(id, () => pruneBundle(this.#parts, id, keep, match));
  }

  /**
   * Every bundle the registry knows, with its releases.
   *
   * @returns Entries ordered by id.
   */
  async list(): Promise<RegistryEntry[]> {
    const { store } = this.#parts;
    const records = await store.listBundles();
    return await Promise.all(
      records.map(async (record) => ({
        record,
        releases: await store.listReleases(record.id),
      })),
    );
  }

  /**
   * One bundle's registry entry.
   *
   * @param id Bundle id.
   * @throws {NotFoundError} For an unknown bundle.
   */
  async get(id: string): Promise<RegistryEntry> {
    const record = await bundleRecord(this.#parts, id);
    return { record, releases: await this.#parts.store.listReleases(id) };
  }

  /**
   * Restores every bundle after a (re)start: installs the active (and weighted) versions from the
   * release store, starts those that should run, and removes folders of unacknowledged releases.
   * One bundle failing never stops the others.
   *
   * @returns What was restored, what failed, what was cleaned up.
   */
  async restore(): Promise<RestoreReport> {
    return await restoreBundles(this.#parts);
  }

  /**
   * Starts a phased release (canary) of a released version: starts it, then steps its traffic
   * weight up, analysing its outcomes during each step, and promotes it or rolls back by itself.
   * Progress shows in the bundle record (`canary`), in `canary` events and in status.
   *
   * @param id Bundle id.
   * @param version A released version other than the active one (see `release` with
   * `activate: false`).
   * @param options Steps, step length, thresholds.
   * @returns The initial state; the release goes on in the background.
   * @throws {RangeError} For bad options.
   * @throws {NotFoundError} For an unknown bundle or a version that was never released.
   * @throws {BundleStateError} When the bundle is stopped, the version is already active, or a
   * phased release is already in progress.
   *
   * @example Release without moving traffic, then phase it in
   * ```ts
   * import { createEngine } from "@bundlehost/sdk";
   *
   * await using engine = await createEngine();
   * await engine.registry.release({ path: "./hello-1.1.0" }, { activate: false });
   * await engine.registry.canary("hello", "1.1.0", { steps: [10, 50, 100], stepMs: 30_000 });
   * ```
   */
  canary(id: string, version: string, options: CanaryOptions = {}): Promise<CanaryState> {
    // Bad options are refused at once, before the bundle's lock.
    const plan = resolveCanaryPlan(options);
    return this.#locks.run(id, () => beginCanary(this.#parts, id, version, plan));
  }

  /**
   * Cluster mode: brings this engine's runtime in line with what the shared store records for one
   * bundle (another engine changed it), through the same runtime verbs as the local operations.
   *
   * @param id Bundle id.
   */
  converge(id: string): Promise<void> {
    const parts = this.#parts;
    return this.#locks.run(id, () =>
      convergeBundle({
        engine: parts.engine,
        store: parts.store,
        traffic: parts.traffic,
        ensureInstalled: (bundle, version) => ensureInstalled(parts, bundle, version),
        removeFolders: (bundle) => removeBundleFolders(parts, bundle),
        removeVersion: async (bundle, version) => {
          await Deno.remove(releaseDir(parts, bundle, version), { recursive: true })
            .catch(() => {});
        },
      }, id));
  }

  /**
   * The outcomes of the running step of a bundle's phased release.
   *
   * @param id Bundle id.
   * @returns The step's outcomes so far, when a phased release is in progress.
   */
  canaryProgress(id: string): OutcomeWindow | undefined {
    return this.#parts.traffic.live(id);
  }

  /**
   * Ends phased release controllers and warm-standby timers; the engine calls it when closing.
   * A phased release still running is rolled back at the next restore.
   */
  async close(): Promise<void> {
    await this.#parts.traffic.close();
  }
}
