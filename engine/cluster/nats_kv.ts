/**
 * Small helpers over the NATS key-value client for the cluster stores: JSON values, the
 * compare-and-set failure test, and the mapping of every other NATS failure to a clear
 * `UNAVAILABLE` error (the admin API answers it with 503).
 *
 * @module
 */
import type { KV, KvEntry } from "@nats-io/kv";
import { BundlehostError } from "../base/errors.ts";

const encoder = new TextEncoder();

/** A value as the JSON bytes stored in a bucket. */
export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** A compare-and-set lost to another writer of the same revision (its lock was taken). */
export class CasLost extends Error {
  /** Error class name. */
  override get name(): string {
    return "CasLost";
  }
}

/**
 * Whether a NATS error is a lost compare-and-set (the key changed since the revision given).
 *
 * @param error What a `create`, `update` or `delete` with `previousSeq` threw.
 */
export function isCasFailure(error: unknown): boolean {
  if (error instanceof CasLost) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return code === 10071 || code === 10164 ||
    (error instanceof Error && /wrong last sequence/i.test(error.message));
}

/**
 * Runs one NATS call; a lost compare-and-set is rethrown as it is (callers retry), any other
 * failure becomes `UNAVAILABLE` naming what was attempted.
 *
 * @param what What the call does, for the message.
 * @param call The call.
 * @throws {BundlehostError} `UNAVAILABLE` when NATS cannot be reached or refuses.
 */
export async function natsCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isCasFailure(error) || error instanceof BundlehostError) throw error;
    throw new BundlehostError(
      "UNAVAILABLE",
      `cluster: ${what} failed, NATS is unreachable or refused: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
}

/**
 * The live entry under `key`, or `undefined` when there is none (never written, or deleted).
 *
 * @param kv Bucket.
 * @param key Key.
 */
export async function liveEntry(kv: KV, key: string): Promise<KvEntry | undefined> {
  const entry = await natsCall(`reading ${key}`, () => kv.get(key));
  return entry !== null && entry.operation === "PUT" ? entry : undefined;
}

/**
 * Runs a write that expects `key` to be at `revision`, after taking the lock `<key>.<revision>`
 * in `locks` with `create`. On a replicated (R3) stream, nats-server 2.9 lets several
 * concurrent writes that expect the same last revision of a subject all succeed, while
 * `create` (expecting no message) lets exactly one win; the lock turns each compare-and-set
 * into such a `create`, and the write's own expected revision still refuses a late writer.
 *
 * A lock create that timed out is checked: when the lock holds this very try's token, the
 * create had gone through and the write goes on.
 *
 * @param locks The lock bucket (entries expire with its TTL).
 * @param holder Who takes the lock (the store's owner name, for diagnosis).
 * @param key The key written.
 * @param revision The revision the write expects.
 * @param write The write.
 * @throws {CasLost} When another writer took that revision's lock.
 */
export async function withRevisionLock<T>(
  locks: KV,
  holder: string,
  key: string,
  revision: number,
  write: () => Promise<T>,
): Promise<T> {
  const lock = `${key}.${Math.floor(revision)}`;
  const token = JSON.stringify(`${holder} ${crypto.randomUUID()}`);
  try {
    await natsCall(`locking ${key}`, () => locks.create(lock, token));
  } catch (error) {
    if (isCasFailure(error)) throw new CasLost(`${key} changed after revision ${revision}`);
    const held = await liveEntry(locks, lock).catch(() => undefined);
    if (held?.string() !== token) throw error;
  }
  return await write();
}
