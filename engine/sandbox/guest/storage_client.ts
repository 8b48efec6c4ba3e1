/**
 * `ctx.kv` and `ctx.cache` inside a sandbox: every operation becomes a `kv` or `cache` message the
 * engine answers with a `storage-reply`. Values are serialized here, on the sandbox's own thread,
 * with the structured-clone algorithm (`node:v8`): a value that cannot be cloned, or is too large,
 * fails at once with a clear error, and the engine only ever stores and returns bytes. Keys and
 * options are checked here for a clear error too; the engine checks every field again.
 *
 * @module
 */
import { deserialize, serialize } from "node:v8";
import type { TraceContext } from "../../base/trace_context.ts";
import type { GuestMessage, HostMessage } from "../wire/protocol.ts";
import {
  expiryProblem,
  kvKeyProblem,
  type KvOp,
  MAX_CACHE_KEY,
  MAX_CACHE_VALUE_BYTES,
  MAX_KV_CURSOR,
  MAX_KV_LIST_LIMIT,
  MAX_KV_VALUE_BYTES,
  type WireKvEntry,
  type WireKvKey,
} from "../wire/storage.ts";
import type {
  BundleCache,
  BundleKv,
  KvEntryMaybe,
  KvKey,
  KvListPage,
  KvSetResult,
} from "../../sdk/types.ts";
import { ReplyTable } from "./reply_table.ts";

type StorageReply = Extract<HostMessage, { type: "storage-reply" }>;

/** A Deno KV versionstamp, as the engine accepts it for a check-and-set. */
const VERSIONSTAMP = /^[0-9a-f]{20}$/;

/** A value's structured-clone serialization, bounded. */
function encode(value: unknown, max: number, what: string): Uint8Array<ArrayBuffer> {
  let bytes: Uint8Array;
  try {
    bytes = serialize(value);
  } catch (error) {
    throw new DOMException(
      `${what} value cannot be stored: ${(error as Error).message}`,
      "DataCloneError",
    );
  }
  if (bytes.byteLength > max) {
    throw new RangeError(
      `${what} value is ${bytes.byteLength} bytes serialized; the limit is ${max} bytes`,
    );
  }
  // A Buffer may share its pool: copy into a buffer of its own, as the message carries it.
  return new Uint8Array(bytes) as Uint8Array<ArrayBuffer>;
}

const decode = (bytes: Uint8Array | null): unknown => bytes === null ? null : deserialize(bytes);

function checkKey(key: unknown, prefix = false): WireKvKey {
  const problem = kvKeyProblem(key, prefix);
  if (problem) throw new TypeError(`Invalid KV ${prefix ? "prefix" : "key"}: ${problem}`);
  return [...(key as WireKvKey)];
}

function checkCacheKey(key: unknown): string {
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_CACHE_KEY) {
    throw new TypeError(`A cache key must be a string of 1 to ${MAX_CACHE_KEY} characters`);
  }
  return key;
}

