/**
 * One bundle's `ctx.kv`: a Deno KV database in the bundle's data folder, opened by the engine on
 * the first request and closed when the bundle goes. Values are the bundle's structured-clone
 * serializations, stored as bytes and never decoded here.
 *
 * The quota is enforced before a write: the namespace knows its bytes (keys plus values) and keys,
 * counted once when it opens and kept with every write. Writes run one at a time, so the counts
 * stay exact; a write past the quota is refused and writes nothing. Entries written with
 * `expireIn` leave the counts too high once Deno KV drops them: a write that would be refused
 * first recounts (at most once a second), so expired entries never keep a bundle full.
 *
 * @module
 */
import type { KvOp, WireKvEntry, WireKvKey } from "../sandbox/wire/protocol.ts";
import { kvKeyBytes } from "../sandbox/wire/storage.ts";
import { StorageLimitError, type StorageLimits } from "./limits.ts";
import { UnavailableError } from "../base/errors.ts";

/**
 * What a namespace holds now.
 *
 * @example Bytes per key
 * ```ts
 * import type { KvUsage } from "@bundlehost/sdk";
 *
 * const perKey = (u: KvUsage): number => u.keys === 0 ? 0 : u.bytes / u.keys;
 * ```
 */
export interface KvUsage {
  /** Keys plus serialized values, bytes. */
  bytes: number;
  /** Entries. */
  keys: number;
}

/** Least time between two recounts of a full namespace, ms. */
const RECOUNT_MS = 1_000;

const sizeOf = (key: Deno.KvKey, value: unknown): number =>
  (kvKeyBytes(key) ?? 0) + (value instanceof Uint8Array ? value.byteLength : 0);

/** One bundle's KV namespace; see the module documentation. */
export class KvNamespace {
  /** The database file. */
  readonly path: string;
  readonly #label: string;
  readonly #limits: StorageLimits;
  readonly #now: () => number;
  #kv?: Promise<Deno.Kv>;
  #usage: KvUsage = { bytes: 0, keys: 0 };
  /** Entries written with `expireIn` since the namespace opened. */
  #expiring = 0;
  #recountedAt = -Infinity;
  #writes: Promise<unknown> = Promise.resolve();
  #closed = false;

  /**
   * Creates the namespace; nothing is opened until the first request.
   *
   * @param path The database file.
   * @param label The bundle id, for messages.
   * @param limits Quota and keys.
   * @param now The engine's clock.
   */
  constructor(path: string, label: string, limits: StorageLimits, now: () => number) {
    this.path = path;
    this.#label = label;
    this.#limits = limits;
    this.#now = now;
  }

