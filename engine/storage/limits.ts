/**
 * The bounds of bundle storage (`ctx.kv`, `ctx.cache`), per bundle, and the error a request past
 * them gets.
 *
 * @module
 */
import { BundlehostError, type ErrorCode } from "../base/errors.ts";

/**
 * Per-bundle bounds of `ctx.kv` and `ctx.cache` (README, "Storage").
 *
 * @example A small quota for every bundle
 * ```ts
 * import { createEngine, type StorageLimits } from "@bundlehost/sdk";
 *
 * const storage: Partial<StorageLimits> = { kvQuotaBytes: 1024 * 1024, kvMaxKeys: 1_000 };
 * await using engine = await createEngine({ storage });
 * ```
 */
export interface StorageLimits {
  /** Bytes a bundle's KV namespace may hold (keys plus serialized values). @default {16777216} */
  kvQuotaBytes: number;
  /** Keys a bundle's KV namespace may hold. @default {10000} */
  kvMaxKeys: number;
  /** Bytes of a bundle's memory cache (keys, values, 64 bytes per entry); LRU past it. @default {8388608} */
  cacheBytes: number;
  /** `ctx.kv` and `ctx.cache` requests of one bundle the engine serves at once. @default {64} */
  maxOpsInFlight: number;
  /**
   * Bytes all bundles' caches may hold together: a bundle's write past it evicts its own entries,
   * or is refused with `STORE_FULL` when those are not enough. @default {268435456}
   */
  cacheTotalBytes: number;
}

/** Defaults of {@linkcode StorageLimits}. */
export const DEFAULT_STORAGE_LIMITS: Readonly<StorageLimits> = Object.freeze({
  kvQuotaBytes: 16 * 1024 * 1024,
  kvMaxKeys: 10_000,
  cacheBytes: 8 * 1024 * 1024,
  maxOpsInFlight: 64,
  cacheTotalBytes: 256 * 1024 * 1024,
});

/**
 * Merges `limits` over the defaults and checks every field.
 *
 * @param limits Fields to override.
 * @returns Complete limits.
 * @throws {RangeError} When a field is not a positive integer.
 */
export function resolveStorageLimits(limits: Partial<StorageLimits> = {}): StorageLimits {
  const resolved = { ...DEFAULT_STORAGE_LIMITS, ...limits };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`Storage limit ${name} must be a positive integer, got ${value}`);
    }
  }
  return resolved;
}

/**
 * A storage request past a bound: `STORE_FULL` (quota, keys), `TOO_LARGE` (an entry larger than
 * the whole cache) or `THROTTLED` (too many requests at once). Nothing was written.
 *
 * @example Tell a full namespace from other failures
 * ```ts
 * import { StorageLimitError } from "@bundlehost/sdk";
 *
 * const error = new StorageLimitError("STORE_FULL", "KV namespace of bundle x is full");
 * console.log(error.code, error.name); // STORE_FULL StorageLimitError
 * ```
 */
export class StorageLimitError extends BundlehostError {
  /**
   * Creates the error.
   *
   * @param code `STORE_FULL`, `TOO_LARGE` or `THROTTLED`.
   * @param message What was refused and why.
   */
  constructor(code: Extract<ErrorCode, "STORE_FULL" | "TOO_LARGE" | "THROTTLED">, message: string) {
    super(code, message);
  }

  /** Error class name, kept through minification. */
  override get name(): string {
    return "StorageLimitError";
  }
}
