/**
 * A bundle's outbound `fetch` in both tiers, against a real loopback server: a fetch made during a
 * call is aborted at the call's deadline with a clear error (the upstream sees its client go), and
 * every fetch is counted on `/metrics` by a host label folded from the bundle's `net` grants.
 *
 * @module
 */
import assert from "node:assert/strict";
import { observability } from "../plugins/observability/mod.ts";
import { manifest } from "./_helpers.ts";
import { releasePath } from "./_http.ts";
import { testServer } from "./_server.ts";
import { TIERS } from "./_storage.ts";

/** `POST /b/<id>/` with `{ url }` fetches it; the outcome is also kept in the cache as "last". */
const FETCHER = `
export default {
  async fetch(request, ctx) {
    if (request.method === "GET") return Response.json((await ctx.cache.get("last")) ?? null);
    const { url } = await request.json();
    let outcome;
    try {
      const response = await fetch(url);
      outcome = { status: response.status, body: await response.text() };
    } catch (error) {
      outcome = { name: error.name, message: error.message };
    }
    await ctx.cache.set("last", outcome);
    return Response.json(outcome);
  },
};
`;

function upstream() {
  const aborted: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/ok") return new Response("fine");
    if (path === "/missing") return new Response("no", { status: 404 });
    return new Promise<Response>((resolve) => {
      request.signal.addEventListener("abort", () => {
        aborted.push(path);
        resolve(new Response(null, { status: 499 }));
      });
    });
  });
  return {
    port: server.addr.port,
    url: `http://127.0.0.1:${server.addr.port}`,
    aborted,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("Outbound fetch in both tiers: deadline-bound, and measured by granted host", async () => {
  await using up = upstream();
  const net = [`127.0.0.1:${up.port}`];
  await using s = await testServer({
    ceiling: { trusted: ["*"], net },
    plugins: [observability({ logFormat: "off" })],
  });
  for (const tier of TIERS) {
    const id = `out-${tier}`;
    const dir = `${s.root}/src/${id}`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/bundle.json`,
      JSON.stringify(manifest(id, { isolation: tier, permissions: { net } })),
    );
    await Deno.writeTextFile(`${dir}/mod.ts`, FETCHER);
    assert.ok((await releasePath(s.url, dir)).status < 300);
    assert.deepEqual(
      s.engine.bundle(id).revisions.flatMap((r) => r.instances.map((i) => i.tier)),
      [tier],
    );
    const ask = async (url: string, headers: Record<string, string> = {}) => {
      const response = await s.request(`/b/${id}/`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ url }),
      });
      return { status: response.status, body: await response.json() };
    };
    assert.deepEqual((await ask(`${up.url}/ok`)).body, { status: 200, body: "fine" });
    assert.deepEqual((await ask(`${up.url}/missing`)).body, { status: 404, body: "no" });
    // Not granted: Deno refuses it; counted as an error under "other".
    const denied = await ask(`http://localhost:${up.port}/ok`);
    assert.equal(denied.body.name, "NotCapable");

    // The call's deadline passes while the upstream holds the request: the caller gets a 504,
    // the bundle's fetch is aborted with an error naming why, and the upstream sees it go.
    const slow = await ask(`${up.url}/slow-${tier}`, { "x-timeout-ms": "400" });
    assert.equal(slow.status, 504);
    // The bundle keeps the outcome in its cache once its fetch settles (after the 504).
    let last: { name?: string; message?: string } | null = null;
    for (let i = 0; i < 500 && last?.name !== "TimeoutError"; i++) {
      const read = await s.request(`/b/${id}/`);
      last = await read.json();
      if (last?.name !== "TimeoutError") await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(last?.name, "TimeoutError");
    assert.equal(last?.message, "fetch to 127.0.0.1 was aborted: the call's deadline passed");
    assert.ok(up.aborted.includes(`/slow-${tier}`), `upstream saw ${up.aborted}`);
  }

  const metrics = await (await s.request("/metrics")).text();
  for (const tier of TIERS) {
    const count = (host: string, status: string) =>
      Number(
        new RegExp(
          `^bundlehost_outbound_duration_seconds_count\\{bundlehost_bundle_id="out-${tier}",bundlehost_outbound_status="${status}",server_address="${host}"\\} (\\d+)$`,
          "m",
        ).exec(metrics)?.[1],
      );
    assert.equal(count("127.0.0.1", "2xx"), 1, `${tier} 2xx\n${metrics}`);
    assert.equal(count("127.0.0.1", "4xx"), 1, `${tier} 4xx`);
    assert.equal(count("127.0.0.1", "timeout"), 1, `${tier} timeout`);
    assert.equal(count("other", "error"), 1, `${tier} other`);
    // Only granted hosts and "other" ever become labels.
    const hosts = [
      ...metrics.matchAll(
        new RegExp(
          `bundle_id="out-${tier}",bundlehost_outbound_status="[^"]*",server_address="([^"]*)"`,
          "g",
        ),
      ),
    ].map((m) => m[1]);
    assert.deepEqual([...new Set(hosts)].sort(), ["127.0.0.1", "other"]);
    // Its cache use is counted too.
    assert.match(
      metrics,
      new RegExp(
        `^bundlehost_cache_operations_total\\{bundlehost_bundle_id="out-${tier}",bundlehost_storage_operation="set",bundlehost_storage_outcome="ok"\\} [1-9]`,
        "m",
      ),
    );
  }
});