/** `ctx.kv` over a function that sends one checked operation and waits for its reply. */
function makeKv(kvRequest: <T>(op: () => KvOp) => Promise<T>): BundleKv {
  return {
    async get<T>(key: KvKey): Promise<KvEntryMaybe<T>> {
      const entry = await kvRequest<WireKvEntry>(() => ({ op: "get", key: checkKey(key) }));
      return {
        key: entry.key,
        value: decode(entry.value) as T | null,
        versionstamp: entry.versionstamp,
      };
    },
    set(key, value, options = {}): Promise<KvSetResult> {
      return kvRequest<KvSetResult>(() => {
        const problem = expiryProblem(options.expireIn, "expireIn");
        if (problem) throw new TypeError(problem);
        const op: KvOp = {
          op: "set",
          key: checkKey(key),
          value: encode(value, MAX_KV_VALUE_BYTES, "A KV"),
        };
        if (options.expireIn !== undefined) op.expireIn = options.expireIn;
        const check = options.versionstamp;
        if (check !== undefined && check !== null && !VERSIONSTAMP.test(String(check))) {
          throw new TypeError("versionstamp must be null or one read from ctx.kv (20 hex digits)");
        }
        if (check !== undefined) op.check = check;
        return op;
      });
    },
    async delete(key) {
      await kvRequest<null>(() => ({ op: "delete", key: checkKey(key) }));
    },
    async list<T>(selector: { prefix: KvKey }, options: { limit?: number; cursor?: string } = {}) {
      const page = await kvRequest<{ entries: WireKvEntry[]; cursor?: string }>(() => {
        const limit = options.limit ?? 100;
        if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_KV_LIST_LIMIT) {
          throw new RangeError(`limit must be a whole number from 1 to ${MAX_KV_LIST_LIMIT}`);
        }
        const op: KvOp = { op: "list", prefix: checkKey(selector?.prefix, true), limit };
        const cursor = options.cursor;
        if (cursor !== undefined && (typeof cursor !== "string" || cursor.length > MAX_KV_CURSOR)) {
          throw new TypeError(
            `cursor must be one a page returned (at most ${MAX_KV_CURSOR} characters)`,
          );
        }
        if (cursor !== undefined) op.cursor = cursor;
        return op;
      });
      const result: KvListPage<T> = {
        entries: page.entries.map((e) => ({
          key: e.key,
          value: decode(e.value) as T,
          versionstamp: e.versionstamp!,
        })),
      };
      if (page.cursor !== undefined) result.cursor = page.cursor;
      return result;
    },
  };
}

/** `ctx.cache` over the reply table and the channel to the engine. */
function makeCache(replies: ReplyTable, post: (message: GuestMessage) => void): BundleCache {
  return {
    async get<T>(key: string): Promise<T | undefined> {
      const bytes = await replies.request<Uint8Array | null>((id) =>
        post({ type: "cache", id, op: "get", key: checkCacheKey(key) })
      );
      return bytes === null ? undefined : deserialize(bytes) as T;
    },
    async set(key, value, options = {}) {
      const problem = expiryProblem(options.ttlMs, "ttlMs");
      if (problem) throw new TypeError(problem);
      const bytes = encode(value, MAX_CACHE_VALUE_BYTES, "A cache");
      await replies.request<null>((id) => {
        const k = checkCacheKey(key);
        post(
          options.ttlMs === undefined
            ? { type: "cache", id, op: "set", key: k, value: bytes }
            : { type: "cache", id, op: "set", key: k, value: bytes, ttlMs: options.ttlMs },
        );
      });
    },
    delete(key) {
      return replies.request<boolean>((id) =>
        post({ type: "cache", id, op: "delete", key: checkCacheKey(key) })
      );
    },
  };
}

/**
 * Builds `ctx.kv` and `ctx.cache` and the function that settles their pending requests.
 *
 * @param post Sends a message to the engine.
 * @param currentCall Id of the engine call being served, if any.
 * @param currentTrace The active W3C trace context, if any.
 * @returns The clients and the reply handler.
 */
export function makeStorage(
  post: (message: GuestMessage) => void,
  currentCall: () => number | undefined,
  currentTrace: () => TraceContext | undefined = () => undefined,
): { kv: BundleKv; cache: BundleCache; settle(reply: StorageReply): void } {
  const replies = new ReplyTable(currentCall, currentTrace);
  // The origin (call, trace) is not sent: storage needs neither, and the namespace is the engine's.
  const kvRequest = <T>(op: () => KvOp): Promise<T> => {
    try {
      const body = op();
      return replies.request<T>((id) => post({ type: "kv", id, ...body }));
    } catch (error) {
      return Promise.reject(error);
    }
  };

  return {
    kv: makeKv(kvRequest),
    cache: makeCache(replies, post),
    settle: (reply) => replies.settle(reply),
  };
}
