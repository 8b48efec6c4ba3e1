/**
 * Shared parts of the storage tests: a bundle whose fetch handler runs one `ctx.kv`/`ctx.cache`
 * operation per request (named in a JSON body), and a helper that asks it over real HTTP.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { IsolationTier } from "../engine/sdk/bundle.ts";
import type { TestServer } from "./_server.ts";
import { manifest } from "./_helpers.ts";
import { releasePath } from "./_http.ts";

/** Both tiers, each test runs in each. */
export const TIERS: readonly IsolationTier[] = ["worker", "process"];

/** The entry of the storage bundle: `POST /b/<id>/` with `{ op, args }` runs one operation. */
export const STORAGE_BUNDLE = `
export default {
  async fetch(request, ctx) {
    const { op, args = [] } = await request.json();
    try {
      return Response.json({ ok: true, value: await run(ctx, op, args) });
    } catch (error) {
      return Response.json({ ok: false, name: error.name, code: error.code, message: error.message });
    }
  },
};

async function run(ctx, op, args) {
  switch (op) {
    case "set": return await ctx.kv.set(args[0], args[1], args[2]);
    case "get": {
      const entry = await ctx.kv.get(args[0]);
      return { value: entry.value, versionstamp: entry.versionstamp };
    }
    case "delete": return await ctx.kv.delete(args[0]);
    case "list": return await ctx.kv.list({ prefix: args[0] }, args[1]);
    case "rich": {
      await ctx.kv.set(["rich"], { when: new Date(5), m: new Map([[1, "a"]]), b: new Uint8Array([1, 2]), n: 10n });
      const back = (await ctx.kv.get(["rich"])).value;
      return back.when instanceof Date && back.when.getTime() === 5 && back.m.get(1) === "a" &&
        back.b instanceof Uint8Array && back.b[1] === 2 && back.n === 10n;
    }
    case "unclonable": return await ctx.kv.set(["f"], { f() {} });
    case "badKey": return await ctx.kv.get([{ not: "a part" }]);
    case "big": return await ctx.kv.set(["big"], "x".repeat(args[0]));
    case "flood": {
      const all = await Promise.allSettled(
        Array.from({ length: args[0] }, (_, i) => ctx.kv.set(["flood", i], i)),
      );
      return all.map((r) => r.status === "fulfilled" ? "ok" : r.reason.code ?? r.reason.name);
    }
    case "readFile":
      return await Deno.readFile(ctx.bundle.dataDir + "/kv.sqlite3").then(() => "read", (e) => e.name);
    case "openKv":
      return await Promise.resolve().then(() => Deno.openKv(ctx.bundle.dataDir + "/kv.sqlite3"))
        .then(() => "opened", (e) => e.name);
    case "cacheGet": return (await ctx.cache.get(args[0])) ?? null;
    case "cacheSet": return await ctx.cache.set(args[0], args[1], args[2]) ?? null;
    case "cacheDelete": return await ctx.cache.delete(args[0]);
    case "cacheBig": return await ctx.cache.set("big", "x".repeat(args[0])) ?? null;
    default: throw new Error("unknown op " + op);
  }
}
`;

/** What the storage bundle answers. */
export interface OpReply {
  /** Whether the operation resolved. */
  ok: boolean;
  /** Its value, when it resolved. */
  value?: unknown;
  /** The error's name, code and message, when it threw. */
  name?: string;
  code?: string;
  message?: string;
}

/**
 * Runs one operation in a bundle over `/b/<id>/`.
 *
 * @param server The test server.
 * @param id Bundle id.
 * @param op Operation name.
 * @param args Its arguments (JSON).
 * @returns The bundle's answer.
 */
export async function op(
  server: TestServer,
  id: string,
  op: string,
  ...args: unknown[]
): Promise<OpReply> {
  const response = await server.request(`/b/${id}/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ op, args }),
  });
  assert.equal(response.status, 200, `${op}: ${response.status}`);
  return await response.json() as OpReply;
}

/**
 * Releases the storage bundle (or another entry) in a tier.
 *
 * @param server The test server.
 * @param id Bundle id.
 * @param tier Isolation tier.
 * @param extra More manifest fields.
 * @param entry The entry module's source. @default {STORAGE_BUNDLE}
 */
export async function deployStorage(
  server: TestServer,
  id: string,
  tier: IsolationTier,
  extra: Record<string, unknown> = {},
  entry: string = STORAGE_BUNDLE,
): Promise<void> {
  const dir = `${server.root}/src/${id}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/bundle.json`,
    JSON.stringify(manifest(id, { isolation: tier, ...extra })),
  );
  await Deno.writeTextFile(`${dir}/mod.ts`, entry);
  const released = await releasePath(server.url, dir);
  assert.equal(released.status < 300, true, JSON.stringify(released.body));
  const tiers = server.engine.bundle(id).revisions.flatMap((r) => r.instances.map((i) => i.tier));
  assert.deepEqual([...new Set(tiers)], [tier]);
}
