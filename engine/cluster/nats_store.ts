/**
 * The registry {@linkcode Store} of cluster mode, on a NATS JetStream key-value bucket shared by
 * every engine (`bundlehost_registry`, replicated on up to three servers).
 *
 * **Layout.** One key per bundle id, `bundle.<id>`, holds one document: the bundle record (if
 * any) and every release of that id. Every change the registry makes touches one bundle id, so
 * one document per id makes each {@linkcode StoreChange} a single compare-and-set write: read the
 * document and its revision, apply the change, write it back with `update(key, doc, revision)`
 * (or `create` when the key has no value). A concurrent writer makes the write fail; the change is
 * then applied again to the fresh document, so a second release of one version always meets the
 * first and fails with `CONFLICT`. Owners are one document (`owners`) changed the same way;
 * the governance rules one document (`rules`).
 *
 * **Durability.** A write resolves when JetStream acknowledges it, after a quorum of the bucket's
 * replicas stored it: an acknowledged release survives the loss of any one server.
 *
 * **Failures.** Every call is bounded ({@linkcode Availability}): when NATS is unreachable a read
 * or a change fails at once with `UNAVAILABLE`.
 *
 * @module
 */
import type { KV, KvEntry } from "@nats-io/kv";
import { BundlehostError } from "../base/errors.ts";
import type { EventStore } from "../store/event_store.ts";
import type { BundleRecord, ReleaseRecord, Store, StoreChange } from "../store/store.ts";
import type { Availability } from "./availability.ts";
import { NatsSettings } from "./nats_settings.ts";
import { CasLost, withRevisionLock } from "./nats_kv.ts";

/** Largest document (one bundle's record and releases) the store writes, bytes. */
export const MAX_DOCUMENT_BYTES = 900 * 1024;

/**
 * Where a compare-and-set takes its revision lock first (nats-server 2.9 lets concurrent updates
 * that expect one revision all win on a replicated bucket; `create` lets one win: nats_kv.ts).
 */
export interface RevisionLocks {
  /** The lock bucket (entries expire after a short TTL). */
  bucket: KV;
  /** This engine's name, on the locks it takes. */
  holder: string;
}

/** Attempts of one compare-and-set change before it gives up. */
const CAS_ATTEMPTS = 32;

/** One bundle id's document. */
export interface BundleDocument {
  /** The bundle record, if the bundle was activated. */
  record?: BundleRecord;
  /** Every release of the id. */
  releases: ReleaseRecord[];
}

/** The key of a bundle id's document: ids are lower-case names; others are hex-encoded. */
export function bundleKey(id: string): string {
  if (/^[a-zA-Z0-9_-]{1,200}$/.test(id)) return `bundle.${id}`;
  const hex = Array.from(new TextEncoder().encode(id), (b) => b.toString(16).padStart(2, "0"));
  return `bundle.=${hex.join("")}`;
}

