import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { CACHE_ENTRY_OVERHEAD, MemoryCache } from "./memory_cache.ts";
import { StorageLimitError } from "./limits.ts";

const bytes = (n: number) => new Uint8Array(n) as Uint8Array<ArrayBuffer>;
/** Bytes one entry of key `k` (one character) and an `n`-byte value counts. */
const size = (n: number) => 2 + n + CACHE_ENTRY_OVERHEAD;

Deno.test("MemoryCache expires an entry at its TTL on the engine's clock", async () => {
  const clock = new ManualClock(1_000_000);
  const cache = new MemoryCache(10_000, clock, "b");
  cache.set("a", bytes(10), 5_000);
  cache.set("b", bytes(10));
  await clock.advance(4_999);
  assert.equal(cache.get("a")?.byteLength, 10);
  await clock.advance(1);
  assert.equal(cache.get("a"), undefined);
  // Gone, and no longer counted; the entry without a TTL stays.
  assert.equal(cache.usage.entries, 1);
  assert.equal(cache.usage.bytes, size(10));
  await clock.advance(365 * 24 * 3600 * 1000);
  assert.equal(cache.get("b")?.byteLength, 10);
  // Deleting an expired entry frees it but reports that nothing live was there.
  cache.set("c", bytes(1), 10);
  await clock.advance(10);
  assert.equal(cache.delete("c"), false);
  assert.equal(cache.delete("b"), true);
  assert.deepEqual(cache.usage, { bytes: 0, entries: 0, evictions: 0 });
});

Deno.test("MemoryCache evicts the least recently used entries to stay within its budget", () => {
  const clock = new ManualClock(0);
  const cache = new MemoryCache(3 * size(100), clock, "b");
  cache.set("a", bytes(100));
  cache.set("b", bytes(100));
  cache.set("c", bytes(100));
  assert.equal(cache.usage.bytes, 3 * size(100));
  // Reading "a" makes "b" the least recently used: it goes first.
  assert.ok(cache.get("a"));
  cache.set("d", bytes(100));
  assert.equal(cache.get("b"), undefined);
  assert.deepEqual(["a", "c", "d"].map((k) => cache.get(k)?.byteLength), [100, 100, 100]);
  assert.equal(cache.usage.evictions, 1);
  // A larger entry evicts as many as it needs; the budget holds after every write.
  cache.set("e", bytes(250));
  assert.ok(cache.usage.bytes <= 3 * size(100));
  assert.equal(cache.get("e")?.byteLength, 250);
  assert.equal(cache.usage.entries, 1 + ["a", "c", "d"].filter((k) => cache.get(k)).length);
  // Overwriting replaces the old size, it does not add to it.
  cache.set("e", bytes(10));
  assert.equal(cache.get("e")?.byteLength, 10);
  assert.ok(cache.usage.bytes <= 3 * size(100));
});

Deno.test("MemoryCache does not count an expired entry as evicted, and refuses an entry larger than the budget", async () => {
  const clock = new ManualClock(0);
  const cache = new MemoryCache(2 * size(100), clock, "shop");
  cache.set("a", bytes(100), 1_000);
  cache.set("b", bytes(100));
  await clock.advance(1_000);
  cache.set("c", bytes(100));
  assert.equal(cache.usage.evictions, 0);
  assert.equal(cache.get("b")?.byteLength, 100);
  assert.throws(
    () => cache.set("big", bytes(2 * size(100))),
    (error: unknown) =>
      error instanceof StorageLimitError && error.code === "TOO_LARGE" &&
      /does not fit the cache of bundle shop/.test(error.message),
  );
  // The refused write changed nothing.
  assert.equal(cache.get("b")?.byteLength, 100);
  assert.equal(cache.get("c")?.byteLength, 100);
});
