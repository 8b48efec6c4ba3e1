/**
 * Admin lifecycle operations through real HTTP on loopback: start / stop, delete, rollback (served
 * from the stored copy, whatever happened to the source folder) and weighted traffic.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, writeBundle } from "./_helpers.ts";
import { admin, type BundleView, releasePath, type Reply, rpc } from "./_http.ts";
import { testServer } from "./_server.ts";

/** A greeter bundle whose `say` method and fetch handler answer `word`. */
function greeter(word: string): Record<string, string> {
  const literal = JSON.stringify(word);
  return {
    "mod.ts": `export default {
      services: { Greeter: { say: () => ${literal} } },
      fetch: () => new Response(${literal}),
    };`,
  };
}

/** Releases `greeter@version` saying `word`; returns its source folder. */
async function releaseGreeter(url: string, root: string, version: string, word: string) {
  const dir = await writeBundle(
    `${root}/src`,
    manifest("greeter", { version, services: { Greeter: "1.0.0" } }),
    greeter(word),
  );
  const reply = await releasePath(url, dir);
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  return dir;
}

/** Who serves `Greeter.say` and what it says. */
async function say(url: string): Promise<[number, string | null, unknown]> {
  const reply = await rpc(url, "Greeter", "say");
  return [reply.status, reply.headers.get("x-bundle"), reply.body.result ?? reply.body.error?.code];
}

function expectError<T>(reply: Reply<T>, status: number, code: string, message?: RegExp): void {
  assert.deepEqual(
    [reply.status, reply.body.error?.code],
    [status, code],
    reply.body.error?.message,
  );
  if (message) assert.match(reply.body.error!.message, message);
}

Deno.test("Admin API stops and starts a bundle, and a stopped bundle answers 404 on /rpc and /b", async () => {
  await using srv = await testServer();
  await releaseGreeter(srv.url, srv.root, "1.0.0", "one");
  const stopped = await admin<BundleView>(srv.url, "POST", "/admin/bundles/greeter/stop");
  assert.equal(stopped.status, 200);
  assert.deepEqual([stopped.body.state, stopped.body.desired], ["RESOLVED", "stopped"]);
  // Nothing active provides the service: the routing layer's "no such service" (404).
  expectError(await rpc(srv.url, "Greeter", "say"), 404, "NOT_FOUND", /No active bundle/);
  const page = await fetch(`${srv.url}/b/greeter/`);
  assert.equal(page.status, 404);
  assert.match((await page.json()).error.message, /No active bundle "greeter"/);
  // Stopping again is harmless.
  assert.equal((await admin(srv.url, "POST", "/admin/bundles/greeter/stop")).status, 200);

  const started = await admin<BundleView>(srv.url, "POST", "/admin/bundles/greeter/start");
  assert.deepEqual([started.status, started.body.state, started.body.desired], [
    200,
    "ACTIVE",
    "started",
  ]);
  assert.deepEqual(await say(srv.url), [200, "greeter@1.0.0", "one"]);
  assert.equal(await (await fetch(`${srv.url}/b/greeter/`)).text(), "one");

  for (const op of ["start", "stop"]) {
    expectError(await admin(srv.url, "POST", `/admin/bundles/nobody/${op}`), 404, "NOT_FOUND");
    expectError(await admin(srv.url, "POST", `/admin/bundles/No-Way/${op}`), 400, "BAD_INPUT");
  }
});

Deno.test("Admin API deletes a bundle with its release and data folders", async () => {
  await using srv = await testServer();
  await releaseGreeter(srv.url, srv.root, "1.0.0", "one");
  await releaseGreeter(srv.url, srv.root, "1.1.0", "one more");
  const data = `${srv.root}/.bundlehost`;
  for (const path of [`${data}/releases/greeter/1.0.0`, `${data}/data/greeter`]) {
    assert.ok((await Deno.stat(path)).isDirectory, path);
  }
  const deleted = await admin(srv.url, "DELETE", "/admin/bundles/greeter");
  assert.deepEqual([deleted.status, deleted.body], [200, { deleted: "greeter" }]);
  for (const path of [`${data}/releases/greeter`, `${data}/data/greeter`]) {
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound, path);
  }
  expectError(await admin(srv.url, "GET", "/admin/bundles/greeter"), 404, "NOT_FOUND");
  expectError(await admin(srv.url, "DELETE", "/admin/bundles/greeter"), 404, "NOT_FOUND");
  expectError(await rpc(srv.url, "Greeter", "say"), 404, "NOT_FOUND");
  assert.deepEqual((await admin(srv.url, "GET", "/admin/bundles")).body, []);
  assert.deepEqual(srv.engine.status().bundles, []);
  // The id is free again, with a version released before.
  await releaseGreeter(srv.url, srv.root, "1.0.0", "reborn");
  assert.deepEqual(await say(srv.url), [200, "greeter@1.0.0", "reborn"]);
});

