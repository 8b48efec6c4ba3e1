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
 * @module
 */
import { BundlehostError, BundleStateError, ManifestError, NotFoundError } from "../base/errors.ts";
import { parseManifest } from "../manifest/manifest.ts";
import type { RuntimePort } from "../core/port.ts";
import type { Exposed, RevisionStatus } from "../core/revision.ts";
import { checkWeights } from "../core/weights.ts";
import type { BundleRecord, ReleaseRecord, Store } from "../store/store.ts";
import { resolveCanaryPlan } from "./canary.ts";
import { prunable } from "./prune.ts";
import { checkTypesFile } from "./types_file.ts";
import type { CanaryOptions, CanaryState } from "../store/canary_state.ts";
import type { Clock } from "../base/clock.ts";
import { abandonedCanary, TrafficControl } from "./traffic.ts";
import type { OutcomeWindow } from "../core/outcomes.ts";
import { resolveBundleImports } from "./bundle_imports.ts";
import type { ReleaseArchives } from "../store/archives.ts";
import { fetchRelease, packRelease } from "./shared_release.ts";
import { convergeBundle } from "./converge.ts";
import { placeReleaseFolder } from "./placed_folder.ts";
import {
  DEFAULT_LIMITS,
  hashFiles,
  readBundleFiles,
  type ReleaseFile,
  type ReleaseLimits,
  unpackArchive,
} from "./files.ts";

/**
 * Where a release comes from.
 *
 * @example Release from an uploaded archive
 * ```ts
 * import { createEngine, type ReleaseSource } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const source: ReleaseSource = { archive: await Deno.readFile("./hello-1.1.0.tar.gz") };
 * await engine.registry.release(source);
 * ```
 */
export type ReleaseSource = { path: string } | { archive: Uint8Array<ArrayBuffer> };

/**
 * Outcome of {@linkcode Registry.release}.
 *
 * @example Tell a new release from a repeat
 * ```ts
 * import { createEngine, type ReleaseResult } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const result: ReleaseResult = await engine.registry.release({ path: "./bundles/hello" });
 * console.log(`${result.id}@${result.version} ${result.created ? "released" : "unchanged"} (${result.state})`);
 * ```
 */
export interface ReleaseResult {
  /** Bundle id. */
  id: string;
  /** Version. */
  version: string;
  /** Content hash. */
  hash: string;
  /** `false` when exactly this release already existed (the call was idempotent). */
  created: boolean;
  /** Lifecycle state of the released version afterwards. */
  state: string;
}

/** Bundles a restore installs at once. */
const RESTORE_LANES = 4;

/** A bundle's versions installed by a restore, before they start. */
interface Installed {
  /** Its record (a running phased release already abandoned). */
  record: BundleRecord;
  /** The versions installed, each with its release record when the restore installed it. */
  versions: { version: string; release: ReleaseRecord | undefined }[];
  /** Why installing stopped, if it did. */
  error?: string;
}

/**
 * Outcome of {@linkcode Registry.restore}.
 *
 * @example Bundles that did not come back
 * ```ts
 * import { createEngine, type RestoreReport } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const report: RestoreReport = await engine.restore();
 * for (const f of report.failed) console.error(`${f.id}: ${f.error}`);
 * ```
 */
export interface RestoreReport {
  /** `id@version` restored. */
  restored: string[];
  /** Bundles that could not be restored, with why. */
  failed: { id: string; error: string }[];
  /** Release folders removed because no acknowledged release owned them. */
  orphansRemoved: string[];
}

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
 * Options for {@linkcode Registry.release}.
 *
 * @example Store a version without moving traffic
 * ```ts
 * import { createEngine, type ReleaseOptions } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const options: ReleaseOptions = { activate: false };
 * await engine.registry.release({ path: "./hello-1.1.0" }, options);
 * ```
 */
export interface ReleaseOptions {
  /**
   * Move traffic to the new version (and start it). `false` only stores and installs it, e.g. for
   * a phased release with {@linkcode Registry.canary}; the first release of a bundle is always
   * activated. @default {true}
   */
  activate?: boolean;
  /**
   * Release under this version instead of the manifest's, e.g. a development revision
   * `1.2.0-dev.1764452701123` (the stored `bundle.json` says it). @default {the manifest's version}
   */
  version?: string;
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
  readonly #engine: RuntimePort;
  readonly #store: Store;
  readonly #root: string;
  readonly #limits: ReleaseLimits;
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #traffic: TrafficControl;
  readonly #archives: ReleaseArchives | undefined;

