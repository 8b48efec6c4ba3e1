import assert from "node:assert/strict";
import { BundleCallError, CallCancelledError } from "../mod.ts";
import { manifest, rejects, testEngine, waitFor } from "./_helpers.ts";
import { testServer } from "./_server.ts";

/** A bundle whose `wait` holds until its signal aborts (or a long time passes) and remembers how. */
const WAITER = `const seen = {};
export default {
  services: {
    Waiter: {
      async wait(input, ctx) {
        seen[input.tag] = "started";
        await new Promise((resolve) => {
          ctx.signal.addEventListener("abort", resolve, { once: true });
          setTimeout(resolve, 20_000);
        });
        seen[input.tag] = ctx.signal.aborted ? ctx.signal.reason?.name ?? "aborted" : "finished";
        return seen[input.tag];
      },
      seen: () => seen,
      ping: () => "pong",
    },
  },
};`;

Deno.test("Engine cancels a call when the caller's signal aborts, and the bundle's ctx.signal aborts", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("waiter", { services: { Waiter: "1.0.0" } }), { "mod.ts": WAITER });
  const controller = new AbortController();
  const call = t.engine.call("Waiter", "wait", { tag: "a" }, { signal: controller.signal });
  await waitFor(async () => {
    const seen = await t.engine.call("Waiter", "seen", null) as Record<string, string>;
    return seen.a === "started";
  });
  controller.abort();
  const error = await rejects(() => call, CallCancelledError, "cancelled by the caller");
  assert.equal(error.code, "CANCELLED");
  await waitFor(
    async () => {
      const seen = await t.engine.call("Waiter", "seen", null) as Record<string, string>;
      return seen.a === "AbortError";
    },
    5_000,
    "the bundle to see its signal aborted",
  );
  assert.equal(await t.engine.call("Waiter", "ping", null), "pong", "the instance keeps serving");
  assert.equal(t.engine.bundle("waiter").revisions[0]!.restarts, 0);
});

Deno.test("Engine refuses a call whose signal is already aborted without reaching the bundle", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("waiter", { services: { Waiter: "1.0.0" } }), { "mod.ts": WAITER });
  await rejects(
    () => t.engine.call("Waiter", "wait", { tag: "never" }, { signal: AbortSignal.abort() }),
    CallCancelledError,
  );
  const seen = await t.engine.call("Waiter", "seen", null) as Record<string, string>;
  assert.equal(seen.never, undefined);
});

Deno.test("Engine cancels the calls a cancelled call made to other bundles", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("waiter", { services: { Waiter: "1.0.0" } }), { "mod.ts": WAITER });
  await t.deploy(manifest("front", { services: { Front: "1.0.0" } }), {
    "mod.ts": `export default { services: { Front: {
      relay: (input, ctx) => ctx.broker.call("Waiter", "wait", input),
    } } };`,
  });
  const controller = new AbortController();
  const call = t.engine.call("Front", "relay", { tag: "inner" }, { signal: controller.signal });
  await waitFor(async () =>
    ((await t.engine.call("Waiter", "seen", null)) as Record<string, string>).inner === "started"
  );
  controller.abort();
  await rejects(() => call, CallCancelledError);
  await waitFor(
    async () =>
      ((await t.engine.call("Waiter", "seen", null)) as Record<string, string>).inner ===
        "AbortError",
    5_000,
    "the inner call to be cancelled too",
  );
});

Deno.test("Service plane cancels a bundle's work when the HTTP client disconnects", async () => {
  await using s = await testServer();
  const released = await s.engine.registry.release({
    archive: await (async () => {
      const { packTar } = await import("modern-tar");
      const files = {
        "bundle.json": JSON.stringify(manifest("waiter", { services: { Waiter: "1.0.0" } })),
        "mod.ts": WAITER,
      };
      return await packTar(
        Object.entries(files).map(([name, body]) => ({
          header: { name, size: new TextEncoder().encode(body).byteLength, type: "file" as const },
          body,
        })),
      );
    })(),
  });
  assert.equal(released.state, "ACTIVE");
  const client = new AbortController();
  const request = fetch(`${s.url}/rpc/Waiter/wait`, {
    method: "POST",
    body: JSON.stringify({ tag: "http" }),
    signal: client.signal,
  }).catch((error) => error);
  await waitFor(async () =>
    ((await s.engine.call("Waiter", "seen", null)) as Record<string, string>).http === "started"
  );
  client.abort();
  assert.equal((await request).name, "AbortError");
  await waitFor(
    async () =>
      ((await s.engine.call("Waiter", "seen", null)) as Record<string, string>).http ===
        "AbortError",
    5_000,
    "the bundle to see the disconnect",
  );
});

Deno.test("Broker names the bundle a failed call failed in", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("broken", { services: { Broken: "1.0.0" } }), {
    "mod.ts": `export default { services: { Broken: { fail() { throw new Error("nope"); } } } };`,
  });
  const error = await rejects(() => t.engine.call("Broken", "fail", null), BundleCallError, "nope");
  assert.equal(error.bundle, "broken@1.0.0");
});
