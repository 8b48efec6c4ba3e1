/**
 * The registry's storage: released versions, which version is active, traffic weights, desired
 * state, and governance rules. {@linkcode Store} is the interface; {@linkcode KvStore} (Deno KV on
 * disk, the default) and {@linkcode MemoryStore} implement it and share one conformance suite.
 *
 * A store write that resolves is durable: Deno KV commits to SQLite before resolving, so an
 * acknowledged release survives `kill -9` of the engine. The event bus's records live in a second
 * database file (`events.sqlite3` beside `registry.sqlite3`): a full or slow event store never
 * shares a failure mode with the release registry.
 *
 * @module
 */
import { BundlehostError } from "../base/errors.ts";
import type { Exposed } from "../core/revision_status.ts";
import type { CanaryState } from "./canary_state.ts";
import { type EventStore, MemoryEventStore } from "./event_store.ts";
import { EVENTS_ROOT, KvEventStore } from "./kv_event_store.ts";
import { type ConfigStore, KvConfigStore, MemoryConfigStore } from "./config_store.ts";

/**
 * One released version; immutable once written.
 *
 * @example List a bundle's releases
 * ```ts
 * import { createEngine, type ReleaseRecord } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const { releases } = await engine.registry.get("hello");
 * const latest: ReleaseRecord | undefined = releases.at(-1);
 * console.log(latest?.version, latest?.hash, latest?.releasedAt);
 * ```
 */
export interface ReleaseRecord {
  /** Bundle id. */
  id: string;
  /** Version. */
  version: string;
  /** Content hash of the release's files (`sha256-<hex>`). */
  hash: string;
  /** When it was released, ISO time. */
  releasedAt: string;
  /**
   * What it exposed when its release started it; with it a restore starts a scale-to-zero
   * version without an instance (absent when the release did not start it).
   */
  exposes?: Exposed;
  /** The author's folder it was released from (absent for an archive): errors name its files. */
  source?: string;
}

/**
 * What the registry knows about one bundle id.
 *
 * @example Which version serves
 * ```ts
 * import { type BundleRecord, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const record: BundleRecord = (await engine.registry.get("hello")).record;
 * console.log(record.active, record.weights ?? "no split", record.desired);
 * ```
 */
export interface BundleRecord {
  /** Bundle id. */
  id: string;
  /** Version that serves traffic (when no weights). */
  active: string;
  /** Activation history, oldest first; the version before `active` is the default rollback target. */
  history: string[];
  /** Traffic weights per version, when split. */
  weights?: Record<string, number>;
  /** Whether the operator wants it running. */
  desired: "started" | "stopped";
  /** The latest phased release (canary) and where it stands. */
  canary?: CanaryState;
  /** Last change, ISO time. */
  updatedAt: string;
}

/**
 * One atomic change to the store.
 *
 * @example Record a release atomically
 * ```ts
 * import { MemoryStore, type StoreChange } from "@bundlehost/sdk";
 *
 * const store = new MemoryStore();
 * const change: StoreChange = {
 *   release: { id: "hello", version: "1.0.0", hash: "sha256-00", releasedAt: new Date().toISOString() },
 * };
 * await store.commit(change);
 * console.log((await store.listReleases("hello")).length); // 1
 * ```
 */
export interface StoreChange {
  /** New release to record; the commit fails with `CONFLICT` if that id@version exists. */
  release?: ReleaseRecord;
  /** Bundle record to write. */
  bundle?: BundleRecord;
  /** Bundle id whose bundle record and releases to delete. */
  deleteBundle?: string;
  /** Releases of one bundle to delete (old versions nothing serves). */
  deleteReleases?: { id: string; versions: string[] };
}

/**
 * Where owners are kept; the registry store implements it.
 *
 * @example Read who owns which service
 * ```ts
 * import { MemoryStore, type OwnerStore } from "@bundlehost/sdk";
 *
 * const owners: OwnerStore = new MemoryStore();
 * await owners.putOwners({ "service:HelloService": "hello" });
 * console.log(await owners.getOwners()); // { "service:HelloService": "hello" }
 * ```
 */
export interface OwnerStore {
  /** Every owner: key (`service:<name>` or `topic:<name>`) → bundle id. */
  getOwners(): Promise<Record<string, string>>;
  /** Records new owners, durably. */
  putOwners(owners: Record<string, string>): Promise<void>;
  /** Forgets every name `id` owns, durably. */
  dropOwners(id: string): Promise<void>;
}