  /**
   * Creates a registry; the engine creates one in {@linkcode createEngine}.
   *
   * @param engine The engine whose bundles it manages.
   * @param store Durable storage.
   * @param options Release limits, warm rollback period.
   */
  constructor(engine: RuntimePort, store: Store, options: RegistryOptions = {}) {
    this.#engine = engine;
    this.#store = store;
    this.#root = `${engine.dataDir}/releases`;
    this.#limits = options.limits ?? DEFAULT_LIMITS;
    this.#archives = options.archives;
    this.#traffic = new TrafficControl({
      engine,
      store,
      lock: (id, work) => this.#lock(id, work),
      rollbackWarmMs: options.rollbackWarmMs ?? 300_000,
      ...(options.clock ? { clock: options.clock } : {}),
    });
  }

  /** The store behind the registry. */
  get store(): Store {
    return this.#store;
  }

  /** Release folder of one version. */
  releaseDir(id: string, version: string): string {
    return `${this.#root}/${id}/${version}`;
  }

  /** Runs `work` after every earlier operation on the same bundle id finished. */
  #lock<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const run = previous.then(work, work);
    const tail = run.catch(() => {});
    this.#locks.set(id, tail);
    tail.then(() => {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    });
    return run;
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
    const files = "path" in source
      ? await readBundleFiles(source.path, this.#limits).catch((error) => {
        if (error instanceof Deno.errors.NotFound) {
          throw new NotFoundError(`Cannot release bundle: folder ${source.path} does not exist`);
        }
        if (error instanceof BundlehostError) throw error;
        // Not a folder, name too long, no read permission: the caller's path is at fault.
        throw new TypeError(
          `Cannot release bundle: cannot read folder ${source.path} (${(error as Error).message})`,
          { cause: error },
        );
      })
      : await unpackArchive(source.archive, this.#limits);
    const manifestFile = files.find((f) => f.path === "bundle.json");
    if (!manifestFile) {
      throw new ManifestError("bundle.json", "Cannot release bundle: no bundle.json");
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(manifestFile.data));
    } catch (error) {
      throw new ManifestError(
        "bundle.json",
        `Cannot release bundle: bundle.json is not valid JSON (${(error as Error).message})`,
      );
    }
    if (options.version !== undefined) {
      // The stored bundle.json names the version the release is recorded under.
      json = { ...(json as Record<string, unknown>), version: options.version };
      manifestFile.data = new TextEncoder().encode(JSON.stringify(json, null, 2));
    }
    const manifest = parseManifest(json);
    checkTypesFile(manifest, files);
    // The stored copy carries the SDK and no bare specifier (`bundle_imports.ts`).
    const stored = await resolveBundleImports(files);
    const from = "path" in source ? await sourceFolder(source.path) : undefined;
    return await this.#lock(
      manifest.id,
      () => this.#release(manifest.id, manifest.version, stored, options.activate ?? true, from),
    );
  }

  async #release(
    id: string,
    version: string,
    files: ReleaseFile[],
    activate: boolean,
    source: string | undefined,
  ): Promise<ReleaseResult> {
    const hash = await hashFiles(files);
    const existing = await this.#store.getRelease(id, version);
    if (existing) {
      if (existing.hash !== hash) {
        throw new BundlehostError(
          "CONFLICT",
          `Cannot release bundle ${id}@${version}: that version exists with different content; release a new version`,
        );
      }
      return {
        id,
        version,
        hash,
        created: false,
        state: this.#engine.stateOf(id, version) ?? "RESOLVED",
      };
    }
    const dir = this.releaseDir(id, version);
    // A folder without a record is a leftover of a release that was never acknowledged.
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    // Synced while it is vetted and started; the record below waits for it (`placed_folder.ts`).
    const [placed, record] = await Promise.all([
      placeReleaseFolder(files, dir),
      this.#store.getBundle(id),
    ]);
    const desired = record?.desired ?? "started";
    // Stored and installed only: traffic (and any phased release) stays as it is.
    const staged = !activate && record !== undefined;
    try {
      // Cluster mode: every engine can fetch it once it is recorded.
      if (this.#archives) await this.#archives.put(hash, await packRelease(files));
      await this.#engine.install(dir, source === undefined ? { hash } : { hash, source });
      const started = desired === "started" && !staged
        ? await this.#engine.start(id, version)
        : undefined;
      // Starting checks the module against the manifest; a version that does not start is vetted.
      if (started === undefined) await this.#engine.vet(id, version);
      // The bundle record keeps its latest phased release (aborted now if it was running).
      const canary = (staged ? undefined : this.#endCanary(id, `released ${version}`, record)) ??
        record?.canary;
      const release: ReleaseRecord = { id, version, hash, releasedAt: new Date().toISOString() };
      if (source !== undefined) release.source = source;
      if (started?.state === "ACTIVE") release.exposes = exposedBy(started);
      await placed.synced;
      await this.#store.commit(
        staged ? { release } : {
          release,
          bundle: {
            id,
            active: version,
            history: [...(record?.history ?? []), version].slice(-50),
            desired,
            ...(canary ? { canary } : {}),
            updatedAt: new Date().toISOString(),
          },
        },
      );
    } catch (error) {
      await this.#engine.uninstall(id, version).catch(() => {});
      await placed.synced.catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
    if (!staged) await this.#traffic.switchTo(id, version, record?.active);
    return {
      id,
      version,
      hash,
      created: true,
      state: this.#engine.stateOf(id, version) ?? "RESOLVED",
    };
  }

  /**
   * Installs a stored version into the engine unless it already is, verifying its hash.
   *
   * @returns Its release record when it installed it.
   */
  async #ensureInstalled(id: string, version: string): Promise<ReleaseRecord | undefined> {
    if (this.#engine.stateOf(id, version) !== undefined) return undefined;
    const release = await this.#store.getRelease(id, version);
    if (!release) throw new NotFoundError(`Bundle ${id} has no released version "${version}"`);
    const dir = this.releaseDir(id, version);
    if (this.#archives && !(await exists(dir))) {
      await fetchRelease(this.#archives, release, dir, this.#limits);
    }
    const actual = await hashFiles(await readBundleFiles(dir, this.#limits));
    if (actual !== release.hash) {
      throw new BundlehostError(
        "CONFLICT",
        `Stored release ${id}@${version} was modified on disk (hash ${actual}, recorded ${release.hash})`,
      );
    }
    await this.#engine.install(dir, {
      hash: release.hash,
      ...(release.exposes ? { exposes: release.exposes } : {}),
      ...(release.source === undefined ? {} : { source: release.source }),
    });
    return release;
  }

  /**
   * Ends the bundle's phased release because an operator action takes over: the one this engine
   * drives, or (cluster mode) one another engine drives, which the record then says ended; that
   * engine's controller stops when it sees the record.
   *
   * @returns The release's final state to persist, if one was in progress.
   */
  #endCanary(id: string, reason: string, record?: BundleRecord): CanaryState | undefined {
    const local = this.#traffic.abortCanary(id, reason);
    if (local) return local;
    const elsewhere = record?.canary;
    if (elsewhere?.status !== "running") return undefined;
    return { ...elsewhere, status: "aborted", reason, updatedAt: new Date().toISOString() };
  }

  async #record(id: string): Promise<BundleRecord> {
    const record = await this.#store.getBundle(id);
    if (!record) throw new NotFoundError(`No bundle "${id}"`);
    return record;
  }

  /** Versions that should run: the weighted ones, else the active one. */
  #serving(record: BundleRecord): string[] {
    if (record.weights) {
      return Object.entries(record.weights).filter(([, w]) => w > 0).map(([v]) => v);
    }
    return [record.active];
  }

  /**
   * Starts a bundle (its serving versions) and records that it should run.
   *
   * @param id Bundle id.
   */
  start(id: string): Promise<void> {
    return this.#lock(id, async () => {
      const record = await this.#record(id);
      for (const version of this.#serving(record)) {
        await this.#ensureInstalled(id, version);
        await this.#engine.start(id, version);
      }
      this.#engine.activate(id, record.active, { requireActive: false });
      if (record.weights) this.#engine.setWeights(id, record.weights);
      await this.#store.commit({
        bundle: { ...record, desired: "started", updatedAt: new Date().toISOString() },
      });
    });
  }

  /**
   * Stops every version of a bundle and records that it should stay stopped (also across restarts).
   *
   * @param id Bundle id.
   */
  stop(id: string): Promise<void> {
    return this.#lock(id, async () => {
      const record = await this.#record(id);
      const canary = this.#endCanary(id, "the bundle was stopped", record);
      this.#traffic.cancelStandby(id);
      await this.#store.commit({
        bundle: {
          ...record,
          desired: "stopped",
          ...(canary ? { canary } : {}),
          updatedAt: new Date().toISOString(),
        },
      });
      const versions = this.#engine.routing(id)?.versions ?? [];
      await Promise.all(versions.map((r) => this.#engine.stop(id, r.version)));
    });
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
    return this.#lock(id, async () => {
      const record = await this.#record(id);
      const inCanary = this.#traffic.canary(id) !== undefined ||
        record.canary?.status === "running";
      const target = version ?? (inCanary ? record.active : undefined) ??
        [...record.history].reverse().find((v) => v !== record.active);
      if (target === undefined) {
        throw new BundleStateError(`Cannot roll back bundle ${id}: no earlier version was active`);
      }
      if (target === record.active && !record.weights) return target;
      await this.#ensureInstalled(id, target);
      if (record.desired === "started") await this.#engine.start(id, target);
      const canary = this.#endCanary(id, `rolled back to ${target}`, record) ?? record.canary;
      await this.#store.commit({
        bundle: {
          id,
          active: target,
          history: [...record.history, target].slice(-50),
          desired: record.desired,
          ...(canary ? { canary } : {}),
          updatedAt: new Date().toISOString(),
        },
      });
      await this.#traffic.switchTo(id, target, record.active);
      return target;
    });
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
    return this.#lock(id, async () => {
      const record = await this.#record(id);
      checkWeights(weights);
      const entries = Object.entries(weights);
      for (const [version] of entries) {
        if (!(await this.#store.getRelease(id, version))) {
          throw new NotFoundError(`Bundle ${id} has no released version "${version}"`);
        }
      }
      for (const [version, weight] of entries) {
        await this.#ensureInstalled(id, version);
        if (weight > 0 && record.desired === "started") {
          await this.#engine.start(id, version);
          this.#traffic.wake(id, version);
        }
      }
      const canary = this.#endCanary(id, "traffic weights were set by hand", record);
      if (record.desired === "started") this.#engine.setWeights(id, weights);
      await this.#store.commit({
        bundle: {
          ...record,
          weights: { ...weights },
          ...(canary ? { canary } : {}),
          updatedAt: new Date().toISOString(),
        },
      });
    });
  }

  /**
   * Deletes a bundle: every version is stopped and uninstalled, its records, release folders and
   * data folder are removed.
   *
   * @param id Bundle id.
   */
  delete(id: string): Promise<void> {
    return this.#lock(id, async () => {
      await this.#record(id);
      this.#traffic.abortCanary(id, "the bundle was deleted");
      this.#traffic.cancelStandby(id);
      if (this.#engine.routing(id)) await this.#engine.uninstall(id);
      await this.#store.commit({ deleteBundle: id });
      await this.#store.settings.dropSettings(id);
      await this.#engine.disown(id);
      await Deno.remove(`${this.#root}/${id}`, { recursive: true }).catch(() => {});
      await Deno.remove(`${this.#engine.dataDir}/data/${id}`, { recursive: true }).catch(() => {});
    });
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
    return this.#lock(id, async () => {
      const record = await this.#record(id);
      const versions = prunable(record, await this.#store.listReleases(id), keep, match);
      if (versions.length === 0) return versions;
      await this.#store.commit({ deleteReleases: { id, versions } });
      for (const version of versions) {
        if (this.#engine.stateOf(id, version) !== undefined) {
          await this.#engine.uninstall(id, version);
        }
        await Deno.remove(this.releaseDir(id, version), { recursive: true }).catch(() => {});
      }
      return versions;
    });
  }

  /**
   * Every bundle the registry knows, with its releases.
   *
   * @returns Entries ordered by id.
   */
  async list(): Promise<RegistryEntry[]> {
    const records = await this.#store.listBundles();
    return await Promise.all(
      records.map(async (record) => ({
        record,
        releases: await this.#store.listReleases(record.id),
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
    const record = await this.#record(id);
    return { record, releases: await this.#store.listReleases(id) };
  }

  /**
   * Restores every bundle after a (re)start: installs the active (and weighted) versions from the
   * release store, starts those that should run, and removes folders of unacknowledged releases.
   * One bundle failing never stops the others.
   *
   * @returns What was restored, what failed, what was cleaned up.
   */
  async restore(): Promise<RestoreReport> {
    const report: RestoreReport = { restored: [], failed: [], orphansRemoved: [] };
    const records = await this.#store.listBundles();
    const known = new Set<string>();
    for (const record of records) {
      for (const release of await this.#store.listReleases(record.id)) {
        known.add(`${release.id}/${release.version}`);
      }
    }
    await this.#removeOrphans(known, report);
    // Vetting (`deno info`) is most of a restore and overlaps well: bundles are installed several
    // at once, then started one after another in the usual order, so that a bundle whose onStart
    // calls another still finds it started (docs/architecture.md, "Density").
    const installs: Installed[] = [];
    let next = 0;
    const lane = async () => {
      while (next < records.length) {
        const i = next++;
        installs[i] = await this.#installForRestore(records[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(RESTORE_LANES, records.length) }, lane));
    for (const installed of installs) await this.#startForRestore(installed, report);
    return report;
  }

  /** Installs the versions a bundle serves (first step of a restore); never throws. */
  async #installForRestore(stored: BundleRecord): Promise<Installed> {
    const installed: Installed = { record: stored, versions: [] };
    try {
      // A phased release has no controller after a restart: back to the stable version. In a
      // cluster another engine may be driving it: it is left to that engine.
      const record = stored.canary?.status === "running" && !this.#archives
        ? await this.#abandonCanary(stored)
        : stored;
      installed.record = record;
      await this.#lock(record.id, async () => {
        for (const version of new Set([record.active, ...this.#serving(record)])) {
          installed.versions.push({
            version,
            release: await this.#ensureInstalled(record.id, version),
          });
        }
      });
    } catch (error) {
      installed.error = (error as Error).message;
    }
    return installed;
  }

  /** Starts and routes what {@linkcode Registry.#installForRestore} installed. */
  async #startForRestore(installed: Installed, report: RestoreReport): Promise<void> {
    const { record } = installed;
    try {
      await this.#lock(record.id, async () => {
        for (const { version, release } of installed.versions) {
          if (record.desired === "started" && this.#serving(record).includes(version)) {
            // Loaded and started once at its release (the hash is checked again at install): a
            // scale-to-zero version comes back without an instance.
            await this.#engine.start(record.id, version, {
              atZero: release?.exposes !== undefined,
            });
          }
          report.restored.push(`${record.id}@${version}`);
        }
        if (installed.error !== undefined) throw new Error(installed.error);
        this.#engine.activate(record.id, record.active, { requireActive: false });
        if (record.weights && record.desired === "started") {
          this.#engine.setWeights(record.id, record.weights);
        }
      });
    } catch (error) {
      report.failed.push({ id: record.id, error: (error as Error).message });
    }
  }

  async #abandonCanary(record: BundleRecord): Promise<BundleRecord> {
    const abandoned = abandonedCanary(record, "the engine restarted during the phased release");
    await this.#store.commit({ bundle: abandoned });
    return abandoned;
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
    const plan = resolveCanaryPlan(options);
    return this.#lock(id, async () => {
      const record = await this.#record(id);
      return await this.#traffic.startCanary(
        record,
        version,
        plan,
        async () => {
          await this.#ensureInstalled(id, version);
        },
      );
    });
  }

  /**
   * Cluster mode: brings this engine's runtime in line with what the shared store records for one
   * bundle (another engine changed it), through the same runtime verbs as the local operations.
   *
   * @param id Bundle id.
   */
  converge(id: string): Promise<void> {
    return this.#lock(id, () =>
      convergeBundle({
        engine: this.#engine,
        store: this.#store,
        traffic: this.#traffic,
        ensureInstalled: (bundle, version) => this.#ensureInstalled(bundle, version),
        removeFolders: async (bundle) => {
          await Deno.remove(`${this.#root}/${bundle}`, { recursive: true }).catch(() => {});
          await Deno.remove(`${this.#engine.dataDir}/data/${bundle}`, { recursive: true })
            .catch(() => {});
        },
        removeVersion: async (bundle, version) => {
          await Deno.remove(this.releaseDir(bundle, version), { recursive: true }).catch(() => {});
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
    return this.#traffic.live(id);
  }

  /**
   * Ends phased release controllers and warm-standby timers; the engine calls it when closing.
   * A phased release still running is rolled back at the next restore.
   */
  async close(): Promise<void> {
    await this.#traffic.close();
  }

  async #removeOrphans(known: Set<string>, report: RestoreReport): Promise<void> {
    let ids: Deno.DirEntry[];
    try {
      ids = await Array.fromAsync(Deno.readDir(this.#root));
    } catch {
      return;
    }
    for (const idEntry of ids) {
      if (!idEntry.isDirectory) continue;
      for await (const versionEntry of Deno.readDir(`${this.#root}/${idEntry.name}`)) {
        const key = `${idEntry.name}/${versionEntry.name}`;
        if (known.has(key)) continue;
        await Deno.remove(`${this.#root}/${key}`, { recursive: true }).catch(() => {});
        report.orphansRemoved.push(key);
      }
    }
  }
}

/** What a started version exposes, from its status. */
function exposedBy(status: RevisionStatus): Exposed {
  const services: Record<string, string[]> = {};
  for (const [name, service] of Object.entries(status.services)) services[name] = service.methods;
  return { services, fetch: status.fetch };
}

/** Whether a path exists. */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The author's folder a release is made from, absolute, so that its errors can name it. */
async function sourceFolder(path: string): Promise<string | undefined> {
  return await Deno.realPath(path).catch(() => undefined);
}
