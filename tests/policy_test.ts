/**
 * The operator policy with real bundles: the per-bundle log budget, service ownership across a
 * restart and a delete, limits refused over the admin API, the tier decision shown in status.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CallTimeoutError, createEngine, OwnershipError } from "../mod.ts";
import { FAST, manifest, rejects, testEngine, waitFor, writeBundle } from "./_helpers.ts";
import { testServer } from "./_server.ts";
import { admin, releasePath } from "./_http.ts";
import { observability } from "../plugins/observability/mod.ts";

const CHATTY = `export default {
  services: { Chatty: { ok: () => true } },
  hooks: { onStart(ctx) { for (let i = 0; i < 50; i++) console.log("line", ctx.bundle.instanceId, i); } },
};`;

Deno.test("Engine shares one log budget among every instance of a bundle and counts drops", async () => {
  await using srv = await testServer({
    ceiling: { trusted: ["*"], limits: { logLinesPerSecond: 1, logBurst: 10 } },
    plugins: [observability({ logFormat: "off" })],
  });
  const lines: string[] = [];
  srv.engine.events.on("log", (e) => {
    if (e.bundle === "chatty") lines.push(e.message);
  });
  const started = performance.now();
  await srv.engine.runtime.install(
    await writeBundle(
      `${srv.root}/src`,
      manifest("chatty", {
        services: { Chatty: "1.0.0" },
        scaling: { minWorkers: 2, maxWorkers: 2 },
      }),
      { "mod.ts": CHATTY },
    ),
  );
  await srv.engine.runtime.start("chatty");
  // Two instances wrote 50 lines each: every line is either delivered or counted as dropped.
  await waitFor(() => lines.length + srv.engine.bundle("chatty").logsDropped === 100, 10_000);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(srv.engine.bundle("chatty").revisions[0]!.instances.length, 2);
  assert.ok(
    lines.length <= 10 + Math.ceil(seconds) + 1,
    `${lines.length} lines passed in ${seconds.toFixed(1)} s: one budget, not one per instance`,
  );
  const dropped = srv.engine.bundle("chatty").logsDropped;
  assert.equal(dropped, 100 - lines.length);
  const status = await admin<{ bundles: { id: string; logsDropped: number }[] }>(
    srv.url,
    "GET",
    "/admin/status",
  );
  const shown = status.body.bundles.find((b) => b.id === "chatty")?.logsDropped ?? -1;
  assert.ok(shown >= dropped, `the admin status shows the count (${shown})`);
  const metrics = await (await fetch(`${srv.url}/metrics`)).text();
  const sample = /^bundlehost_log_dropped\{bundlehost_bundle_id="chatty"\} (\d+)$/m.exec(metrics);
  assert.ok(sample, metrics.split("\n").filter((l) => l.includes("log_dropped")).join("\n"));
  assert.ok(Number(sample[1]) >= dropped);
});

Deno.test("Engine keeps service ownership across a restart and frees it when the owner is deleted", async () => {
  const t = await testEngine();
  const owner = await t.bundle(manifest("owner", { services: { Ledger: "1.0.0" } }), {
    "mod.ts": `export default { services: { Ledger: { who: () => "owner" } } };`,
  });
  const thief = await t.bundle(manifest("thief", { services: { Ledger: "1.0.0" } }), {
    "mod.ts": `export default { services: { Ledger: { who: () => "thief" } } };`,
  });
  try {
    await t.engine.registry.release({ path: owner });
    assert.equal(t.engine.ownerOf("service", "Ledger"), "owner");
    await t.engine.close();
    await using again = await createEngine({ ...FAST, dataDir: t.engine.dataDir });
    assert.equal(again.ownerOf("service", "Ledger"), "owner", "ownership is durable");
    await rejects(
      () => again.registry.release({ path: thief }),
      OwnershipError,
      'service "Ledger" belongs to bundle "owner"',
    );
    assert.equal((await again.registry.list()).length, 1, "the refused release left no record");
    await again.registry.delete("owner");
    assert.equal(again.ownerOf("service", "Ledger"), undefined);
    await again.registry.release({ path: thief });
    assert.equal(await again.call("Ledger", "who", null), "thief");
  } finally {
    await t[Symbol.asyncDispose]();
  }
});

Deno.test("Engine refuses over the admin API a manifest above the operator's limits", async () => {
  await using srv = await testServer({
    ceiling: { trusted: ["*"], limits: { maxWorkers: 2, maxTimeoutMs: 5_000 } },
  });
  const release = (id: string, extra: Record<string, unknown>) =>
    writeBundle(`${srv.root}/src`, manifest(id, extra), { "mod.ts": "export default {};" })
      .then((dir) => releasePath(srv.url, dir));
  const greedy = await release("greedy", { scaling: { maxWorkers: 3 } });
  assert.equal(greedy.status, 400);
  assert.equal(greedy.body.error?.field, "scaling.maxWorkers");
  assert.match(greedy.body.error!.message, /is 3, above the operator's limit limits\.maxWorkers/);
  const slow = await release("slow", {
    scaling: { maxWorkers: 2 },
    governance: { timeoutMs: 9_000 },
  });
  assert.equal(slow.status, 400);
  assert.equal(slow.body.error?.field, "governance.timeoutMs");
  const fits = await release("fits", {
    scaling: { maxWorkers: 2 },
    governance: { timeoutMs: 5_000 },
  });
  assert.equal(fits.status, 201, JSON.stringify(fits.body));
});

Deno.test("Engine runs untrusted bundles in the process tier and says why in status", async () => {
  await using t = await testEngine({ ceiling: { trusted: ["friend"] } });
  const mod = { "mod.ts": `export default { services: { S: { pid: () => Deno.pid } } };` };
  await t.deploy(manifest("friend", { services: { S: "1.0.0" } }), mod);
  await t.deploy(manifest("stranger", { services: { S: "1.0.0" } }), mod).catch((e) => e);
  // "stranger" declares S, which "friend" owns: refused; give it its own service instead.
  await t.deploy(manifest("stranger", { version: "1.0.1", services: { T: "1.0.0" } }), {
    "mod.ts": `export default { services: { T: { pid: () => Deno.pid } } };`,
  });
  const friend = t.engine.bundle("friend").revisions[0]!;
  const stranger = t.engine.bundle("stranger").revisions[0]!;
  assert.equal(friend.isolation, "worker");
  assert.match(friend.isolationReason ?? "", /trusted by the operator policy/);
  assert.equal(stranger.isolation, "process");
  assert.match(stranger.isolationReason ?? "", /does not trust it/);
  assert.equal(stranger.instances[0]?.tier, "process");
  assert.equal(await t.engine.call("S", "pid", null), Deno.pid, "a worker shares the engine's pid");
  assert.notEqual(await t.engine.call("T", "pid", null), Deno.pid, "a child process does not");
});

Deno.test("Engine caps a caller's timeout at the policy's limits.maxTimeoutMs", async () => {
  await using t = await testEngine({ ceiling: { trusted: ["*"], limits: { maxTimeoutMs: 300 } } });
  await t.deploy(manifest("sleepy", { services: { Sleepy: "1.0.0" } }), {
    "mod.ts": `export default { services: { Sleepy: {
      nap: (ms, ctx) => new Promise((r) => { const t = setTimeout(r, ms); ctx.signal.addEventListener("abort", () => clearTimeout(t)); }),
      relay: (ms, ctx) => ctx.broker.call("Sleepy", "nap", ms, { timeoutMs: 600_000 }),
    } } };`,
  });
  assert.equal(t.engine.policy.limits.maxTimeoutMs, 300);
  // A caller asks for ten minutes; the operator allows 300 ms.
  await rejects(
    () => t.engine.call("Sleepy", "nap", 5_000, { timeoutMs: 600_000 }),
    CallTimeoutError,
  );
  // The engine's default call timeout is within the maximum too, and a bundle's call through
  // ctx.broker inherits its caller's deadline, so no chain of calls outlives it.
  await rejects(() => t.engine.call("Sleepy", "relay", 5_000), CallTimeoutError);
  assert.equal(await t.engine.call("Sleepy", "nap", 1, { timeoutMs: 600_000 }), undefined);
});

Deno.test("Engine lets a second bundle provide a service when an admin rule grants it", async () => {
  await using srv = await testServer();
  const release = (id: string) =>
    writeBundle(`${srv.root}/src`, manifest(id, { services: { Quote: "1.0.0" } }), {
      "mod.ts": `export default { services: { Quote: { who: () => "${id}" } } };`,
    }).then((dir) => releasePath(srv.url, dir));
  assert.equal((await release("quote-a")).status, 201);
  const refused = await release("quote-b");
  assert.equal(refused.status, 403);
  assert.match(refused.body.error!.message, /admin rule \(services\.Quote\.providers\)/);
  const rules = await admin(srv.url, "PUT", "/admin/rules", {
    services: { Quote: { providers: ["quote-b"] } },
  });
  assert.equal(rules.status, 200, JSON.stringify(rules.body));
  const granted = await release("quote-b");
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  assert.equal(
    await srv.engine.call("Quote", "who", null, { route: { type: "ID", pattern: "quote-b" } }),
    "quote-b",
  );
  const bad = await admin(srv.url, "PUT", "/admin/rules", {
    services: { Quote: { providers: ["Not An Id"] } },
  });
  assert.equal(bad.status, 400);
});