  /** What the namespace holds (as counted; 0 before it opens). */
  get usage(): KvUsage {
    return { ...this.#usage };
  }

  /**
   * Serves one operation.
   *
   * @param op The validated operation.
   * @returns The wire answer: an entry, a set result, `null` or a page.
   * @throws {StorageLimitError} When a write would pass the quota.
   */
  serve(op: KvOp): Promise<unknown> {
    switch (op.op) {
      case "get":
        return this.#get(op.key);
      case "list":
        return this.#list(op.prefix, op.limit, op.cursor);
      case "set":
        return this.#serial(() => this.#set(op));
      case "delete":
        return this.#serial(() => this.#delete(op.key));
    }
  }

  /** Refuses new requests, waits for the writes under way, then closes the database. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#writes.catch(() => {});
    const kv = this.#kv;
    this.#kv = undefined;
    (await kv?.catch(() => undefined))?.close();
  }

  #open(): Promise<Deno.Kv> {
    if (this.#closed) {
      return Promise.reject(
        new UnavailableError(`The KV namespace of bundle ${this.#label} is closed`),
      );
    }
    this.#kv ??= (async () => {
      const kv = await Deno.openKv(this.path);
      try {
        this.#usage = await this.#count(kv);
      } catch (error) {
        kv.close();
        throw error;
      }
      return kv;
    })();
    // A failed open is tried again by the next request.
    this.#kv.catch(() => (this.#kv = undefined));
    return this.#kv;
  }

  async #count(kv: Deno.Kv): Promise<KvUsage> {
    const usage: KvUsage = { bytes: 0, keys: 0 };
    for await (const entry of kv.list({ prefix: [] })) {
      usage.bytes += sizeOf(entry.key, entry.value);
      usage.keys++;
    }
    this.#recountedAt = this.#now();
    return usage;
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#writes.then(work, work);
    this.#writes = run.catch(() => {});
    return run;
  }

  async #get(key: WireKvKey): Promise<WireKvEntry> {
    const kv = await this.#open();
    const entry = await kv.get(key);
    return {
      key: entry.key as WireKvKey,
      value: entry.value instanceof Uint8Array ? entry.value as Uint8Array<ArrayBuffer> : null,
      versionstamp: entry.versionstamp,
    };
  }

  async #list(prefix: WireKvKey, limit: number, cursor?: string) {
    const kv = await this.#open();
    // One entry past the page tells whether there is a next page.
    const iterator = kv.list<Uint8Array>({ prefix }, {
      limit: limit + 1,
      ...(cursor === undefined ? {} : { cursor }),
    });
    const entries: WireKvEntry[] = [];
    let next: string | undefined;
    let more = false;
    try {
      for await (const entry of iterator) {
        if (entries.length === limit) {
          more = true;
          break;
        }
        entries.push({
          key: entry.key as WireKvKey,
          value: entry.value as Uint8Array<ArrayBuffer>,
          versionstamp: entry.versionstamp,
        });
        next = iterator.cursor;
      }
    } catch (error) {
      if (cursor === undefined) throw error;
      throw new TypeError(`Invalid list cursor: ${(error as Error).message}`);
    }
    return more && next !== undefined ? { entries, cursor: next } : { entries };
  }

  async #set(op: Extract<KvOp, { op: "set" }>) {
    const kv = await this.#open();
    const old = await kv.get(op.key);
    if (op.check !== undefined && old.versionstamp !== op.check) return { ok: false };
    const before = old.versionstamp === null ? 0 : sizeOf(old.key, old.value);
    const after = sizeOf(op.key, op.value);
    const added = old.versionstamp === null ? 1 : 0;
    if (this.#over(after - before, added)) {
      if (this.#expiring > 0 && this.#now() - this.#recountedAt >= RECOUNT_MS) {
        this.#usage = await this.#count(kv);
      }
      const problem = this.#over(after - before, added);
      if (problem) throw new StorageLimitError("STORE_FULL", problem);
    }
    const result = await kv.atomic().check(old).set(
      op.key,
      op.value,
      op.expireIn === undefined ? undefined : { expireIn: op.expireIn },
    ).commit();
    if (!result.ok) return { ok: false };
    this.#usage.bytes += after - before;
    this.#usage.keys += added;
    if (op.expireIn !== undefined) this.#expiring++;
    return { ok: true, versionstamp: result.versionstamp };
  }

  async #delete(key: WireKvKey): Promise<null> {
    const kv = await this.#open();
    const old = await kv.get(key);
    if (old.versionstamp === null) return null;
    const result = await kv.atomic().check(old).delete(key).commit();
    if (result.ok) {
      this.#usage.bytes -= sizeOf(old.key, old.value);
      this.#usage.keys--;
    }
    return null;
  }

  /** Why a write of `bytes` more and `keys` more would pass the quota, if it would. */
  #over(bytes: number, keys: number): string | undefined {
    const { kvQuotaBytes, kvMaxKeys } = this.#limits;
    if (keys > 0 && this.#usage.keys + keys > kvMaxKeys) {
      return `The KV namespace of bundle ${this.#label} is full: it holds ${this.#usage.keys} keys, the most allowed is ${kvMaxKeys}`;
    }
    if (bytes > 0 && this.#usage.bytes + bytes > kvQuotaBytes) {
      return `The KV namespace of bundle ${this.#label} is full: ${this.#usage.bytes} of ${kvQuotaBytes} bytes used, this write needs ${bytes} more`;
    }
    return undefined;
  }
}
