/**
 * Cluster mode with real processes on loopback: a 3-node `nats-server` cluster and three engines
 * (`main.ts`, each with its own port, data folder and `BUNDLEHOST_CLUSTER`). A release through
 * one engine is served by the others (fetched from the shared archive store and verified);
 * rollback, traffic weights, stop/start, deletion and rules converge; status lists every engine;
 * an engine killed with SIGKILL catches up when it restarts; one NATS server killed changes
 * nothing; NATS gone altogether leaves what runs serving and refuses changes with 503 until it
 * returns.
 */
import assert from "node:assert/strict";
import { admin } from "./_http.ts";
import { runEngineToExit } from "./_server.ts";
import { natsAvailable } from "./_nats_cluster.ts";
import {
  helloArchive,
  releaseArchive,
  served,
  startClusterRig,
  untilAll,
} from "./_cluster_engines.ts";

const ID = "c-hello";
const v = (version: string) => `${ID}@${version}`;
const is = (expected: string) => (answer: string) => answer === expected;

Deno.test({
  name:
    "cluster: release, rollback, weights, stop/start, phased release, rules and delete converge on every engine",
  ignore: !natsAvailable(),
}, async () => {
  await using rig = await startClusterRig(3);
  const [a, b, c] = rig.engines.map((e) => e.url) as [string, string, string];
  const all = [a, b, c];

  const first = await releaseArchive(a, await helloArchive(ID, "1.0.0"));
  assert.equal(first.status, 201, JSON.stringify(first.body));
  const reached = await untilAll(all, is(v("1.0.0")), "release 1.0.0 through A");
  console.log(`release through A served by every engine after ${reached.toFixed(0)} ms`);
  for (const url of [b, c]) {
    const view = await admin(url, "GET", `/admin/bundles/${ID}`);
    assert.equal(view.status, 200);
    assert.equal(view.body.active, "1.0.0", "the registry is shared");
  }

  assert.equal((await releaseArchive(b, await helloArchive(ID, "2.0.0"))).status, 201);
  await untilAll(all, is(v("2.0.0")), "release 2.0.0 through B");
  const twice = await releaseArchive(c, await helloArchive(ID, "2.0.0"));
  assert.equal(twice.status, 200, "the same release again through C is a no-op");
  assert.equal(twice.body.created, false);

  assert.equal((await admin(c, "POST", `/admin/bundles/${ID}/rollback`, {})).status, 200);
  await untilAll(all, is(v("1.0.0")), "rollback through C");

  const weights = { "1.0.0": 0, "2.0.0": 100 };
  assert.equal((await admin(a, "PUT", `/admin/bundles/${ID}/traffic`, { weights })).status, 200);
  await untilAll(all, is(v("2.0.0")), "traffic weights through A");
  for (const url of all) {
    const view = await admin(url, "GET", `/admin/bundles/${ID}`);
    assert.deepEqual(view.body.weights, weights);
  }

  assert.equal((await admin(b, "POST", `/admin/bundles/${ID}/stop`)).status, 200);
  await untilAll(all, (answer) => answer.startsWith("status "), "stop through B");
  assert.equal((await admin(c, "POST", `/admin/bundles/${ID}/start`)).status, 200);
  await untilAll(all, is(v("2.0.0")), "start through C");

  const rules = { bundles: { [ID]: { qps: 1000 } }, services: {} };
  assert.equal((await admin(a, "PUT", "/admin/rules", rules)).status, 200);
  for (const url of [b, c]) {
    const deadline = Date.now() + 30_000;
    let seen: unknown;
    while (Date.now() < deadline) {
      seen = (await admin(url, "GET", "/admin/rules")).body;
      if (JSON.stringify(seen) === JSON.stringify(rules)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(seen, rules, `rules reach ${url}`);
  }

  // Every engine lists every engine, with what it runs.
  const deadline = Date.now() + 30_000;
  let cluster: { engine: string; engines: { id: string; url?: string; runs: unknown[] }[] };
  for (;;) {
    const status = await admin(a, "GET", "/admin/status");
    assert.equal(status.status, 200);
    assert.ok(Array.isArray(status.body.bundles), "the single-engine fields stay");
    cluster = status.body.cluster as typeof cluster;
    const urls = new Set(cluster.engines.map((e) => e.url));
    // Heartbeats come every 2 s: one written before the bundle ran says it runs nothing.
    const running = cluster.engines.every((e) => JSON.stringify(e.runs).includes(ID));
    if ((all.every((u) => urls.has(u)) && running) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(new Set(cluster.engines.map((e) => e.url)), new Set(all));
  for (const engine of cluster.engines) {
    assert.ok(
      engine.runs.some((r) => JSON.stringify(r).includes(ID)),
      `${engine.url} runs ${JSON.stringify(engine.runs)}`,
    );
  }

  // Back to one active version without weights, through B.
  const back = await admin(b, "POST", `/admin/bundles/${ID}/rollback`, { version: "2.0.0" });
  assert.equal(back.status, 200, JSON.stringify(back.body));
  await untilAll(all, is(v("2.0.0")), "rollback to 2.0.0 through B");

  // A phased release driven by A: B and C follow its weights; a rollback through C ends it.
  const staged = await admin(
    a,
    "POST",
    "/admin/releases?activate=false",
    await helloArchive(ID, "3.0.0"),
    {
      "content-type": "application/x-tar",
    },
  );
  assert.equal(staged.status, 201, JSON.stringify(staged.body));
  const canary = await admin(a, "POST", `/admin/bundles/${ID}/canary`, {
    version: "3.0.0",
    steps: [50, 100],
    stepMs: 600_000,
  });
  assert.equal(canary.status, 202, JSON.stringify(canary.body));
  // The stable version is the record's active one (traffic weights above did not change it).
  const stable = (canary.body.canary as { from: string }).from;
  for (const url of all) {
    const seen = new Set<string>();
    const until = Date.now() + 30_000;
    while (seen.size < 2 && Date.now() < until) seen.add(await served(url));
    assert.deepEqual(seen, new Set([v(stable), v("3.0.0")]), `${url} splits the traffic`);
  }
  assert.equal((await admin(c, "POST", `/admin/bundles/${ID}/rollback`, {})).status, 200);
  await untilAll(all, is(v(stable)), "rollback through C during A's phased release");
  await new Promise((r) => setTimeout(r, 500));
  for (const url of all) {
    for (let i = 0; i < 20; i++) assert.equal(await served(url), v(stable), `${url} call ${i}`);
  }
  const ended = await admin(a, "GET", `/admin/bundles/${ID}`);
  assert.equal((ended.body.canary as { status: string }).status, "aborted");
  assert.equal(ended.body.weights, undefined);
  assert.equal(ended.body.active, stable);

  assert.equal((await admin(c, "DELETE", `/admin/bundles/${ID}`)).status, 200);
  await untilAll(all, (answer) => answer.startsWith("status "), "delete through C");
  for (const i of [0, 1, 2]) {
    const folder = `${rig.dataDir(i)}/releases/${ID}`;
    const deadline = Date.now() + 30_000;
    while (await Deno.stat(folder).then(() => Date.now() < deadline, () => false)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(
      await Deno.stat(folder).then(() => false, () => true),
      `engine ${i} removed ${folder}`,
    );
  }
});

Deno.test({
  name:
    "cluster: kill -9 of an engine and of a NATS server loses nothing; NATS away refuses changes with 503",
  ignore: !natsAvailable(),
}, async () => {
  await using rig = await startClusterRig(3);
  const urls = () => rig.engines.map((e) => e.url);
  assert.equal((await releaseArchive(urls()[0]!, await helloArchive(ID, "1.0.0"))).status, 201);
  await untilAll(urls(), is(v("1.0.0")), "first release");

  // Clients that retry on another engine see no failed call while engine B dies.
  let failed = 0;
  let calls = 0;
  let running = true;
  const client = (async () => {
    for (let n = 0; running; n++) {
      const order = urls().map((_, i) => urls()[(n + i) % urls().length]!);
      let ok = false;
      for (const url of order) {
        if ((await served(url)).startsWith(ID)) {
          ok = true;
          break;
        }
      }
      calls++;
      if (!ok) failed++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await rig.engines[1]!.kill9();
  const acked = await releaseArchive(urls()[0]!, await helloArchive(ID, "2.0.0"));
  assert.equal(acked.status, 201, "a release while B is dead");
  await untilAll([urls()[0]!, urls()[2]!], is(v("2.0.0")), "A and C after B died");
  running = false;
  await client;
  assert.ok(calls > 0);
  assert.equal(failed, 0, `${failed} of ${calls} calls failed on every engine`);

  const restarted = await rig.restart(1);
  await untilAll([restarted.url], is(v("2.0.0")), "B caught up after its restart");

  // One NATS server killed: releases still work (R3 buckets).
  await rig.nats.kill(0);
  const during = await releaseArchive(urls()[2]!, await helloArchive(ID, "3.0.0"));
  assert.equal(during.status, 201, `release with one NATS server down: ${JSON.stringify(during)}`);
  await untilAll(urls(), is(v("3.0.0")), "release with one NATS server down");
  await rig.nats.restart(0);

  // NATS gone altogether: what runs keeps serving, changes are refused with a clear 503.
  for (const i of [0, 1, 2]) await rig.nats.kill(i);
  await untilAll(urls(), is(v("3.0.0")), "serving while NATS is away");
  const refused = await releaseArchive(urls()[1]!, await helloArchive(ID, "4.0.0"));
  assert.equal(refused.status, 503, JSON.stringify(refused.body));
  assert.equal((refused.body.error as { code: string }).code, "UNAVAILABLE");
  const stop = await admin(urls()[0]!, "POST", `/admin/bundles/${ID}/stop`);
  assert.equal(stop.status, 503);
  assert.match(String((stop.body.error as { message: string }).message), /Cluster registry/);
  await untilAll(urls(), is(v("3.0.0")), "still serving after the refused changes");

  for (const i of [0, 1, 2]) await rig.nats.restart(i);
  await rig.nats.ready();
  // Changes are taken again once NATS answers, and reach every engine.
  const deadline = Date.now() + 60_000;
  let again = await releaseArchive(urls()[1]!, await helloArchive(ID, "4.0.0"));
  while (again.status === 503 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    again = await releaseArchive(urls()[1]!, await helloArchive(ID, "4.0.0"));
  }
  assert.equal(again.status, 201, JSON.stringify(again.body));
  await untilAll(urls(), is(v("4.0.0")), "release after NATS returned");
  const releases = await admin(urls()[2]!, "GET", `/admin/bundles/${ID}`);
  const versions = (releases.body.releases as { version: string }[]).map((r) => r.version);
  assert.deepEqual(versions, ["1.0.0", "2.0.0", "3.0.0", "4.0.0"], "no acknowledged release lost");
});

Deno.test("cluster: a bad --cluster list or no NATS answering ends start-up with one line and exit 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-cluster-start-" });
  try {
    const bad = await runEngineToExit(dir, [
      "--data-dir",
      dir,
      "--port",
      "0",
      "--cluster",
      "http://x:1",
    ]);
    assert.equal(bad.code, 2);
    assert.equal(
      bad.stderr.trim(),
      'Invalid --cluster: cluster: "http://x:1" is not a NATS server URL (nats://host:port)',
    );
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const away = await runEngineToExit(dir, [
      "--data-dir",
      dir,
      "--port",
      "0",
      "--cluster",
      `nats://127.0.0.1:${port}`,
    ]);
    assert.equal(away.code, 2);
    assert.equal(away.stderr.trim().split("\n").length, 1, away.stderr);
    assert.match(away.stderr, new RegExp(`no NATS server answered at 127\\.0\\.0\\.1:${port}`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
