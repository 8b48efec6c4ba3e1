/**
 * Storage messages forged behind the runtime's back: a process-tier bundle writes raw frames on its
 * fd 1 (the frame format is public), a worker-tier bundle finds `postMessage` out of reach. A forged
 * request is served from the forger's own namespace whatever it names, and a malformed one (too
 * large, bad key, unbounded page) is dropped without writing anything; forged outbound reports
 * cannot grow the metric's host labels.
 *
 * @module
 */
import assert from "node:assert/strict";
import { observability } from "../plugins/observability/mod.ts";
import { FRAME_WRITER } from "./_forge.ts";
import { testServer } from "./_server.ts";
import { deployStorage, op, TIERS } from "./_storage.ts";

const FORGER = (ownerDir: string) =>
  `import v8 from "node:v8";
import fs from "node:fs";
${FRAME_WRITER}
const inWorker = typeof WorkerGlobalScope !== "undefined";
let unreachable = 0;
function send(message) {
  if (inWorker) {
    try { globalThis.postMessage(message); } catch { unreachable++; }
    return;
  }
  writeFrame(message);
}
const bytes = (value) => new Uint8Array(v8.serialize(value));
export default {
  async fetch(request, ctx) {
    const { op } = await request.json();
    if (op === "forge") {
      // Valid, but naming the owner's namespace every way a message could.
      send({ type: "kv", id: 900001, op: "set", key: ["secret"], value: bytes("forged"),
        bundle: "owner", namespace: "owner", dataDir: ${JSON.stringify(ownerDir)}, path: ${
    JSON.stringify(`${ownerDir}/kv.sqlite3`)
  } });
      // Out of bounds: each is dropped.
      send({ type: "kv", id: 900002, op: "set", key: ["big"], value: new Uint8Array(1024 * 1024) });
      send({ type: "kv", id: 900003, op: "set", key: [{ part: 1 }], value: bytes(1) });
      send({ type: "kv", id: 900004, op: "set", key: Array(40).fill("p"), value: bytes(1) });
      send({ type: "kv", id: 900005, op: "list", prefix: [], limit: 1e9 });
      send({ type: "kv", id: 900006, op: "set", key: ["raw"], value: "not bytes" });
      send({ type: "cache", id: 900007, op: "set", key: "big", value: new Uint8Array(2 * 1024 * 1024) });
      send({ type: "outbound", host: "h".repeat(100_000), status: 200, durationMs: 1 });
      for (let i = 0; i < 50; i++) {
        send({ type: "outbound", host: "evil-" + i + ".example", status: 200, durationMs: 1 });
      }
      return Response.json(inWorker ? "unreachable " + unreachable : "sent");
    }
    const read = async (key) => (await ctx.kv.get(key)).value;
    return Response.json({
      secret: await read(["secret"]),
      big: await read(["big"]),
      raw: await read(["raw"]),
      many: await read(Array(16).fill("p")),
      cached: (await ctx.cache.get("big")) === undefined ? null : "present",
    });
  },
};
`;

for (const tier of TIERS) {
  Deno.test(`Forged storage messages (${tier} tier) reach only the forger's own namespace`, async () => {
    await using s = await testServer({ plugins: [observability({ logFormat: "off" })] });
    await deployStorage(s, "owner", tier);
    await op(s, "owner", "set", ["secret"], "owner's");
    const ownerDir = `${s.root}/.bundlehost/data/owner`;
    await deployStorage(s, "forger", tier, {}, FORGER(ownerDir));
    const ask = async (body: unknown) =>
      await (await s.request("/b/forger/", { method: "POST", body: JSON.stringify(body) })).json();

    const forged = await ask({ op: "forge" });
    assert.equal(forged, tier === "worker" ? "unreachable 58" : "sent");
    // Let the engine take the frames in before looking.
    let state: Record<string, unknown> = {};
    for (let i = 0; i < 200; i++) {
      state = await ask({ op: "read" });
      if (tier === "worker" || state.secret === "forged") break;
      await new Promise((r) => setTimeout(r, 10));
    }
    // In a process the valid forged write landed, in the forger's namespace only.
    assert.deepEqual(state, {
      secret: tier === "worker" ? null : "forged",
      big: null,
      raw: null,
      many: null,
      cached: null,
    });
    assert.equal(
      ((await op(s, "owner", "get", ["secret"])).value as { value: unknown }).value,
      "owner's",
    );
    // Forged outbound reports: every unknown host is the one label "other".
    const metrics = await (await s.request("/metrics")).text();
    const hosts = [
      ...metrics.matchAll(
        /bundle_id="forger",bundlehost_outbound_status="[^"]*",server_address="([^"]*)"/g,
      ),
    ].map((m) => m[1]);
    assert.deepEqual([...new Set(hosts)], tier === "worker" ? [] : ["other"]);
    // Both bundles still serve.
    assert.equal((await op(s, "owner", "set", ["after"], 1)).ok, true);
    assert.equal((await ask({ op: "read" })).big, null);
  });
}
