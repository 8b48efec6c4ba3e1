/**
 * The engine's side of bundle storage and outbound HTTP: one {@linkcode KvNamespace} and one
 * {@linkcode MemoryCache} per bundle id, made on first use and shared by every instance and
 * version of the bundle, and the reports of its outbound fetches. A request is served from the
 * namespace of the bundle the instance belongs to ({@linkcode BundleStorage.forBundle} binds it
 * when the instance is made); nothing in a message names a namespace.
 *
 * Each bundle may have at most `maxOpsInFlight` requests served at once; past it a request is
 * refused with `THROTTLED` at once, so a flood costs the engine a counter, not a queue.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { CacheOp, OutboundReport, StorageRequest } from "../sandbox/wire/protocol.ts";
import type { StorageHandle } from "../sandbox/host/types.ts";
import { KvNamespace, type KvUsage } from "./kv_namespace.ts";
import { CACHE_ENTRY_OVERHEAD, type CacheUsage, MemoryCache } from "./memory_cache.ts";
import { StorageLimitError, type StorageLimits } from "./limits.ts";
import { OutboundFetchEvent, StorageEvent, type StorageOutcome } from "./storage_events.ts";

/**
 * What one bundle holds.
 *
 * @example Share of the cache in use
 * ```ts
 * import type { StorageUsage } from "@bundlehost/sdk";
 *
 * const share = (u: StorageUsage, budget: number): number => u.cache.bytes / budget;
 * ```
 */
export interface StorageUsage {
  /** Bundle id. */
  bundle: string;
  /** KV bytes and keys (0 until the namespace is first used). */
  kv: KvUsage;
  /** Cache bytes, entries and evictions. */
  cache: CacheUsage;
}

/** The label of everything outside a bundle's `net` grants. */
export const OTHER_HOST = "other";

/**
 * The host label of an outbound fetch: the host when one of the bundle's `net` grants names it
 * (with or without a port), else {@linkcode OTHER_HOST}. The labels of a bundle are thus at most
 * its grants plus one.
 *
 * @param host The URL's host name.
 * @param net The bundle's `net` grants.
 * @returns The label.
 */
export function hostLabel(host: string, net: readonly string[]): string {
  const wanted = host.toLowerCase();
  for (const grant of net) {
    const name = grant.startsWith("[")
      ? grant.slice(0, grant.indexOf("]") + 1)
      : grant.split(":")[0]!;
    if (name.toLowerCase() === wanted) return name.toLowerCase();
  }
  return OTHER_HOST;
}

/** `2xx`… of a status, `timeout` or `error`. */
function statusClass(report: OutboundReport): string {
  if (report.failure) return report.failure;
  return report.status >= 100 && report.status <= 599
    ? `${Math.floor(report.status / 100)}xx`
    : "error";
}

interface Space {
  kv: KvNamespace;
  cache: MemoryCache;
  inflight: number;
}

/** Every bundle's storage; see the module documentation. */
export class BundleStorage {
  readonly #limits: StorageLimits;
  readonly #clock: Clock;
  readonly #events: EventTarget;
  readonly #spaces = new Map<string, Space>();
  /** Bytes all caches hold (kept with every cache operation). */
  #cacheTotal = 0;

  /**
   * Creates the service; nothing is opened until a bundle uses it.
   *
   * @param limits Per-bundle bounds.
   * @param clock The engine's clock (cache TTLs).
   * @param events Where `storage` and `outboundfetch` events go.
   */
  constructor(limits: StorageLimits, clock: Clock, events: EventTarget) {
    if (limits.cacheBytes < CACHE_ENTRY_OVERHEAD) {
      throw new RangeError(`Storage limit cacheBytes must be at least ${CACHE_ENTRY_OVERHEAD}`);
    }
    this.#limits = limits;
    this.#clock = clock;
    this.#events = events;
  }

  /**
   * The handle the instances of one bundle use.
   *
   * @param id Bundle id: the namespace.
   * @param dataDir The bundle's data folder, where its KV database lives.
   * @param net The bundle's `net` grants (host labels).
   * @returns The handle.
   */
  forBundle(id: string, dataDir: string, net: readonly string[]): StorageHandle {
    return {
      serve: (request) => this.#serve(id, dataDir, request),
      report: (report) => {
        this.#events.dispatchEvent(
          new OutboundFetchEvent(
            id,
            hostLabel(report.host, net),
            statusClass(report),
            report.durationMs,
          ),
        );
      },
    };
  }

  /** What every bundle that used storage holds now. */
  usage(): StorageUsage[] {
    return [...this.#spaces].map(([bundle, space]) => ({
      bundle,
      kv: space.kv.usage,
      cache: space.cache.usage,
    }));
  }

  /**
   * Closes a bundle's KV database and drops its cache (the bundle was uninstalled; its data folder
   * may be removed next).
   *
   * @param id Bundle id.
   */
  async forget(id: string): Promise<void> {
    const space = this.#spaces.get(id);
    if (!space) return;
    this.#spaces.delete(id);
    this.#cacheTotal -= space.cache.usage.bytes;
    space.cache.clear();
    await space.kv.close();
  }

  /** Closes every database. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#spaces.keys()].map((id) => this.forget(id)));
  }

  #space(id: string, dataDir: string): Space {
    let space = this.#spaces.get(id);
    if (!space) {
      const now = () => this.#clock.now();
      space = {
        kv: new KvNamespace(`${dataDir}/kv.sqlite3`, id, this.#limits, now),
        cache: new MemoryCache(this.#limits.cacheBytes, this.#clock, id),
        inflight: 0,
      };
      this.#spaces.set(id, space);
    }
    return space;
  }

  async #serve(id: string, dataDir: string, request: StorageRequest): Promise<unknown> {
    const space = this.#space(id, dataDir);
    const store = request.type;
    if (space.inflight >= this.#limits.maxOpsInFlight) {
      this.#record(id, store, request.op, "refused");
      throw new StorageLimitError(
        "THROTTLED",
        `Too many storage requests at once from bundle ${id} (at most ${this.#limits.maxOpsInFlight}); await them before sending more`,
      );
    }
    space.inflight++;
    try {
      const result = request.type === "kv"
        ? await space.kv.serve(request)
        : this.#cacheOp(space.cache, request);
      this.#record(id, store, request.op, outcomeOf(request, result));
      return result;
    } catch (error) {
      this.#record(id, store, request.op, error instanceof StorageLimitError ? "refused" : "error");
      throw error;
    } finally {
      space.inflight--;
    }
  }

  /** A cache operation within the engine's total: the room is what the other caches leave. */
  #cacheOp(cache: MemoryCache, op: CacheOp): unknown {
    const before = cache.usage.bytes;
    try {
      return cache.serve(op, this.#limits.cacheTotalBytes - (this.#cacheTotal - before));
    } finally {
      this.#cacheTotal += cache.usage.bytes - before;
    }
  }

  #record(id: string, store: "kv" | "cache", op: string, outcome: StorageOutcome): void {
    this.#events.dispatchEvent(new StorageEvent(id, store, op, outcome));
  }
}

/** `miss` for a read of an absent key (and a failed check-and-set), else `ok`. */
function outcomeOf(request: StorageRequest, result: unknown): StorageOutcome {
  if (request.op === "get") {
    if (result === null) return "miss";
    if (request.type === "kv" && (result as { versionstamp: unknown }).versionstamp === null) {
      return "miss";
    }
  }
  if (request.op === "set" && (result as { ok?: boolean } | null)?.ok === false) return "miss";
  return "ok";
}
