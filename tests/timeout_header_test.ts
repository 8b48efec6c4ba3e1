/**
 * `x-timeout-ms` through real HTTP: a value that is not a positive integer is a 400 naming the
 * header; a value above the operator policy's `limits.maxTimeoutMs` is clamped to it, so a client can shorten
 * a call but never extend it past the operator's limit.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, writeBundle } from "./_helpers.ts";
import { releasePath, rpc } from "./_http.ts";
import { type TestServer, testServer } from "./_server.ts";

const SLOW = `export default {
  services: { Slow: {
    echo: (input) => input,
    wait: (_input, ctx) => new Promise((resolve) => {
      const timer = setTimeout(() => resolve("finished"), 3_000);
      ctx.signal.addEventListener("abort", () => { clearTimeout(timer); resolve("aborted"); });
    }),
  } },
};`;

async function releaseSlow(srv: TestServer): Promise<void> {
  const dir = await writeBundle(
    `${srv.root}/src`,
    manifest("slow", { services: { Slow: "1.0.0" } }),
    {
      "mod.ts": SLOW,
    },
  );
  const reply = await releasePath(srv.url, dir);
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
}

Deno.test("Service plane answers 400 naming x-timeout-ms when it is not a positive integer", async () => {
  await using srv = await testServer();
  await releaseSlow(srv);
  for (const value of ["abc", "0", "-5", "1.5", "1e3", "0x10", "10ms", "9".repeat(40)]) {
    const reply = await rpc(srv.url, "Slow", "echo", 1, { "x-timeout-ms": value });
    assert.equal(reply.status, 400, `x-timeout-ms: ${value}`);
    assert.equal(reply.body.error?.code, "BAD_INPUT");
    assert.match(reply.body.error!.message, /^Header x-timeout-ms must be a positive integer/);
  }
  // A valid value still works.
  const ok = await rpc(srv.url, "Slow", "echo", 1, { "x-timeout-ms": "5000" });
  assert.deepEqual([ok.status, ok.body.result], [200, 1]);
});

/** The policy of these tests: every bundle trusted (as in FAST), and a maximum call timeout. */
function maxTimeout(maxTimeoutMs: number) {
  return { trusted: ["*"], limits: { maxTimeoutMs } };
}

Deno.test("Service plane clamps x-timeout-ms to the policy's limits.maxTimeoutMs", async () => {
  await using srv = await testServer({ callTimeoutMs: 200, ceiling: maxTimeout(300) });
  await releaseSlow(srv);
  // The call takes 3 s; the client asks for 100 s, the operator allows 300 ms.
  const reply = await rpc(srv.url, "Slow", "wait", null, { "x-timeout-ms": "100000" });
  assert.equal(reply.status, 504, JSON.stringify(reply.body));
  assert.equal(reply.body.error?.code, "TIMEOUT");
});

Deno.test("Service plane lets x-timeout-ms extend a call up to limits.maxTimeoutMs", async () => {
  await using srv = await testServer({ callTimeoutMs: 200, ceiling: maxTimeout(10_000) });
  await releaseSlow(srv);
  // Past the default 200 ms, within the 10 s maximum: the call finishes.
  const reply = await rpc(srv.url, "Slow", "wait", null, { "x-timeout-ms": "8000" });
  assert.deepEqual([reply.status, reply.body.result], [200, "finished"]);
});

Deno.test("createEngine refuses a callTimeoutMs above the policy's limits.maxTimeoutMs", async () => {
  await assert.rejects(
    testServer({ callTimeoutMs: 5_000, ceiling: maxTimeout(1_000) }),
    (error: Error) =>
      error instanceof RangeError && /exceeds the policy's limits.maxTimeoutMs/.test(error.message),
  );
});
