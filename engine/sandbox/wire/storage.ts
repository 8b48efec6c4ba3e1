/**
 * The storage messages of the wire protocol: `ctx.kv` and `ctx.cache` requests a guest makes of
 * the engine, and the outbound-fetch reports it sends. They carry no namespace: the engine serves
 * each request from the namespace of the instance it came from, never from anything in the message.
 *
 * Values cross as their structured-clone serialization (`node:v8`, made on the guest's own thread):
 * the engine bounds and stores bytes, and never decodes what a bundle stores.
 *
 * @module
 */
import { isId, type Obj } from "./guards.ts";

/** One part of a KV key, as in `Deno.KvKeyPart`. */
export type WireKvKeyPart = string | number | bigint | boolean | Uint8Array;
/** A KV key: one to {@linkcode MAX_KV_KEY_PARTS} parts. */
export type WireKvKey = WireKvKeyPart[];

/** Most parts of a KV key. */
export const MAX_KV_KEY_PARTS = 16;
/** Largest encoded KV key, bytes (Deno KV's own limit for a key that is written). */
export const MAX_KV_KEY_BYTES = 2048;
/** Largest serialized KV value, bytes (below Deno KV's 64 KiB, which counts its own framing). */
export const MAX_KV_VALUE_BYTES = 60 * 1024;
/** Most entries one `ctx.kv.list` returns. */
export const MAX_KV_LIST_LIMIT = 1000;
/** Longest list cursor. */
export const MAX_KV_CURSOR = 4096;
/** Longest `expireIn` or cache TTL: 10 years, ms. */
export const MAX_EXPIRE_MS = 10 * 365 * 24 * 3600 * 1000;
/** Longest cache key, characters. */
export const MAX_CACHE_KEY = 512;
/** Largest serialized cache value, bytes. */
export const MAX_CACHE_VALUE_BYTES = 1024 * 1024;
/** Longest host name an outbound report may carry. */
export const MAX_OUTBOUND_HOST = 253;

/** A `ctx.kv` operation. */
export type KvOp =
  | { op: "get"; key: WireKvKey }
  | {
    op: "set";
    key: WireKvKey;
    /** The value's `node:v8` serialization. */
    value: Uint8Array<ArrayBuffer>;
    expireIn?: number;
    /** Check-and-set: write only when the key's versionstamp is this (`null`: key absent). */
    check?: string | null;
  }
  | { op: "delete"; key: WireKvKey }
  | { op: "list"; prefix: WireKvKey; limit: number; cursor?: string };

/** A `ctx.cache` operation. */
export type CacheOp =
  | { op: "get"; key: string }
  | { op: "set"; key: string; value: Uint8Array<ArrayBuffer>; ttlMs?: number }
  | { op: "delete"; key: string };

/** Guest → engine: a storage request, answered by a `storage-reply`. */
export type StorageRequest =
  | ({ type: "kv"; id: number } & KvOp)
  | ({ type: "cache"; id: number } & CacheOp);

/** Guest → engine: one outbound `fetch` the bundle made, reported when it settled. */
export interface OutboundReport {
  /** Always `"outbound"`. */
  type: "outbound";
  /** The URL's host name (the engine folds it into a label). */
  host: string;
  /** Response status, or 0 when the fetch failed. */
  status: number;
  /** Time to the response's headers (or the failure), ms. */
  durationMs: number;
  /** Set when the fetch failed: `"timeout"` (the call's deadline or the default) or `"error"`. */
  failure?: "timeout" | "error";
}

/** A KV entry as the engine returns it. */
export interface WireKvEntry {
  /** The key. */
  key: WireKvKey;
  /** The value's serialization, or `null` when absent. */
  value: Uint8Array<ArrayBuffer> | null;
  /** Deno KV's versionstamp, or `null` when absent. */
  versionstamp: string | null;
}

const encoder = new TextEncoder();

/**
 * The encoded size of a key, bytes (an upper bound of Deno KV's encoding), or `undefined` when a
 * part has a type a key cannot hold.
 *
 * @param key The key's parts.
 * @returns Bytes, or `undefined`.
 */
export function kvKeyBytes(key: readonly unknown[]): number | undefined {
  let bytes = 0;
  for (const part of key) {
    if (typeof part === "string") {
      // A string over the limit in UTF-16 units is over it in bytes too: skip the encoding.
      if (part.length > MAX_KV_KEY_BYTES) return MAX_KV_KEY_BYTES + 1;
      bytes += encoder.encode(part).byteLength + 2;
    } else if (part instanceof Uint8Array) bytes += part.byteLength + 2;
    else if (typeof part === "number") {
      if (Number.isNaN(part)) return undefined;
      bytes += 9;
    } else if (typeof part === "bigint") bytes += Math.ceil(part.toString(16).length / 2) + 2;
    else if (typeof part === "boolean") bytes += 1;
    else return undefined;
  }
  return bytes;
}

/**
 * What is wrong with a KV key, or `undefined` when it is valid.
 *
 * @param key Anything.
 * @param prefix Whether it is a list prefix (may be empty).
 * @returns A sentence naming the problem, or `undefined`.
 */
