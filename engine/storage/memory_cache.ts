/**
 * One bundle's `ctx.cache`: serialized values in the engine's memory, shared by every instance of
 * the bundle, bounded by a byte budget (least recently used entries are evicted first) and expired
 * by a TTL read from the engine's {@linkcode Clock}. Expiry is lazy: an expired entry is dropped
 * when it is read or reached by eviction, and counts against the budget until then, so the budget
 * holds at every moment.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { CacheOp } from "../sandbox/wire/protocol.ts";
import { StorageLimitError } from "./limits.ts";

/** Bytes counted per entry beside its key and value (map slot, record, timestamps). */
export const CACHE_ENTRY_OVERHEAD = 64;

interface Entry {
  value: Uint8Array<ArrayBuffer>;
  /** Epoch ms after which the entry is gone; `Infinity` without a TTL. */
  expiresAt: number;
  bytes: number;
}

/**
 * What a cache holds and has done.
 *
 * @example Whether a cache is under pressure
 * ```ts
 * import type { CacheUsage } from "@bundlehost/sdk";
 *
 * const pressed = (u: CacheUsage): boolean => u.evictions > 0;
 * ```
 */
export interface CacheUsage {
  /** Bytes counted (keys, values, overhead). */
  bytes: number;
  /** Entries, expired ones not yet dropped included. */
  entries: number;
  /** Entries evicted to make room, since the cache was made. */
  evictions: number;
}

/** One bundle's memory cache; see the module documentation. */
export class MemoryCache {
  readonly #budget: number;
  readonly #clock: Clock;
  readonly #label: string;
  /** In use order: the first entry is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  #evictions = 0;

  /**
   * Creates an empty cache.
   *
   * @param budget Bytes it may hold.
   * @param clock The engine's clock (TTLs).
   * @param label The bundle id, for messages.
   */
  constructor(budget: number, clock: Clock, label: string) {
    this.#budget = budget;
    this.#clock = clock;
    this.#label = label;
  }

  /** What the cache holds. */
  get usage(): CacheUsage {
    return { bytes: this.#bytes, entries: this.#entries.size, evictions: this.#evictions };
  }

  /**
   * Serves one operation.
   *
   * @param op The validated operation.
   * @param room Bytes this cache may hold now, when the engine's total leaves it less than its
   *   budget. @default {Infinity}
   * @returns `get`: the value's bytes or `null`; `set`: `null`; `delete`: whether it was there.
   * @throws {StorageLimitError} When one entry is larger than the budget, or than the room.
   */
  serve(op: CacheOp, room = Infinity): Uint8Array<ArrayBuffer> | boolean | null {
    switch (op.op) {
      case "get":
        return this.get(op.key) ?? null;
      case "set":
        this.set(op.key, op.value, op.ttlMs, room);
        return null;
      case "delete":
        return this.delete(op.key);
    }
  }

  /**
   * Reads an entry and marks it used.
   *
   * @param key The key.
   * @returns The value's bytes, or `undefined` when absent or expired.
   */
  get(key: string): Uint8Array<ArrayBuffer> | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= this.#clock.now()) {
      this.#bytes -= entry.bytes;
      return undefined;
    }
    this.#entries.set(key, entry);
    return entry.value;
  }

  /**
   * Writes an entry, evicting the least recently used ones until it fits.
   *
   * @param key The key.
   * @param value The value's bytes.
   * @param ttlMs Time to live, ms; none when omitted.
   * @param room Bytes this cache may hold now (see {@linkcode MemoryCache.serve}).
   * @throws {StorageLimitError} When the entry alone is larger than the budget (`TOO_LARGE`), or
   *   than the room the engine's total leaves (`STORE_FULL`); nothing changes then.
   */
  set(key: string, value: Uint8Array<ArrayBuffer>, ttlMs?: number, room = Infinity): void {
    const bytes = key.length * 2 + value.byteLength + CACHE_ENTRY_OVERHEAD;
    if (bytes > this.#budget) {
      throw new StorageLimitError(
        "TOO_LARGE",
        `A cache entry of ${bytes} bytes does not fit the cache of bundle ${this.#label} (${this.#budget} bytes)`,
      );
    }
    if (bytes > room) {
      throw new StorageLimitError(
        "STORE_FULL",
        `The engine's cache memory is full: bundle ${this.#label} has room for ${
          Math.max(0, room)
        } bytes, this entry needs ${bytes}`,
      );
    }
    const budget = Math.min(this.#budget, room);
    this.delete(key);
    const now = this.#clock.now();
    this.#entries.set(key, {
      value,
      bytes,
      expiresAt: ttlMs === undefined ? Infinity : now + ttlMs,
    });
    this.#bytes += bytes;
    this.#evict(now, budget);
  }

  /**
   * Deletes an entry.
   *
   * @param key The key.
   * @returns Whether a live entry was there.
   */
  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
    return entry.expiresAt > this.#clock.now();
  }

  /** Forgets every entry. */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  /** Drops least recently used entries (expired ones are not counted as evictions) until it fits. */
  #evict(now: number, budget: number): void {
    for (const [key, entry] of this.#entries) {
      if (this.#bytes <= budget) return;
      this.#entries.delete(key);
      this.#bytes -= entry.bytes;
      if (entry.expiresAt > now) this.#evictions++;
    }
  }
}
