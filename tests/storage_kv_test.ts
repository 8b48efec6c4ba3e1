/**
 * `ctx.kv` over real HTTP in both tiers: a Deno KV namespace per bundle, opened by the engine (the
 * bundle holds no path permission), with its quota, key cap and requests-at-once bound, and no
 * way to reach another bundle's namespace.
 *
 * @module
 */
import assert from "node:assert/strict";
import { observability } from "../plugins/observability/mod.ts";
import { testServer } from "./_server.ts";
import { deployStorage, op, TIERS } from "./_storage.ts";

for (const tier of TIERS) {
  Deno.test(`ctx.kv (${tier} tier): get, set, delete, list pages and check-and-set`, async () => {
    await using s = await testServer();
    await deployStorage(s, "kv-a", tier);
    assert.deepEqual((await op(s, "kv-a", "get", ["users", "ada"])).value, {
      value: null,
      versionstamp: null,
    });
    const set = await op(s, "kv-a", "set", ["users", "ada"], { name: "Ada" });
    assert.equal(set.ok, true);
    const stamp = (set.value as { versionstamp: string }).versionstamp;
    assert.match(stamp, /^[0-9a-f]{20}$/);
    assert.deepEqual((await op(s, "kv-a", "get", ["users", "ada"])).value, {
      value: { name: "Ada" },
      versionstamp: stamp,
    });
    // Check-and-set: a stale versionstamp writes nothing; the current one writes.
    assert.deepEqual(
      (await op(s, "kv-a", "set", ["users", "ada"], "x", { versionstamp: "00000000000000000001" }))
        .value,
      { ok: false },
    );
    const cas = await op(s, "kv-a", "set", ["users", "ada"], { name: "Ada L." }, {
      versionstamp: stamp,
    });
    assert.equal((cas.value as { ok: boolean }).ok, true);
    // `versionstamp: null`: only when the key is absent.
    const created = await op(s, "kv-a", "set", ["users", "new"], 1, { versionstamp: null });
    assert.equal((created.value as { ok: boolean }).ok, true);
    const again = await op(s, "kv-a", "set", ["users", "new"], 2, { versionstamp: null });
    assert.deepEqual(again.value, { ok: false });
    for (let i = 0; i < 5; i++) await op(s, "kv-a", "set", ["items", i], `item ${i}`);
    const first = (await op(s, "kv-a", "list", ["items"], { limit: 2 })).value as {
      entries: { key: unknown[]; value: string }[];
      cursor?: string;
    };
    assert.deepEqual(first.entries.map((e) => e.value), ["item 0", "item 1"]);
    assert.ok(first.cursor);
    const rest = (await op(s, "kv-a", "list", ["items"], { limit: 10, cursor: first.cursor }))
      .value as { entries: { key: unknown[] }[]; cursor?: string };
    assert.deepEqual(rest.entries.map((e) => e.key), [["items", 2], ["items", 3], ["items", 4]]);
    assert.equal(rest.cursor, undefined);
    await op(s, "kv-a", "delete", ["items", 3]);
    const after = (await op(s, "kv-a", "list", ["items"])).value as { entries: unknown[] };
    assert.equal(after.entries.length, 4);
    // Structured clone, not JSON: dates, maps, bytes and bigints come back as they went.
    assert.deepEqual(await op(s, "kv-a", "rich"), { ok: true, value: true });
  });

  Deno.test(`ctx.kv (${tier} tier): the engine keeps the database; the bundle has no path to it`, async () => {
    await using s = await testServer();
    await deployStorage(s, "kv-p", tier);
    await op(s, "kv-p", "set", ["k"], "v");
    const file = `${s.root}/.bundlehost/data/kv-p/kv.sqlite3`;
    assert.ok((await Deno.stat(file)).isFile);
    // Granted nothing: the bundle cannot read the file, nor open it itself.
    assert.deepEqual(await op(s, "kv-p", "readFile"), { ok: true, value: "NotCapable" });
    // Unstable in a child process (no such function), refused in a worker: never opened.
    const opened = await op(s, "kv-p", "openKv");
    assert.ok(["NotCapable", "TypeError"].includes(String(opened.value)), JSON.stringify(opened));
    // The namespace outlives its instances: a stop and start finds the value.
    await s.engine.runtime.stop("kv-p");
    await s.engine.runtime.start("kv-p");
    assert.deepEqual((await op(s, "kv-p", "get", ["k"])).value, {
      value: "v",
      versionstamp: ((await op(s, "kv-p", "get", ["k"])).value as { versionstamp: string })
        .versionstamp,
    });
    // Deleting the bundle closes the database and removes the file.
    const deleted = await s.request("/admin/bundles/kv-p", { method: "DELETE", admin: true });
    await deleted.body?.cancel();
    assert.ok(deleted.ok, `delete: ${deleted.status}`);
    await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
  });

  Deno.test(`ctx.kv (${tier} tier): one bundle cannot reach another's namespace`, async () => {
    await using s = await testServer();
    await deployStorage(s, "kv-owner", tier);
    await deployStorage(s, "kv-intruder", tier);
    await op(s, "kv-owner", "set", ["secret"], "owner's");
    // Every key the intruder can name is in its own namespace.
    for (const key of [["secret"], ["kv-owner", "secret"], ["..", "kv-owner", "secret"]]) {
      assert.deepEqual((await op(s, "kv-intruder", "get", key)).value, {
        value: null,
        versionstamp: null,
      });
    }
    const all = (await op(s, "kv-intruder", "list", [])).value as { entries: unknown[] };
    assert.deepEqual(all.entries, []);
    await op(s, "kv-intruder", "set", ["secret"], "intruder's");
    assert.equal(
      ((await op(s, "kv-owner", "get", ["secret"])).value as { value: string }).value,
      "owner's",
    );
  });

  Deno.test(`ctx.kv (${tier} tier): bad values and keys fail with clear errors`, async () => {
    await using s = await testServer();
    await deployStorage(s, "kv-bad", tier);
    const big = await op(s, "kv-bad", "big", 70_000);
    assert.equal(big.ok, false);
    assert.equal(big.name, "RangeError");
    assert.match(big.message!, /A KV value is \d+ bytes serialized; the limit is 61440 bytes/);
    const unclonable = await op(s, "kv-bad", "unclonable");
    assert.equal(unclonable.name, "DataCloneError");
    const badKey = await op(s, "kv-bad", "badKey");
    assert.equal(badKey.name, "TypeError");
    assert.match(badKey.message!, /Invalid KV key: a KV key part must be a string/);
    const tooLong = await op(s, "kv-bad", "get", ["x".repeat(3000)]);
    assert.match(tooLong.message!, /at most 2048 bytes/);
    const limit = await op(s, "kv-bad", "list", [], { limit: 5000 });
    assert.match(limit.message!, /limit must be a whole number from 1 to 1000/);
    const expire = await op(s, "kv-bad", "set", ["e"], 1, { expireIn: -5 });
    assert.match(expire.message!, /expireIn must be a positive whole number/);
    const stamp = await op(s, "kv-bad", "set", ["e"], 1, { versionstamp: "abc" });
    assert.match(stamp.message!, /versionstamp must be null or one read from ctx\.kv/);
    const cursor = await op(s, "kv-bad", "list", [], { cursor: "c".repeat(5_000) });
    assert.match(cursor.message!, /cursor must be one a page returned/);
    // The instance is still serving.
    assert.equal((await op(s, "kv-bad", "set", ["ok"], 1)).ok, true);
  });

  Deno.test(`ctx.kv (${tier} tier): the quota and the key cap refuse a write before it happens`, async () => {
    await using s = await testServer({
      storage: { kvQuotaBytes: 4_000, kvMaxKeys: 5 },
      plugins: [observability({ logFormat: "off" })],
    });
    await deployStorage(s, "kv-q", tier);
    // About 1 KB per entry: the fourth does not fit in 4000 bytes.
    for (let i = 0; i < 3; i++) {
      assert.equal((await op(s, "kv-q", "set", ["big", i], "y".repeat(1_000))).ok, true);
    }
    const full = await op(s, "kv-q", "set", ["big", 3], "y".repeat(1_000));
    assert.equal(full.ok, false);
    assert.equal(full.code, "STORE_FULL");
    assert.equal(full.name, "StorageLimitError");
    assert.match(full.message!, /The KV namespace of bundle kv-q is full: \d+ of 4000 bytes used/);
    assert.equal(
      ((await op(s, "kv-q", "get", ["big", 3])).value as { value: unknown }).value,
      null,
    );
    // Freeing space makes room again; overwriting in place never needs a new key.
    await op(s, "kv-q", "delete", ["big", 0]);
    assert.equal((await op(s, "kv-q", "set", ["big", 3], "y".repeat(1_000))).ok, true);
    assert.equal((await op(s, "kv-q", "set", ["big", 3], "z".repeat(900))).ok, true);
    // Small entries: the key cap (5) is reached before the bytes.
    assert.equal((await op(s, "kv-q", "set", ["s", 1], 1)).ok, true);
    assert.equal((await op(s, "kv-q", "set", ["s", 2], 1)).ok, true);
    const keys = await op(s, "kv-q", "set", ["s", 3], 1);
    assert.equal(keys.code, "STORE_FULL");
    assert.match(keys.message!, /holds 5 keys, the most allowed is 5/);
    const usage = s.engine.storageUsage().find((u) => u.bundle === "kv-q")!;
    assert.equal(usage.kv.keys, 5);
    assert.ok(usage.kv.bytes <= 4_000);
    // The same figures on /metrics, and the two refusals counted as such.
    const metrics = await (await s.request("/metrics")).text();
    assert.match(
      metrics,
      new RegExp(
        `^bundlehost_kv_size_bytes\\{bundlehost_bundle_id="kv-q"\\} ${usage.kv.bytes}$`,
        "m",
      ),
    );
    assert.match(metrics, /^bundlehost_kv_keys\{bundlehost_bundle_id="kv-q"\} 5$/m);
    assert.match(
      metrics,
      /^bundlehost_kv_operations_total\{bundlehost_bundle_id="kv-q",bundlehost_storage_operation="set",bundlehost_storage_outcome="refused"\} 2$/m,
    );
  });

  Deno.test(`ctx.kv (${tier} tier): a flood of requests is bounded, the engine keeps serving`, async () => {
    await using s = await testServer({ storage: { maxOpsInFlight: 4 } });
    await deployStorage(s, "kv-flood", tier);
    const flood = await op(s, "kv-flood", "flood", 400);
    const outcomes = flood.value as string[];
    assert.equal(outcomes.length, 400);
    const refused = outcomes.filter((o) => o === "THROTTLED").length;
    const written = outcomes.filter((o) => o === "ok").length;
    assert.ok(refused > 0, "some requests were refused");
    assert.ok(written > 0, "some requests were served");
    assert.equal(refused + written, 400);
    const listed = (await op(s, "kv-flood", "list", ["flood"], { limit: 1000 })).value as {
      entries: unknown[];
    };
    assert.equal(listed.entries.length, written);
    assert.equal((await (await s.request("/healthz")).text()).length > 0, true);
  });
}
