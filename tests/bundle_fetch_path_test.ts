/**
 * `ANY /b/:id/*` takes the same call path as `/rpc`: `wrapCall` plugins see it, the broker
 * throttles it, breaks its circuit and degrades it to a fallback bundle's fetch handler, and a
 * client that leaves cancels it (the bundle's `ctx.signal` aborts). Real engine, real HTTP.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { AdmittedCall } from "../engine/call/request.ts";
import { definePlugin, type Engine } from "../mod.ts";
import { manifest, sharing, waitFor, writeBundle } from "./_helpers.ts";
import { releasePath } from "./_http.ts";
import { type TestServer, testServer } from "./_server.ts";

/** A page whose `/fail` throws (in bundle `page` only), `/hold` waits for its signal, and `/seen` tells what it saw. */
const PAGE = `const seen = { hold: "none" };
export default {
  services: { PageInfo: { seen: () => seen } },
  async fetch(request, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/fail" && ctx.bundle.id === "page") throw new Error("page broke");
    if (path === "/seen") return Response.json(seen);
    if (path === "/hold") {
      seen.hold = "started";
      await new Promise((resolve) => {
        ctx.signal.addEventListener("abort", resolve, { once: true });
        setTimeout(resolve, 20_000);
      });
      seen.hold = ctx.signal.aborted ? "aborted" : "finished";
      return new Response(seen.hold);
    }
    return new Response("page " + ctx.bundle.id);
  },
};`;

async function release(srv: TestServer, id: string, extra: Record<string, unknown>) {
  const dir = await writeBundle(`${srv.root}/src`, manifest(id, extra), { "mod.ts": PAGE });
  const reply = await releasePath(srv.url, dir);
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
}

async function get(
  srv: TestServer,
  path: string,
): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await srv.request(path);
  return { status: response.status, body: await response.text(), headers: response.headers };
}

Deno.test("/b/ calls pass through wrapCall plugins as fetch calls naming the bundle", async () => {
  const seen: Pick<AdmittedCall, "kind" | "service" | "method" | "hops">[] = [];
  const spy = definePlugin<Engine>({
    name: "spy",
    async wrapCall(call, next) {
      seen.push({ kind: call.kind, service: call.service, method: call.method, hops: call.hops });
      return await next(call);
    },
  });
  await using srv = await testServer({ plugins: [spy] });
  await release(srv, "page", { services: { PageInfo: "1.0.0" } });
  const reply = await get(srv, "/b/page/hello");
  assert.equal(reply.status, 200);
  assert.equal(reply.body, "page page");
  assert.equal(reply.headers.get("x-bundle"), "page@1.0.0");
  assert.deepEqual(seen, [{ kind: "fetch", service: "page", method: "GET", hops: 0 }]);
});

Deno.test("/b/ calls are throttled by the bundle's qps limit like service calls", async () => {
  await using srv = await testServer();
  await release(srv, "page", { services: { PageInfo: "1.0.0" }, governance: { qps: 1 } });
  const replies = [];
  for (let i = 0; i < 4; i++) replies.push(await get(srv, "/b/page/"));
  const statuses = replies.map((r) => r.status);
  assert.equal(statuses[0], 200);
  assert.ok(statuses.includes(429), `expected a 429 among ${statuses}`);
  const refused = replies.find((r) => r.status === 429)!;
  assert.match(JSON.parse(refused.body).error.code, /THROTTLED/);
});

Deno.test("/b/ degrades to the degradeTo bundle's fetch handler on an error and when stopped", async () => {
  await using srv = await testServer(sharing({ PageInfo: ["page", "backup"] }));
  await release(srv, "backup", { services: { PageInfo: "1.0.0" } });
  await release(srv, "page", { services: { PageInfo: "1.0.0" }, degradeTo: "backup" });
  const failed = await get(srv, "/b/page/fail");
  assert.equal(failed.status, 200, failed.body);
  assert.equal(failed.body, "page backup");
  assert.equal(failed.headers.get("x-bundle"), "backup@1.0.0");
  assert.equal(failed.headers.get("x-degraded"), "error");

  await srv.engine.stop("page");
  const stopped = await get(srv, "/b/page/");
  assert.equal(stopped.status, 200, stopped.body);
  assert.equal(stopped.headers.get("x-bundle"), "backup@1.0.0");
  assert.equal(stopped.headers.get("x-degraded"), "not-found");

  // Without a fallback, a stopped bundle is a 404 naming it.
  await srv.engine.stop("backup");
  const gone = await get(srv, "/b/backup/");
  assert.equal(gone.status, 404);
  assert.match(JSON.parse(gone.body).error.message, /backup/);
});

Deno.test("/b/ failures open the bundle's circuit, and then /b/ answers 503 without calling it", async () => {
  await using srv = await testServer();
  await release(srv, "page", {
    services: { PageInfo: "1.0.0" },
    governance: {
      strategy: "errorCount",
      threshold: 2,
      minRequestAmount: 2,
      statIntervalMs: 60_000,
      retryTimeoutMs: 60_000,
    },
  });
  // Errors above the threshold of 2 trip it: the third.
  for (let i = 0; i < 3; i++) assert.equal((await get(srv, "/b/page/fail")).status, 502);
  const open = await get(srv, "/b/page/");
  assert.equal(open.status, 503, open.body);
  assert.equal(JSON.parse(open.body).error.code, "CIRCUIT_OPEN");
  assert.equal(srv.engine.bundle("page").governance?.breaker?.state, "OPEN");
});

Deno.test("/b/ cancels the bundle's work when the client goes away", async () => {
  await using srv = await testServer();
  await release(srv, "page", { services: { PageInfo: "1.0.0" } });
  const controller = new AbortController();
  const pending = srv.request("/b/page/hold", { signal: controller.signal }).catch((e) => e);
  await waitFor(
    async () => {
      const seen = await srv.engine.call("PageInfo", "seen", null) as { hold: string };
      return seen.hold === "started";
    },
    10_000,
    "the page to start holding",
  );
  controller.abort();
  assert.ok((await pending) instanceof Error);
  await waitFor(
    async () => {
      const seen = await srv.engine.call("PageInfo", "seen", null) as { hold: string };
      return seen.hold === "aborted";
    },
    10_000,
    "the page to see its signal abort",
  );
});