/** The bundle id of a document key, or `undefined` for a key that is not a bundle's. */
export function bundleIdOf(key: string): string | undefined {
  if (!key.startsWith("bundle.")) return undefined;
  const name = key.slice("bundle.".length);
  if (!name.startsWith("=")) return name;
  const bytes = name.slice(1).match(/../g)?.map((h) => parseInt(h, 16)) ?? [];
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function wrongRevision(error: unknown): boolean {
  return error instanceof Error && /wrong last sequence|key exists/i.test(error.message);
}

function conflict(release: ReleaseRecord): BundlehostError {
  return new BundlehostError(
    "CONFLICT",
    `Release ${release.id}@${release.version} already exists`,
  );
}

/** The ids a change touches. */
function idsOf(change: StoreChange): Set<string> {
  const ids = new Set<string>();
  if (change.release) ids.add(change.release.id);
  if (change.bundle) ids.add(change.bundle.id);
  if (change.deleteBundle !== undefined) ids.add(change.deleteBundle);
  if (change.deleteReleases) ids.add(change.deleteReleases.id);
  return ids;
}

/** Applies `change` to one id's document; `undefined` when nothing of the id is left. */
function applied(doc: BundleDocument, change: StoreChange): BundleDocument | undefined {
  let { record, releases } = structuredClone(doc);
  const release = change.release;
  if (release && releases.some((r) => r.version === release.version)) throw conflict(release);
  if (change.deleteBundle !== undefined) {
    record = undefined;
    releases = [];
  }
  if (change.deleteReleases) {
    const gone = new Set(change.deleteReleases.versions);
    releases = releases.filter((r) => !gone.has(r.version));
  }
  if (release) releases.push(structuredClone(release));
  if (change.bundle) record = structuredClone(change.bundle);
  if (record === undefined && releases.length === 0) return undefined;
  return record === undefined ? { releases } : { record, releases };
}

/**
 * Registry storage on a NATS key-value bucket; the event store is given to it (cluster events
 * are a separate concern).
 *
 * @example Open the registry of a cluster
 * ```ts ignore
 * import { Kvm } from "@nats-io/kv";
 * import { connectCluster } from "./connection.ts";
 * import { Availability } from "./availability.ts";
 * import { NatsStore } from "./nats_store.ts";
 * import { MemoryEventStore } from "../store/event_store.ts";
 *
 * const nc = await connectCluster(["127.0.0.1:4222"], "engine-1");
 * const kv = await new Kvm(nc).create("bundlehost_registry", { replicas: 1 });
 * const store = new NatsStore(kv, new Availability(nc), new MemoryEventStore());
 * console.log(await store.listBundles());
 * ```
 */
export class NatsStore implements Store {
  readonly #kv: KV;
  readonly #nats: Availability;
  readonly #onClose: () => void;
  /** Bundle config revisions and sealed secrets (`settings.<id>` keys, nats_settings.ts). */
  readonly settings: NatsSettings;
  readonly #locks: RevisionLocks | undefined;
  /** The event bus's storage. */
  readonly events: EventStore;

  /**
   * Wraps an open bucket.
   *
   * @param kv The registry bucket.
   * @param nats Reachability and call bounds.
   * @param events The event store.
   * @param onClose Called by {@linkcode NatsStore.close} (closes what the opener opened).
   * @param locks Revision locks every update and delete takes first; without them, two engines
   * writing one document at the same instant can both succeed on nats-server 2.9.
   */
  constructor(
    kv: KV,
    nats: Availability,
    events: EventStore,
    onClose: () => void = () => {},
    locks?: RevisionLocks,
  ) {
    this.#locks = locks;
    this.#kv = kv;
    this.#nats = nats;
    this.events = events;
    this.#onClose = onClose;
    this.settings = new NatsSettings({
      read: async (key) => (await this.#read(key))?.value,
      change: (key, change) => this.#cas(key, change),
    });
  }

  /** The bucket (convergence watches it). */
  get bucket(): KV {
    return this.#kv;
  }

  async #read(
    key: string,
  ): Promise<{ value: unknown; raw?: string; revision: number } | undefined> {
    const entry: KvEntry | null = await this.#nats.run(`read ${key}`, () => this.#kv.get(key));
    if (!entry || entry.operation !== "PUT" || entry.length === 0) {
      return entry ? { value: undefined, revision: entry.revision } : undefined;
    }
    const raw = entry.string();
    return { value: JSON.parse(raw), raw, revision: entry.revision };
  }

  async #document(id: string): Promise<BundleDocument> {
    return ((await this.#read(bundleKey(id)))?.value as BundleDocument | undefined) ??
      { releases: [] };
  }

  /**
   * Changes one key with compare-and-set: reads it, applies `change`, writes it back if no one
   * wrote in between, else tries again with the fresh value.
   */
  async #cas<T>(key: string, change: (value: T | undefined) => T | undefined): Promise<void> {
    // A write whose answer was lost may have landed: the next read tells (it holds exactly it).
    let unsure: string | null | undefined;
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.#read(key);
      if (unsure !== undefined && (current?.raw ?? null) === unsure) return;
      const next = change(current?.value as T | undefined);
      if (next === undefined && current?.value === undefined) return;
      const text = next === undefined ? null : JSON.stringify(next);
      const data = text === null ? undefined : new TextEncoder().encode(text);
      if (data && data.byteLength > MAX_DOCUMENT_BYTES) {
        throw new BundlehostError(
          "BAD_INPUT",
          `Registry document ${key} would hold ${data.byteLength} bytes, past ${MAX_DOCUMENT_BYTES}: prune old releases`,
        );
      }
      let written: boolean;
      try {
        written = await this.#nats.run(`write ${key}`, async () => {
          try {
            if (current?.value === undefined && data !== undefined) {
              // Creating a key lets exactly one concurrent writer win, even on nats-server 2.9.
              await this.#kv.create(key, data);
            } else {
              const revision = current!.revision;
              const write = () =>
                data === undefined
                  ? this.#kv.delete(key, { previousSeq: revision }).then(() => 0)
                  : this.#kv.update(key, data, revision);
              if (this.#locks) {
                await withRevisionLock(
                  this.#locks.bucket,
                  this.#locks.holder,
                  key,
                  revision,
                  write,
                );
              } else await write();
            }
            return true;
          } catch (error) {
            if (error instanceof CasLost || wrongRevision(error)) return false;
            throw error;
          }
        }, { retry: false });
      } catch (error) {
        // No answer: it may or may not have landed; a read after a pause says which.
        if (!(error instanceof BundlehostError) || error.code !== "UNAVAILABLE") throw error;
        if (!this.#nats.connected) throw error;
        unsure = text;
        await this.#nats.pause(250);
        continue;
      }
      if (written) return;
      unsure = undefined;
    }
    throw new BundlehostError(
      "UNAVAILABLE",
      `Cluster registry busy: ${key} changed under ${CAS_ATTEMPTS} attempts in a row`,
    );
  }

  /** A bundle record, if any. */
  async getBundle(id: string): Promise<BundleRecord | undefined> {
    return (await this.#document(id)).record;
  }

  /** Every bundle record, ordered by id. */
  async listBundles(): Promise<BundleRecord[]> {
    const keys = await this.#keys("bundle.>");
    const records: BundleRecord[] = [];
    for (const key of keys) {
      const doc = (await this.#read(key))?.value as BundleDocument | undefined;
      if (doc?.record) records.push(doc.record);
    }
    return records.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async #keys(filter: string): Promise<string[]> {
    return await this.#nats.run(`list ${filter}`, async () => {
      const keys: string[] = [];
      for await (const key of await this.#kv.keys(filter)) keys.push(key);
      return keys;
    });
  }

  /** A release record, if any. */
  async getRelease(id: string, version: string): Promise<ReleaseRecord | undefined> {
    return (await this.#document(id)).releases.find((r) => r.version === version);
  }

  /** Every release of a bundle, in release order. */
  async listReleases(id: string): Promise<ReleaseRecord[]> {
    const releases = (await this.#document(id)).releases;
    return releases.sort((a, b) => a.releasedAt.localeCompare(b.releasedAt));
  }

  /**
   * Applies a change atomically (one compare-and-set write) and durably (acknowledged by a quorum
   * of the bucket's replicas).
   *
   * @throws {BundlehostError} `CONFLICT` when the release exists; `BAD_INPUT` for a change that
   * spans several bundle ids (the registry never makes one); `UNAVAILABLE` when NATS is away.
   */
  async commit(change: StoreChange): Promise<void> {
    const ids = idsOf(change);
    if (ids.size === 0) return;
    if (ids.size > 1) {
      throw new BundlehostError(
        "BAD_INPUT",
        `A cluster registry change touches one bundle id, not ${[...ids].join(", ")}`,
      );
    }
    const [id] = ids;
    await this.#cas<BundleDocument>(
      bundleKey(id!),
      (doc) => applied(doc ?? { releases: [] }, change),
    );
  }

  /** The governance rules document, if any. */
  async getRules(): Promise<unknown> {
    return (await this.#read("rules"))?.value;
  }

  /** Replaces the governance rules document. */
  async putRules(rules: unknown): Promise<void> {
    const data = new TextEncoder().encode(JSON.stringify(rules));
    await this.#nats.run("write rules", () => this.#kv.put("rules", data));
  }

  /** Every owner: `service:<name>` / `topic:<name>` → bundle id. */
  async getOwners(): Promise<Record<string, string>> {
    return ((await this.#read("owners"))?.value as Record<string, string> | undefined) ?? {};
  }

  /**
   * Records new owners in one compare-and-set write. The names are ones this engine saw unowned:
   * when another engine claimed one for another bundle meanwhile, nothing is written.
   *
   * @throws {BundlehostError} `CONFLICT` naming the name and its owner.
   */
  async putOwners(owners: Record<string, string>): Promise<void> {
    await this.#cas<Record<string, string>>("owners", (all) => {
      for (const [key, id] of Object.entries(owners)) {
        const owner = all?.[key];
        if (owner !== undefined && owner !== id) {
          throw new BundlehostError(
            "CONFLICT",
            `${
              key.replace(":", ' "')
            }" belongs to bundle "${owner}" (claimed through another engine)`,
          );
        }
      }
      return { ...all, ...owners };
    });
  }

  /** Forgets every name `id` owns. */
  async dropOwners(id: string): Promise<void> {
    await this.#cas<Record<string, string>>("owners", (all) => {
      const kept = Object.fromEntries(Object.entries(all ?? {}).filter(([, o]) => o !== id));
      return Object.keys(kept).length === 0 ? undefined : kept;
    });
  }

  /** Releases resources (the connection belongs to the opener). */
  close(): void {
    this.#onClose();
  }
}
