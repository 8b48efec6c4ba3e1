import assert from "node:assert/strict";
import { serialize } from "node:v8";
import { UnavailableError } from "../base/errors.ts";
import { KvNamespace } from "./kv_namespace.ts";
import { resolveStorageLimits, StorageLimitError } from "./limits.ts";

const value = (v: unknown) => new Uint8Array(serialize(v)) as Uint8Array<ArrayBuffer>;

Deno.test("KvNamespace counts what it holds across a reopen and closes for good", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-kvns-" });
  try {
    const limits = resolveStorageLimits({ kvQuotaBytes: 1_000, kvMaxKeys: 3 });
    const first = new KvNamespace(`${dir}/kv.sqlite3`, "shop", limits, () => 0);
    await first.serve({ op: "set", key: ["a"], value: value("x".repeat(300)) });
    await first.serve({ op: "set", key: ["b"], value: value(1) });
    const held = first.usage;
    assert.equal(held.keys, 2);
    await first.close();
    await assert.rejects(
      () => first.serve({ op: "get", key: ["a"] }),
      (error: unknown) =>
        error instanceof UnavailableError && /bundle shop is closed/.test(error.message),
    );

    // Reopened (an engine restart): the counts come back from the file, and still bind.
    const again = new KvNamespace(`${dir}/kv.sqlite3`, "shop", limits, () => 0);
    await again.serve({ op: "get", key: ["a"] });
    assert.deepEqual(again.usage, held);
    await assert.rejects(
      () => again.serve({ op: "set", key: ["c"], value: value("y".repeat(800)) }),
      (error: unknown) => error instanceof StorageLimitError && error.code === "STORE_FULL",
    );
    await again.serve({ op: "set", key: ["c"], value: value(2) });
    await assert.rejects(
      () => again.serve({ op: "set", key: ["d"], value: value(3) }),
      /holds 3 keys, the most allowed is 3/,
    );
    await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => again.serve({ op: "set", key: ["a"], value: value("z".repeat(i)) }),
      ),
    );
    await again.serve({ op: "delete", key: ["b"] });
    // Concurrent writes are serialized: what it counted as it went is what a fresh count finds.
    const tracked = again.usage;
    await again.close();
    const fresh = new KvNamespace(`${dir}/kv.sqlite3`, "shop", limits, () => 0);
    await fresh.serve({ op: "get", key: ["a"] });
    assert.deepEqual(fresh.usage, tracked);
    assert.equal(tracked.keys, 2);
    await fresh.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
