import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { resolveStorageLimits, StorageLimitError } from "./limits.ts";
import { CACHE_ENTRY_OVERHEAD } from "./memory_cache.ts";
import { BundleStorage, hostLabel } from "./storage.ts";
import type { OutboundFetchEvent, StorageEvent } from "./storage_events.ts";

const bytes = (n: number) => new Uint8Array(n) as Uint8Array<ArrayBuffer>;
/** Bytes one cache entry of a one-character key and an `n`-byte value counts. */
const size = (n: number) => 2 + n + CACHE_ENTRY_OVERHEAD;

Deno.test("hostLabel folds a host into one of the bundle's net grants, or other", () => {
  const net = ["api.example.com:443", "127.0.0.1", "[::1]:8080"];
  assert.equal(hostLabel("api.example.com", net), "api.example.com");
  assert.equal(hostLabel("API.Example.com", net), "api.example.com");
  assert.equal(hostLabel("127.0.0.1", net), "127.0.0.1");
  assert.equal(hostLabel("[::1]", net), "[::1]");
  assert.equal(hostLabel("evil.example", net), "other");
  assert.equal(hostLabel("api.example.com.evil", net), "other");
  assert.equal(hostLabel("anything", []), "other");
});

Deno.test("BundleStorage keeps all caches within the engine's total", async () => {
  const events: StorageEvent[] = [];
  const target = new EventTarget();
  target.addEventListener("storage", (e) => events.push(e as StorageEvent));
  const limits = resolveStorageLimits({
    cacheBytes: 3 * size(100),
    cacheTotalBytes: 4 * size(100),
  });
  const storage = new BundleStorage(limits, new ManualClock(0), target);
  const a = storage.forBundle("a", "/nonexistent-a", []);
  const b = storage.forBundle("b", "/nonexistent-b", []);
  const set = (h: typeof a, key: string) =>
    h.serve({ type: "cache", id: 1, op: "set", key, value: bytes(100) });
  for (const key of ["1", "2", "3"]) await set(a, key);
  await set(b, "1");
  // The total is reached: b may hold only what it has, so a second entry evicts its first...
  await set(b, "2");
  assert.equal(await b.serve({ type: "cache", id: 2, op: "get", key: "1" }), null);
  // ...and a bundle with nothing to evict is refused, a clear error, nothing changed.
  const c = storage.forBundle("c", "/nonexistent-c", []);
  await assert.rejects(
    () => set(c, "1"),
    (error: unknown) =>
      error instanceof StorageLimitError && error.code === "STORE_FULL" &&
      /The engine's cache memory is full: bundle c has room for 0 bytes/.test(error.message),
  );
  const total = storage.usage().reduce((sum, u) => sum + u.cache.bytes, 0);
  assert.equal(total, 4 * size(100));
  // A bundle that goes frees its share.
  await storage.forget("a");
  await set(c, "1");
  assert.deepEqual(
    events.filter((e) => e.bundle === "c").map((e) => `${e.op} ${e.outcome}`),
    ["set refused", "set ok"],
  );
  await storage.close();
});

Deno.test("BundleStorage refuses past the requests a bundle may have at once, and reports fetches", async () => {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-storage-" });
  try {
    const fetches: OutboundFetchEvent[] = [];
    const target = new EventTarget();
    target.addEventListener("outboundfetch", (e) => fetches.push(e as OutboundFetchEvent));
    const storage = new BundleStorage(
      resolveStorageLimits({ maxOpsInFlight: 2 }),
      new ManualClock(0),
      target,
    );
    const h = storage.forBundle("x", root, ["api.example.com:443"]);
    const results = await Promise.allSettled(
      Array.from(
        { length: 10 },
        (_, i) => h.serve({ type: "kv", id: i, op: "set", key: ["k", i], value: bytes(4) }),
      ),
    );
    const refused = results.filter((r) =>
      r.status === "rejected" && r.reason instanceof StorageLimitError &&
      r.reason.code === "THROTTLED"
    );
    assert.equal(refused.length, 8);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 2);
    h.report({ type: "outbound", host: "api.example.com", status: 503, durationMs: 12 });
    h.report({
      type: "outbound",
      host: "other.example",
      status: 0,
      durationMs: 1,
      failure: "timeout",
    });
    assert.deepEqual(
      fetches.map((e) => [e.bundle, e.host, e.status, e.durationMs]),
      [["x", "api.example.com", "5xx", 12], ["x", "other", "timeout", 1]],
    );
    await storage.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