/**
 * Persistent registry storage, including who owns which service and topic.
 *
 * @example Keep the registry in memory
 * ```ts
 * import { createEngine, MemoryStore, type Store } from "@bundlehost/sdk";
 *
 * const store: Store = new MemoryStore();
 * await using engine = await createEngine({ store });
 * ```
 */
export interface Store extends OwnerStore {
  /** Bundle config revisions and sealed secrets, kept beside the registry. */
  readonly settings: ConfigStore;
  /** A bundle record, if any. */
  getBundle(id: string): Promise<BundleRecord | undefined>;
  /** Every bundle record, ordered by id. */
  listBundles(): Promise<BundleRecord[]>;
  /** A release record, if any. */
  getRelease(id: string, version: string): Promise<ReleaseRecord | undefined>;
  /** Every release of a bundle, in release order. */
  listReleases(id: string): Promise<ReleaseRecord[]>;
  /**
   * Applies a change atomically and durably.
   *
   * @throws {BundlehostError} `CONFLICT` when `release` already exists.
   */
  commit(change: StoreChange): Promise<void>;
  /** Governance rules document, if any. */
  getRules(): Promise<unknown>;
  /** Replaces the governance rules document. */
  putRules(rules: unknown): Promise<void>;
  /** Events, deliveries, dead letters and schedule marks of the event bus. */
  readonly events: EventStore;
  /** Releases resources. */
  close(): void;
}

function conflict(release: ReleaseRecord): BundlehostError {
  return new BundlehostError(
    "CONFLICT",
    `Release ${release.id}@${release.version} already exists`,
  );
}

/**
 * Options of {@linkcode KvStore.open}.
 *
 * @example Events in a database of their own
 * ```ts
 * import { KvStore, type KvStoreOptions } from "@bundlehost/sdk";
 *
 * const options: KvStoreOptions = { eventsPath: "/var/lib/bundlehost/events.sqlite3" };
 * const store = await KvStore.open("/var/lib/bundlehost/registry.sqlite3", options);
 * ```
 */
export interface KvStoreOptions {
  /** The event store's database file. @default {`events.sqlite3` in the registry file's folder} */
  eventsPath?: string;
}

/** Most bytes moved in one commit when migrating events out of the registry database. */
const MIGRATION_BATCH_BYTES = 256 * 1024;

/**
 * Moves event bus records that an older engine kept in the registry database into the event
 * store's own database: each batch is copied, then deleted from the registry, so a crash between
 * the two only means the copy is made again at the next start.
 *
 * @returns Records moved.
 */
async function migrateEvents(registry: Deno.Kv, events: Deno.Kv): Promise<number> {
  let moved = 0;
  for (;;) {
    const batch: Deno.KvEntry<unknown>[] = [];
    let bytes = 0;
    // At most 100 entries: a Deno KV commit takes at most 100 checks.
    for await (const entry of registry.list({ prefix: [EVENTS_ROOT] }, { limit: 100 })) {
      batch.push(entry);
      bytes += JSON.stringify(entry.key).length +
        (entry.value instanceof Uint8Array ? entry.value.byteLength : 0) + 1024;
      if (bytes > MIGRATION_BATCH_BYTES) break;
    }
    if (batch.length === 0) return moved;
    const copy = events.atomic();
    for (const entry of batch) copy.set(entry.key, entry.value);
    await copy.commit();
    const remove = registry.atomic();
    for (const entry of batch) remove.check(entry).delete(entry.key);
    if ((await remove.commit()).ok) moved += batch.length;
  }
}

/**
 * Deno KV on disk: the embedded default store.
 *
 * @example Open the registry on disk
 * ```ts
 * import { createEngine, KvStore } from "@bundlehost/sdk";
 *
 * const store = await KvStore.open(".bundlehost/registry.sqlite3");
 * await using engine = await createEngine({ store });
 * ```
 */
export class KvStore implements Store {
  readonly #kv: Deno.Kv;
  readonly #eventsKv: Deno.Kv;
  /** Bundle config revisions and sealed secrets, in the registry's database. */
  readonly settings: ConfigStore;
  /** The event bus's storage, in its own database. */
  readonly events: EventStore;
  /** Event records moved out of the registry database when opened (an older layout). */
  readonly migratedEvents: number;

