import assert from "node:assert/strict";
import type { GuestMessage } from "../wire/protocol.ts";
import { boundFetch } from "./outbound_fetch.ts";

/** A loopback server: `/ok` answers at once, `/slow` never answers until its client goes. */
function upstream() {
  const aborted: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/ok") return new Response("fine");
    return new Promise<Response>((resolve) => {
      request.signal.addEventListener("abort", () => {
        aborted.push(path);
        resolve(new Response(null, { status: 499 }));
      });
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    aborted,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

function recorder() {
  const reports: Extract<GuestMessage, { type: "outbound" }>[] = [];
  const post = (message: GuestMessage) => {
    if (message.type === "outbound") reports.push(message);
  };
  return { reports, post };
}

Deno.test("boundFetch reports a fetch's host, status and duration", async () => {
  await using up = upstream();
  const { reports, post } = recorder();
  const fetch = boundFetch(globalThis.fetch, post, () => undefined, 5_000);
  const response = await fetch(`${up.url}/ok`);
  assert.equal(await response.text(), "fine");
  assert.equal(reports.length, 1);
  assert.equal(reports[0]!.host, "127.0.0.1");
  assert.equal(reports[0]!.status, 200);
  assert.equal(reports[0]!.failure, undefined);
  assert.ok(reports[0]!.durationMs >= 0);
});

Deno.test("boundFetch aborts a fetch when the call's signal does, naming the deadline", async () => {
  await using up = upstream();
  const { reports, post } = recorder();
  const call = new AbortController();
  const fetch = boundFetch(globalThis.fetch, post, () => call.signal, 5_000);
  const pending = fetch(`${up.url}/slow`);
  setTimeout(() => call.abort(new DOMException("Call deadline exceeded", "TimeoutError")), 50);
  await assert.rejects(pending, (error: unknown) => {
    assert.ok(error instanceof DOMException);
    assert.equal(error.name, "TimeoutError");
    assert.equal(error.message, "fetch to 127.0.0.1 was aborted: the call's deadline passed");
    return true;
  });
  assert.deepEqual(reports.map((r) => [r.status, r.failure]), [[0, "timeout"]]);
  // The upstream saw its client go.
  for (let i = 0; i < 200 && up.aborted.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.deepEqual(up.aborted, ["/slow"]);
});

Deno.test("boundFetch bounds a fetch made outside any call by the default", async () => {
  await using up = upstream();
  const { reports, post } = recorder();
  const fetch = boundFetch(globalThis.fetch, post, () => undefined, 100);
  await assert.rejects(
    fetch(new Request(`${up.url}/slow`)),
    /fetch to 127\.0\.0\.1 was aborted: no answer within 100 ms \(the bound outside a call\)/,
  );
  assert.equal(reports[0]?.failure, "timeout");
});

Deno.test("boundFetch leaves the bundle's own abort and other failures as they are", async () => {
  await using up = upstream();
  const { reports, post } = recorder();
  const fetch = boundFetch(globalThis.fetch, post, () => new AbortController().signal, 5_000);
  const own = new AbortController();
  const pending = fetch(`${up.url}/slow`, { signal: own.signal });
  own.abort(new Error("changed my mind"));
  await assert.rejects(pending, /changed my mind/);
  // Not a URL: the platform's error, nothing reported.
  await assert.rejects(fetch("not a url"), TypeError);
  assert.deepEqual(reports.map((r) => r.failure), ["error"]);
});
