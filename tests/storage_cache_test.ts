/**
 * `ctx.cache` over real HTTP in both tiers: TTLs on the engine's manual clock, LRU eviction within
 * the per-bundle budget, one cache shared by every instance and version of a bundle, and none
 * shared between bundles.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ManualClock } from "../mod.ts";
import { manualTime } from "./_helpers.ts";
import { testServer } from "./_server.ts";
import { deployStorage, op, TIERS } from "./_storage.ts";

for (const tier of TIERS) {
  Deno.test(`ctx.cache (${tier} tier): an entry lives until its TTL on the engine's clock`, async () => {
    const clock = new ManualClock(Date.now());
    await using s = await testServer(manualTime(clock));
    await deployStorage(s, "cache-ttl", tier);
    assert.deepEqual(await op(s, "cache-ttl", "cacheGet", "rates"), { ok: true, value: null });
    await op(s, "cache-ttl", "cacheSet", "rates", { eur: 1.08, at: "09:00" }, { ttlMs: 60_000 });
    await op(s, "cache-ttl", "cacheSet", "forever", [1, 2, 3]);
    await clock.advance(59_999);
    assert.deepEqual((await op(s, "cache-ttl", "cacheGet", "rates")).value, {
      eur: 1.08,
      at: "09:00",
    });
    await clock.advance(1);
    assert.equal((await op(s, "cache-ttl", "cacheGet", "rates")).value, null);
    assert.deepEqual((await op(s, "cache-ttl", "cacheGet", "forever")).value, [1, 2, 3]);
    assert.equal((await op(s, "cache-ttl", "cacheDelete", "forever")).value, true);
    assert.equal((await op(s, "cache-ttl", "cacheDelete", "forever")).value, false);
    const bad = await op(s, "cache-ttl", "cacheSet", "k", 1, { ttlMs: 0 });
    assert.match(bad.message!, /ttlMs must be a positive whole number/);
    const badKey = await op(s, "cache-ttl", "cacheGet", "");
    assert.match(badKey.message!, /A cache key must be a string of 1 to 512 characters/);
  });

  Deno.test(`ctx.cache (${tier} tier): the budget evicts the least recently used entry`, async () => {
    await using s = await testServer({ storage: { cacheBytes: 3_000 } });
    await deployStorage(s, "cache-lru", tier);
    const text = (c: string) => c.repeat(800);
    for (const key of ["a", "b", "c"]) await op(s, "cache-lru", "cacheSet", key, text(key));
    // "a" read last among the three: "b" is the least recently used when "d" comes.
    assert.equal((await op(s, "cache-lru", "cacheGet", "a")).value, text("a"));
    await op(s, "cache-lru", "cacheSet", "d", text("d"));
    assert.equal((await op(s, "cache-lru", "cacheGet", "b")).value, null);
    for (const key of ["a", "c", "d"]) {
      assert.equal((await op(s, "cache-lru", "cacheGet", key)).value, text(key), key);
    }
    const usage = s.engine.storageUsage().find((u) => u.bundle === "cache-lru")!;
    assert.ok(usage.cache.bytes <= 3_000, `${usage.cache.bytes} bytes`);
    assert.equal(usage.cache.evictions, 1);
    // An entry larger than the whole budget is refused, and evicts nothing.
    const big = await op(s, "cache-lru", "cacheBig", 5_000);
    assert.equal(big.code, "TOO_LARGE");
    assert.match(big.message!, /does not fit the cache of bundle cache-lru \(3000 bytes\)/);
    assert.equal((await op(s, "cache-lru", "cacheGet", "d")).value, text("d"));
    // Larger than the per-entry bound: refused in the sandbox before it is sent.
    const huge = await op(s, "cache-lru", "cacheBig", 2 * 1024 * 1024);
    assert.equal(huge.name, "RangeError");
    assert.match(huge.message!, /the limit is 1048576 bytes/);
  });

  Deno.test(`ctx.cache (${tier} tier): shared by a bundle's versions, never by two bundles`, async () => {
    await using s = await testServer();
    await deployStorage(s, "cache-one", tier);
    await deployStorage(s, "cache-two", tier);
    await op(s, "cache-one", "cacheSet", "token", "one's");
    assert.equal((await op(s, "cache-two", "cacheGet", "token")).value, null);
    await op(s, "cache-two", "cacheSet", "token", "two's");
    // A new version of cache-one (new instances) sees what the old one cached.
    await deployStorage(s, "cache-one", tier, { version: "1.1.0" });
    assert.deepEqual(
      s.engine.bundle("cache-one").revisions.filter((r) => r.state === "ACTIVE").map((r) =>
        r.version
      ),
      ["1.1.0"],
    );
    assert.equal((await op(s, "cache-one", "cacheGet", "token")).value, "one's");
  });
}