  /**
   * Wraps open KV databases; use {@linkcode KvStore.open}.
   *
   * @param kv The registry database.
   * @param events The event store (on its own database, measured).
   * @param migrated Event records moved when opened.
   */
  constructor(kv: Deno.Kv, events: { kv: Deno.Kv; store: KvEventStore }, migrated = 0) {
    this.#kv = kv;
    this.settings = new KvConfigStore(kv);
    this.#eventsKv = events.kv;
    this.events = events.store;
    this.migratedEvents = migrated;
  }

  /**
   * Opens (or creates) the registry database file and the event store's database file, and moves
   * event records an older engine kept in the registry database into the event store's.
   *
   * @param path Registry SQLite file path.
   * @param options Where the event store lives.
   * @returns The store.
   */
  static async open(path: string, options: KvStoreOptions = {}): Promise<KvStore> {
    let eventsPath = options.eventsPath ?? path.replace(/[^/]*$/, "events.sqlite3");
    if (eventsPath === path) eventsPath = `${path}.events`;
    const kv = await Deno.openKv(path);
    let eventsKv: Deno.Kv | undefined;
    try {
      eventsKv = await Deno.openKv(eventsPath);
      const migrated = await migrateEvents(kv, eventsKv);
      const store = new KvEventStore(eventsKv);
      await store.measure();
      return new KvStore(kv, { kv: eventsKv, store }, migrated);
    } catch (error) {
      eventsKv?.close();
      kv.close();
      throw error;
    }
  }

