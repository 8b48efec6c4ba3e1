import assert from "node:assert/strict";
import {
  BundleCallError,
  BundleStateError,
  type LifecycleEvent,
  UnavailableError,
} from "../mod.ts";
import { manifest, rejects, testEngine, waitFor } from "./_helpers.ts";

const ECHO = `export default {
  services: { Echo: { echo: (input) => input, slow: async (input, ctx) => {
    await new Promise((r) => setTimeout(r, input.ms));
    return { done: true, aborted: ctx.signal.aborted };
  } } },
};`;

Deno.test("Engine moves a bundle INSTALLED → RESOLVED → STARTING → ACTIVE → STOPPING → RESOLVED → UNINSTALLED with events", async () => {
  await using t = await testEngine();
  const seen: string[] = [];
  t.engine.events.on("statechange", (e: LifecycleEvent) => seen.push(`${e.from}>${e.to}`));
  const dir = await t.bundle(manifest("echo", { services: { Echo: "1.0.0" } }), { "mod.ts": ECHO });
  const installed = await t.engine.runtime.install(dir);
  assert.deepEqual(installed.state, "RESOLVED");
  await t.engine.runtime.start("echo");
  assert.deepEqual(t.engine.bundle("echo").state, "ACTIVE");
  assert.deepEqual(await t.engine.call("Echo", "echo", { a: 1 }), { a: 1 });
  await t.engine.runtime.stop("echo");
  assert.deepEqual(t.engine.bundle("echo").state, "RESOLVED");
  await rejects(() => t.engine.call("Echo", "echo", {}), Error, "No active bundle");
  await t.engine.runtime.start("echo");
  assert.deepEqual(await t.engine.call("Echo", "echo", 7), 7);
  await t.engine.runtime.uninstall("echo");
  assert.deepEqual(seen, [
    "INSTALLED>RESOLVED",
    "RESOLVED>STARTING",
    "STARTING>ACTIVE",
    "ACTIVE>STOPPING",
    "STOPPING>RESOLVED",
    "RESOLVED>STARTING",
    "STARTING>ACTIVE",
    "ACTIVE>STOPPING",
    "STOPPING>RESOLVED",
    "RESOLVED>UNINSTALLED",
  ]);
  assert.deepEqual(t.engine.status().bundles, []);
});

Deno.test("Engine runs onStart before calls and onStop after draining, in every instance", async () => {
  await using t = await testEngine();
  const logs: string[] = [];
  t.engine.events.on("log", (e) => logs.push(e.message));
  await t.deploy(manifest("hooks", { services: { S: "1.0.0" }, scaling: { minWorkers: 2 } }), {
    "mod.ts": `let started = false;
      export default {
        services: { S: { started: () => started } },
        hooks: {
          onStart: async (ctx) => { await new Promise((r) => setTimeout(r, 20)); started = true; ctx.log.info("start " + ctx.bundle.instanceId); },
          onStop: (ctx) => ctx.log.info("stop " + ctx.bundle.instanceId),
        },
      };`,
  });
  assert.deepEqual(await t.engine.call("S", "started", null), true);
  const instances = t.engine.bundle("hooks").revisions[0]!.instances.map((i) => i.id).sort();
  assert.deepEqual(instances.length, 2);
  await t.engine.runtime.stop("hooks");
  await waitFor(() => logs.filter((l) => l.startsWith("stop ")).length === 2, 2000, "onStop logs");
  assert.deepEqual(
    logs.filter((l) => l.startsWith("start ")).map((l) => l.slice(6)).sort(),
    instances,
  );
  assert.deepEqual(
    logs.filter((l) => l.startsWith("stop ")).map((l) => l.slice(5)).sort(),
    instances,
  );
});

Deno.test("Engine returns a bundle whose onStart throws to RESOLVED and keeps the error", async () => {
  await using t = await testEngine();
  const seen: string[] = [];
  t.engine.events.on("statechange", (e) => seen.push(`${e.to}${e.error ? `:${e.error}` : ""}`));
  const dir = await t.bundle(manifest("badstart", { services: { S: "1.0.0" } }), {
    "mod.ts":
      `export default { services: { S: { x: () => 1 } }, hooks: { onStart() { throw new Error("no database"); } } };`,
  });
  await t.engine.runtime.install(dir);
  await rejects(() => t.engine.runtime.start("badstart"), BundleCallError, "no database");
  const status = t.engine.bundle("badstart");
  assert.deepEqual(status.state, "RESOLVED");
  assert.ok(status.revisions[0]!.error?.includes("no database"), status.revisions[0]!.error);
  assert.deepEqual(status.revisions[0]!.instances, []);
  assert.deepEqual(seen.slice(-2).map((s) => s.split(":")[0]), ["STARTING", "RESOLVED"]);
  await rejects(() => t.engine.call("S", "x", null), Error, "No active bundle");
});