export function kvKeyProblem(key: unknown, prefix = false): string | undefined {
  if (!Array.isArray(key)) return "a KV key must be an array of parts";
  if (key.length === 0 && !prefix) return "a KV key must have at least one part";
  if (key.length > MAX_KV_KEY_PARTS) {
    return `a KV key has at most ${MAX_KV_KEY_PARTS} parts, got ${key.length}`;
  }
  const bytes = kvKeyBytes(key);
  if (bytes === undefined) {
    return "a KV key part must be a string, number (not NaN), bigint, boolean or Uint8Array";
  }
  if (bytes > MAX_KV_KEY_BYTES) return `a KV key is at most ${MAX_KV_KEY_BYTES} bytes encoded`;
  return undefined;
}

/** What is wrong with an `expireIn`/TTL, or `undefined`. */
export function expiryProblem(ms: unknown, what: string): string | undefined {
  if (ms === undefined) return undefined;
  if (!Number.isSafeInteger(ms) || (ms as number) <= 0 || (ms as number) > MAX_EXPIRE_MS) {
    return `${what} must be a positive whole number of milliseconds up to ${MAX_EXPIRE_MS}`;
  }
  return undefined;
}

/**
 * A value's bytes, bounded, owning exactly their buffer: a small view over a large buffer (which
 * a forged frame can carry whole) is copied, so what the engine keeps is what it counts.
 */
function bytesOf(v: unknown, max: number): Uint8Array<ArrayBuffer> | undefined {
  if (!(v instanceof Uint8Array) || v.byteLength > max) return undefined;
  const own = v.byteOffset === 0 && v.byteLength === v.buffer.byteLength &&
    v.buffer instanceof ArrayBuffer;
  return (own ? v : v.slice()) as Uint8Array<ArrayBuffer>;
}

function kvOp(raw: Obj): KvOp | undefined {
  switch (raw.op) {
    case "get":
    case "delete":
      return kvKeyProblem(raw.key) ? undefined : { op: raw.op, key: raw.key as WireKvKey };
    case "set": {
      const value = bytesOf(raw.value, MAX_KV_VALUE_BYTES);
      if (kvKeyProblem(raw.key) || !value || expiryProblem(raw.expireIn, "expireIn")) {
        return undefined;
      }
      const op: KvOp = { op: "set", key: raw.key as WireKvKey, value };
      if (raw.expireIn !== undefined) op.expireIn = raw.expireIn as number;
      if (
        raw.check === null || (typeof raw.check === "string" && /^[0-9a-f]{20}$/.test(raw.check))
      ) {
        op.check = raw.check;
      } else if (raw.check !== undefined) return undefined;
      return op;
    }
    case "list": {
      if (kvKeyProblem(raw.prefix, true)) return undefined;
      const limit = raw.limit;
      if (!Number.isSafeInteger(limit) || (limit as number) < 1) return undefined;
      if ((limit as number) > MAX_KV_LIST_LIMIT) return undefined;
      const op: KvOp = { op: "list", prefix: raw.prefix as WireKvKey, limit: limit as number };
      if (typeof raw.cursor === "string" && raw.cursor.length <= MAX_KV_CURSOR) {
        op.cursor = raw.cursor;
      } else if (raw.cursor !== undefined) return undefined;
      return op;
    }
    default:
      return undefined;
  }
}

function cacheOp(raw: Obj): CacheOp | undefined {
  const key = raw.key;
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_CACHE_KEY) return undefined;
  switch (raw.op) {
    case "get":
    case "delete":
      return { op: raw.op, key };
    case "set": {
      const value = bytesOf(raw.value, MAX_CACHE_VALUE_BYTES);
      if (!value || expiryProblem(raw.ttlMs, "ttlMs")) return undefined;
      return raw.ttlMs === undefined
        ? { op: "set", key, value }
        : { op: "set", key, value, ttlMs: raw.ttlMs as number };
    }
    default:
      return undefined;
  }
}

/**
 * Validates a `kv` or `cache` message from a guest.
 *
 * @param raw The received message (its `type` is `"kv"` or `"cache"`).
 * @returns The typed request, or `undefined` when any field is malformed or out of bounds.
 */
export function parseStorageRequest(raw: Obj): StorageRequest | undefined {
  if (!isId(raw.id)) return undefined;
  if (raw.type === "kv") {
    const op = kvOp(raw);
    return op && { type: "kv", id: raw.id, ...op };
  }
  if (raw.type === "cache") {
    const op = cacheOp(raw);
    return op && { type: "cache", id: raw.id, ...op };
  }
  return undefined;
}

/**
 * Validates an `outbound` report from a guest.
 *
 * @param raw The received message.
 * @returns The report, or `undefined` when malformed.
 */
export function parseOutboundReport(raw: Obj): OutboundReport | undefined {
  const { host, status, durationMs, failure } = raw;
  if (typeof host !== "string" || host.length > MAX_OUTBOUND_HOST) return undefined;
  if (!Number.isSafeInteger(status) || (status as number) < 0 || (status as number) > 999) {
    return undefined;
  }
  if (!Number.isFinite(durationMs) || (durationMs as number) < 0) return undefined;
  const report: OutboundReport = {
    type: "outbound",
    host,
    status: status as number,
    durationMs: durationMs as number,
  };
  if (failure === "timeout" || failure === "error") report.failure = failure;
  else if (failure !== undefined) return undefined;
  return report;
}
