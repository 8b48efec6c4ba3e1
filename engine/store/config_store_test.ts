/**
 * One conformance suite for every {@linkcode ConfigStore}: the Deno KV one (on a real database
 * file, reopened to show durability) and the in-memory one.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  CONFIG_HISTORY,
  type ConfigStore,
  KvConfigStore,
  MemoryConfigStore,
  type SealedSecret,
} from "./config_store.ts";

const sealed = (name: string): SealedSecret => ({
  name,
  iv: "aXY=",
  data: "ZGF0YQ==",
  keyId: "k1",
  updatedAt: "2026-01-01T00:00:00.000Z",
});

async function conformance(store: ConfigStore, reopen: () => Promise<ConfigStore>): Promise<void> {
  assert.equal(await store.getConfig("a"), undefined);
  for (let i = 1; i <= CONFIG_HISTORY + 5; i++) {
    const revision = await store.putConfig("a", { n: i }, `2026-01-01T00:00:${i % 60}.000Z`);
    assert.equal(revision.revision, i);
  }
  await store.putConfig("b", { other: true }, "2026-01-02T00:00:00.000Z");
  const history = await store.configHistory("a");
  assert.equal(history.length, CONFIG_HISTORY);
  assert.deepEqual(history.map((r) => r.revision).slice(0, 2), [6, 7]);
  assert.deepEqual((await store.getConfig("a"))?.values, { n: CONFIG_HISTORY + 5 });
  await store.putSecret("a", sealed("ZED"));
  await store.putSecret("a", sealed("ALPHA"));
  await store.putSecret("b", sealed("ALPHA"));
  assert.deepEqual((await store.listSecrets("a")).map((s) => s.name), ["ALPHA", "ZED"]);
  assert.equal(await store.deleteSecret("a", "ZED"), true);
  assert.equal(await store.deleteSecret("a", "ZED"), false);
  const again = await reopen();
  assert.deepEqual((await again.listSecrets("a")).map((s) => s.name), ["ALPHA"]);
  assert.equal((await again.getConfig("a"))?.revision, CONFIG_HISTORY + 5);
  await again.dropSettings("a");
  assert.equal(await again.getConfig("a"), undefined);
  assert.deepEqual(await again.listSecrets("a"), []);
  // Another bundle's settings are untouched.
  assert.deepEqual((await again.getConfig("b"))?.values, { other: true });
  assert.equal((await again.listSecrets("b")).length, 1);
}

Deno.test("KvConfigStore keeps bounded, numbered config revisions and sealed secrets across a reopen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-config-store-" });
  const kvs: Deno.Kv[] = [];
  const open = async () => {
    const kv = await Deno.openKv(`${dir}/settings.sqlite3`);
    kvs.push(kv);
    return new KvConfigStore(kv);
  };
  try {
    await conformance(await open(), async () => {
      kvs.shift()?.close();
      return await open();
    });
  } finally {
    for (const kv of kvs) kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MemoryConfigStore keeps bounded, numbered config revisions and sealed secrets", async () => {
  const store = new MemoryConfigStore();
  await conformance(store, () => Promise.resolve(store));
});

Deno.test("KvConfigStore gives two PUTs at once distinct revisions", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvConfigStore(kv);
    const at = "2026-01-01T00:00:00.000Z";
    const revisions = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.putConfig("a", { i }, at)),
    );
    assert.deepEqual(revisions.map((r) => r.revision).sort((x, y) => x - y), [
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8,
    ]);
  } finally {
    kv.close();
  }
});