Deno.test("Engine reports a top-level throw in the entry module as a start failure", async () => {
  await using t = await testEngine();
  const dir = await t.bundle(manifest("toplevel"), {
    "mod.ts": `throw new RangeError("bad config at import");\nexport default {};`,
  });
  await t.engine.runtime.install(dir);
  await rejects(() => t.engine.runtime.start("toplevel"), BundleCallError, "bad config at import");
  assert.deepEqual(t.engine.bundle("toplevel").state, "RESOLVED");
});

Deno.test("Engine refuses to start a module that does not export a bundle definition", async () => {
  await using t = await testEngine();
  const dir = await t.bundle(manifest("notabundle"), { "mod.ts": `export default 42;` });
  await t.engine.runtime.install(dir);
  await rejects(() => t.engine.runtime.start("notabundle"), BundleCallError, "must default-export");
});

Deno.test("Engine stop drains calls in flight before ending instances", async () => {
  await using t = await testEngine({ drainMs: 3_000 });
  await t.deploy(manifest("drain", { services: { Echo: "1.0.0" } }), { "mod.ts": ECHO });
  const slow = t.engine.call("Echo", "slow", { ms: 300 });
  await new Promise((r) => setTimeout(r, 50));
  const stopping = t.engine.runtime.stop("drain");
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(t.engine.bundle("drain").state, "STOPPING");
  await rejects(() => t.engine.call("Echo", "echo", 1), Error);
  assert.deepEqual(await slow, { done: true, aborted: false });
  await stopping;
  assert.deepEqual(t.engine.bundle("drain").state, "RESOLVED");
});

Deno.test("Engine stop fails calls still in flight after the drain period", async () => {
  await using t = await testEngine({ drainMs: 100 });
  await t.deploy(manifest("drainlimit", { services: { Echo: "1.0.0" } }), { "mod.ts": ECHO });
  const slow = t.engine.call("Echo", "slow", { ms: 5_000 });
  await new Promise((r) => setTimeout(r, 50));
  await t.engine.runtime.stop("drainlimit");
  await rejects(() => slow, Error, "stopped");
});

Deno.test("Engine refuses lifecycle operations that do not fit the state", async () => {
  await using t = await testEngine();
  const dir = await t.bundle(manifest("states", { services: { Echo: "1.0.0" } }), {
    "mod.ts": ECHO,
  });
  await t.engine.runtime.install(dir);
  await rejects(() => t.engine.runtime.install(dir), BundleStateError, "already installed");
  await t.engine.runtime.uninstall("states");
  await rejects(() => t.engine.runtime.start("states"), Error, 'No bundle "states"');
});

Deno.test("Engine buffers calls while a scale-to-zero bundle cold-starts", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("zero", { services: { Echo: "1.0.0" }, scaling: { minWorkers: 0 } }), {
    "mod.ts": ECHO,
  });
  assert.deepEqual(await t.engine.call("Echo", "echo", "x"), "x");
  const err = await t.engine.call("Nope", "x", null).catch((e) => e);
  assert.ok(!(err instanceof UnavailableError));
});

Deno.test("A release is acknowledged while the version it replaces still drains a call", async () => {
  // rollbackWarmMs 0 (the test default): the version before is stopped at the switch.
  await using t = await testEngine({ drainMs: 20_000 });
  const v1 = await t.bundle(manifest("handover", { services: { Echo: "1.0.0" } }), {
    "mod.ts": ECHO,
  });
  await t.engine.release({ path: v1 });
  let settled = false;
  const slow = t.engine.call("Echo", "slow", { ms: 4_000 }).finally(() => settled = true);
  await waitFor(() => t.engine.bundle("handover").revisions[0]!.instances[0]!.inflight === 1);
  const v2 = await t.bundle(
    manifest("handover", { version: "2.0.0", services: { Echo: "1.0.0" } }),
    { "mod.ts": ECHO },
  );
  await t.engine.release({ path: v2 });
  assert.equal(settled, false, "the release did not wait for the old version's call");
  assert.equal(t.engine.runtime.stateOf("handover", "1.0.0"), "STOPPING");
  assert.deepEqual(await t.engine.call("Echo", "echo", 2), 2, "the new version serves");
  assert.deepEqual(await slow, { done: true, aborted: false }, "the old call finished in place");
  await waitFor(() => t.engine.runtime.stateOf("handover", "1.0.0") === "RESOLVED");
});
