/**
 * The request a `/b/:id/*` fetch handler receives is a real `Request` in both tiers, whose
 * `signal` (made only when the handler reads it) is the call's: it aborts when the client leaves
 * and at the call's deadline, and so does the signal of its `clone()`. Real engine, real HTTP.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, waitFor, writeBundle } from "./_helpers.ts";
import { releasePath } from "./_http.ts";
import { type TestServer, testServer } from "./_server.ts";

/** `/echo` describes the request; `/wait` waits for the signal `?of=` names and records it. */
const HANDLER = `const seen = {};
const outcome = (signal) => signal.aborted ? "aborted: " + signal.reason?.name : "not aborted";
export default {
  services: { Seen: { get: (key) => seen[key] ?? "none" } },
  async fetch(request, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/echo") {
      const clone = request.clone();
      return Response.json({
        isRequest: request instanceof Request,
        name: request.constructor.name,
        method: request.method,
        path: url.pathname + url.search,
        header: request.headers.get("x-probe"),
        body: await request.text(),
        signal: request.signal instanceof AbortSignal && !request.signal.aborted,
        cloneSignal: clone.signal instanceof AbortSignal && await clone.text() === "posted body",
        sameOnRead: request.signal === request.signal,
      });
    }
    const key = url.searchParams.get("key");
    const signal = url.searchParams.get("of") === "clone" ? request.clone().signal : request.signal;
    seen[key] = "started";
    await new Promise((resolve) => {
      signal.addEventListener("abort", resolve, { once: true });
      setTimeout(resolve, 20_000);
    });
    seen[key] = outcome(signal);
    return new Response(seen[key]);
  },
};`;

const TIERS = [["req-worker", "worker"], ["req-process", "process"]] as const;

async function releaseBoth(srv: TestServer): Promise<void> {
  for (const [id, isolation] of TIERS) {
    const dir = await writeBundle(
      `${srv.root}/src`,
      manifest(id, { isolation, services: { [`Seen${isolation}`]: "1.0.0" } }),
      { "mod.ts": HANDLER.replace("Seen:", `Seen${isolation}:`) },
    );
    const reply = await releasePath(srv.url, dir);
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
  }
}

async function seenBecomes(srv: TestServer, isolation: string, key: string, want: string | RegExp) {
  await waitFor(
    async () => {
      const seen = await srv.engine.call(`Seen${isolation}`, "get", key);
      return typeof want === "string" ? seen === want : want.test(String(seen));
    },
    10_000,
    `${key} to be "${want}" in the ${isolation} tier`,
  );
}

Deno.test("Fetch handler request is a real Request with method, url, headers, body and signal in both tiers", async () => {
  await using srv = await testServer();
  await releaseBoth(srv);
  for (const [id] of TIERS) {
    const response = await srv.request(`/b/${id}/echo?q=1`, {
      method: "POST",
      headers: { "x-probe": "probe value" },
      body: "posted body",
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {
      isRequest: true,
      name: "Request",
      method: "POST",
      path: "/echo?q=1",
      header: "probe value",
      body: "posted body",
      signal: true,
      cloneSignal: true,
      sameOnRead: true,
    });
  }
});

Deno.test("Fetch handler request.signal and its clone's signal abort when the client leaves, in both tiers", async () => {
  await using srv = await testServer();
  await releaseBoth(srv);
  for (const [id, isolation] of TIERS) {
    for (const which of ["request", "clone"]) {
      const key = `leave-${which}`;
      const controller = new AbortController();
      const pending = srv.request(`/b/${id}/wait?key=${key}&of=${which}`, {
        signal: controller.signal,
      }).catch((e) => e);
      await seenBecomes(srv, isolation, key, "started");
      controller.abort();
      assert.ok((await pending) instanceof Error);
      await seenBecomes(srv, isolation, key, "aborted: AbortError");
    }
  }
});

Deno.test("Fetch handler request.signal and its clone's signal abort at the call's deadline, in both tiers", async () => {
  await using srv = await testServer();
  await releaseBoth(srv);
  for (const [id, isolation] of TIERS) {
    for (const which of ["request", "clone"]) {
      const key = `deadline-${which}`;
      const response = await srv.request(`/b/${id}/wait?key=${key}&of=${which}`, {
        headers: { "x-timeout-ms": "300" },
      });
      assert.equal(response.status, 504);
      await response.body?.cancel();
      // The sandbox's own deadline (TimeoutError) or the engine's cancel at it (AbortError).
      await seenBecomes(srv, isolation, key, /^aborted: (TimeoutError|AbortError)$/);
    }
  }
});