Deno.test("Admin API release, call, rollback, call is served by the stored old version", async () => {
  await using srv = await testServer();
  const v1 = await releaseGreeter(srv.url, srv.root, "1.0.0", "one");
  const v2 = await releaseGreeter(srv.url, srv.root, "2.0.0", "two");
  assert.deepEqual(await say(srv.url), [200, "greeter@2.0.0", "two"]);
  // The sources go away or change: rollback must not care.
  await Deno.remove(v1, { recursive: true });
  await Deno.writeTextFile(`${v2}/mod.ts`, greeter("tampered")["mod.ts"]!);

  const back = await admin(srv.url, "POST", "/admin/bundles/greeter/rollback");
  assert.deepEqual([back.status, back.body], [200, { id: "greeter", active: "1.0.0" }]);
  assert.deepEqual(await say(srv.url), [200, "greeter@1.0.0", "one"]);
  assert.equal(await (await fetch(`${srv.url}/b/greeter/`)).text(), "one");
  const view = await admin<BundleView>(srv.url, "GET", "/admin/bundles/greeter");
  assert.deepEqual([view.body.active, view.body.history], ["1.0.0", ["1.0.0", "2.0.0", "1.0.0"]]);
  assert.deepEqual(
    view.body.revisions.map((r) => [r.version, r.state]),
    [["1.0.0", "ACTIVE"], ["2.0.0", "RESOLVED"]],
  );

  // The default target is the version active before: 2.0.0, started again from its stored copy.
  const forward = await admin(srv.url, "POST", "/admin/bundles/greeter/rollback", {});
  assert.deepEqual(forward.body, { id: "greeter", active: "2.0.0" });
  assert.deepEqual(await say(srv.url), [200, "greeter@2.0.0", "two"]);
  const named = await admin(srv.url, "POST", "/admin/bundles/greeter/rollback", {
    version: "1.0.0",
  });
  assert.deepEqual(named.body, { id: "greeter", active: "1.0.0" });
  assert.deepEqual(await say(srv.url), [200, "greeter@1.0.0", "one"]);
});

Deno.test("Admin API refuses a rollback with no earlier version, an unknown version or bad input", async () => {
  await using srv = await testServer();
  await releaseGreeter(srv.url, srv.root, "1.0.0", "one");
  const rollback = (body?: unknown, id = "greeter") =>
    admin(srv.url, "POST", `/admin/bundles/${id}/rollback`, body);
  expectError(await rollback(), 409, "BAD_STATE", /no earlier version/);
  expectError(
    await rollback({ version: "9.9.9" }),
    404,
    "NOT_FOUND",
    /no released version "9\.9\.9"/,
  );
  expectError(await rollback({ version: "latest" }), 400, "BAD_INPUT", /version/);
  expectError(await rollback({ to: "1.0.0" }), 400, "BAD_INPUT", /Unrecognized key/);
  expectError(await rollback({}, "nobody"), 404, "NOT_FOUND");
  // Still serving the only version.
  assert.deepEqual(await say(srv.url), [200, "greeter@1.0.0", "one"]);
});

Deno.test("Admin API validates traffic weights and splits calls by weight", async () => {
  await using srv = await testServer();
  await releaseGreeter(srv.url, srv.root, "1.0.0", "one");
  await releaseGreeter(srv.url, srv.root, "2.0.0", "two");
  const traffic = (body: unknown, id = "greeter") =>
    admin<BundleView>(srv.url, "PUT", `/admin/bundles/${id}/traffic`, body);
  expectError(
    await traffic({ weights: { "1.0.0": -1 } }),
    400,
    "BAD_INPUT",
    /Weight of version "1\.0\.0" must be a number from 0 to 1000000/,
  );
  expectError(await traffic({ weights: { "1.0.0": "ten" } }), 400, "BAD_INPUT");
  expectError(await traffic({ weights: { "v1": 1 } }), 400, "BAD_INPUT", /weights\.v1/);
  expectError(await traffic({ weights: {} }), 400, "BAD_INPUT", /between 1 and 16/);
  expectError(await traffic({ weights: { "1.0.0": 0, "2.0.0": 0 } }), 400, "BAD_INPUT", /zero/);
  expectError(await traffic({ split: { "1.0.0": 1 } }), 400, "BAD_INPUT");
  expectError(
    await traffic({ weights: { "1.0.0": 1, "3.0.0": 1 } }),
    404,
    "NOT_FOUND",
    /"3\.0\.0"/,
  );
  expectError(await traffic({ weights: { "1.0.0": 1 } }, "nobody"), 404, "NOT_FOUND");
  // Nothing changed by the refusals.
  assert.deepEqual(await say(srv.url), [200, "greeter@2.0.0", "two"]);

  const set = await traffic({ weights: { "1.0.0": 1, "2.0.0": 3 } });
  assert.equal(set.status, 200);
  assert.deepEqual(set.body.weights, { "1.0.0": 1, "2.0.0": 3 });
  assert.ok(set.body.revisions.every((r) => r.state === "ACTIVE"));
  const served = { "greeter@1.0.0": 0, "greeter@2.0.0": 0 } as Record<string, number>;
  const calls = 400;
  for (let batch = 0; batch < calls / 8; batch++) {
    const replies = await Promise.all(Array.from({ length: 8 }, () => say(srv.url)));
    for (const [status, bundle, result] of replies) {
      assert.equal(status, 200);
      assert.equal(result, bundle === "greeter@1.0.0" ? "one" : "two");
      served[bundle!]! += 1;
    }
  }
  // Expected 100 : 300; ±45 is more than five standard deviations (σ ≈ 8.7).
  assert.equal(served["greeter@1.0.0"]! + served["greeter@2.0.0"]!, calls);
  assert.ok(Math.abs(served["greeter@1.0.0"]! - 100) <= 45, JSON.stringify(served));

  // A rollback ends the split.
  await admin(srv.url, "POST", "/admin/bundles/greeter/rollback", { version: "1.0.0" });
  const after = await admin<BundleView>(srv.url, "GET", "/admin/bundles/greeter");
  assert.equal(after.body.weights, undefined);
  assert.deepEqual(await say(srv.url), [200, "greeter@1.0.0", "one"]);
});