  /** A bundle record, if any. */
  async getBundle(id: string): Promise<BundleRecord | undefined> {
    return (await this.#kv.get<BundleRecord>(["bundle", id])).value ?? undefined;
  }

  /** Every bundle record, ordered by id. */
  async listBundles(): Promise<BundleRecord[]> {
    const out: BundleRecord[] = [];
    for await (const entry of this.#kv.list<BundleRecord>({ prefix: ["bundle"] })) {
      out.push(entry.value);
    }
    return out;
  }

  /** A release record, if any. */
  async getRelease(id: string, version: string): Promise<ReleaseRecord | undefined> {
    return (await this.#kv.get<ReleaseRecord>(["release", id, version])).value ?? undefined;
  }

  /** Every release of a bundle, in release order. */
  async listReleases(id: string): Promise<ReleaseRecord[]> {
    const out: ReleaseRecord[] = [];
    for await (const entry of this.#kv.list<ReleaseRecord>({ prefix: ["release", id] })) {
      out.push(entry.value);
    }
    return out.sort((a, b) => a.releasedAt.localeCompare(b.releasedAt));
  }

  /** Applies a change atomically; `CONFLICT` when the release already exists. */
  async commit(change: StoreChange): Promise<void> {
    const op = this.#kv.atomic();
    if (change.deleteBundle !== undefined) {
      op.delete(["bundle", change.deleteBundle]);
      for await (const entry of this.#kv.list({ prefix: ["release", change.deleteBundle] })) {
        op.delete(entry.key);
      }
    }
    if (change.deleteReleases) {
      const { id, versions } = change.deleteReleases;
      for (const version of versions) op.delete(["release", id, version]);
    }
    if (change.release) {
      const key = ["release", change.release.id, change.release.version];
      op.check({ key, versionstamp: null }).set(key, change.release);
    }
    if (change.bundle) op.set(["bundle", change.bundle.id], change.bundle);
    const result = await op.commit();
    if (!result.ok) throw conflict(change.release!);
  }

  /** The governance rules document, if any. */
  async getRules(): Promise<unknown> {
    return (await this.#kv.get(["rules"])).value ?? undefined;
  }

  /** Replaces the governance rules document. */
  async putRules(rules: unknown): Promise<void> {
    await this.#kv.set(["rules"], rules);
  }

  /** Every owner: `service:<name>` / `topic:<name>` → bundle id. */
  async getOwners(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for await (const entry of this.#kv.list<string>({ prefix: ["owner"] })) {
      out[String(entry.key[1])] = entry.value;
    }
    return out;
  }

  /** Records new owners in one atomic write. */
  async putOwners(owners: Record<string, string>): Promise<void> {
    const op = this.#kv.atomic();
    for (const [key, id] of Object.entries(owners)) op.set(["owner", key], id);
    await op.commit();
  }

  /** Forgets every name `id` owns. */
  async dropOwners(id: string): Promise<void> {
    const op = this.#kv.atomic();
    for await (const entry of this.#kv.list<string>({ prefix: ["owner"] })) {
      if (entry.value === id) op.delete(entry.key);
    }
    await op.commit();
  }

  /** Releases resources. */
  close(): void {
    this.#kv.close();
    this.#eventsKv.close();
  }
}

/**
 * In-memory store, for tests and throwaway engines; loses everything on exit.
 *
 * @example A throwaway registry for a test
 * ```ts
 * import { createEngine, MemoryStore } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine({ dataDir: await Deno.makeTempDir(), store: new MemoryStore() });
 * console.log(await engine.registry.list()); // []
 * ```
 */
export class MemoryStore implements Store {
  /** The event bus's storage, in memory. */
  readonly events: EventStore = new MemoryEventStore();
  readonly #bundles = new Map<string, BundleRecord>();
  readonly #releases = new Map<string, ReleaseRecord>();
  readonly #owners = new Map<string, string>();
  /** Bundle config revisions and sealed secrets, in memory. */
  readonly settings: ConfigStore = new MemoryConfigStore();
  #rules: unknown;

  /** A bundle record, if any. */
  getBundle(id: string): Promise<BundleRecord | undefined> {
    return Promise.resolve(structuredClone(this.#bundles.get(id)));
  }

  /** Every bundle record, ordered by id. */
  listBundles(): Promise<BundleRecord[]> {
    const ids = [...this.#bundles.keys()].sort();
    return Promise.resolve(ids.map((id) => structuredClone(this.#bundles.get(id)!)));
  }

  /** A release record, if any. */
  getRelease(id: string, version: string): Promise<ReleaseRecord | undefined> {
    return Promise.resolve(structuredClone(this.#releases.get(`${id}\u0000${version}`)));
  }

  /** Every release of a bundle, in release order. */
  listReleases(id: string): Promise<ReleaseRecord[]> {
    const out = [...this.#releases.values()].filter((r) => r.id === id).map((r) =>
      structuredClone(r)
    );
    return Promise.resolve(out.sort((a, b) => a.releasedAt.localeCompare(b.releasedAt)));
  }

  /** Applies a change atomically; `CONFLICT` when the release already exists. */
  commit(change: StoreChange): Promise<void> {
    if (
      change.release && this.#releases.has(`${change.release.id}\u0000${change.release.version}`)
    ) {
      return Promise.reject(conflict(change.release));
    }
    if (change.deleteBundle !== undefined) {
      this.#bundles.delete(change.deleteBundle);
      for (const [key, release] of this.#releases) {
        if (release.id === change.deleteBundle) this.#releases.delete(key);
      }
    }
    if (change.deleteReleases) {
      const { id, versions } = change.deleteReleases;
      for (const version of versions) this.#releases.delete(`${id}\u0000${version}`);
    }
    if (change.release) {
      this.#releases.set(
        `${change.release.id}\u0000${change.release.version}`,
        structuredClone(change.release),
      );
    }
    if (change.bundle) this.#bundles.set(change.bundle.id, structuredClone(change.bundle));
    return Promise.resolve();
  }

  /** The governance rules document, if any. */
  getRules(): Promise<unknown> {
    return Promise.resolve(structuredClone(this.#rules));
  }

  /** Replaces the governance rules document. */
  putRules(rules: unknown): Promise<void> {
    this.#rules = structuredClone(rules);
    return Promise.resolve();
  }

  /** Every owner: `service:<name>` / `topic:<name>` → bundle id. */
  getOwners(): Promise<Record<string, string>> {
    return Promise.resolve(Object.fromEntries(this.#owners));
  }

  /** Records new owners. */
  putOwners(owners: Record<string, string>): Promise<void> {
    for (const [key, id] of Object.entries(owners)) this.#owners.set(key, id);
    return Promise.resolve();
  }

  /** Forgets every name `id` owns. */
  dropOwners(id: string): Promise<void> {
    for (const [key, owner] of this.#owners) if (owner === id) this.#owners.delete(key);
    return Promise.resolve();
  }

  /** Releases resources. */
  close(): void {}
}
