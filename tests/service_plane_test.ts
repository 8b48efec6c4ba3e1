/**
 * The service plane through real HTTP on loopback: `/rpc` results, errors and routing headers,
 * `/b/:id/*` forwarding to a bundle's fetch handler, and `/healthz`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ENGINE_VERSION } from "../engine/base/version.ts";
import { manifest, sharing, writeBundle } from "./_helpers.ts";
import { releasePath, type Reply, rpc } from "./_http.ts";
import { type TestServer, testServer } from "./_server.ts";

const ECHO = `export default {
  services: { Echo: {
    echo: (input) => input,
    boom() { throw Object.assign(new RangeError("out of stock"), { code: "E_STOCK" }); },
    slow: (_input, ctx) => new Promise((resolve) => {
      const timer = setTimeout(() => resolve("late"), 5_000);
      ctx.signal.addEventListener("abort", () => { clearTimeout(timer); resolve("aborted"); });
    }),
  } },
  async fetch(request) {
    const url = new URL(request.url);
    return Response.json({
      method: request.method,
      path: url.pathname,
      search: url.search,
      prefix: request.headers.get("x-forwarded-prefix"),
      body: await request.text(),
    }, { status: 201, headers: { "x-from-bundle": "echo", "set-cookie": "a=1" } });
  },
};`;
const PROFILE = `export default {
  services: { ProfileService: { who: (_input, ctx) => ctx.bundle.id } },
};`;

async function release(srv: TestServer, id: string, extra: Record<string, unknown>, mod: string) {
  const dir = await writeBundle(`${srv.root}/src`, manifest(id, extra), { "mod.ts": mod });
  const reply = await releasePath(srv.url, dir);
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
}

function expectError(reply: Reply, status: number, code: string, message?: RegExp): void {
  assert.deepEqual(
    [reply.status, reply.body.error?.code],
    [status, code],
    reply.body.error?.message,
  );
  if (message) assert.match(reply.body.error!.message, message);
}

Deno.test("Service plane answers /rpc with the result and the serving bundle", async () => {
  await using srv = await testServer();
  await release(srv, "echo", { services: { Echo: "1.0.0" } }, ECHO);
  const input = { order: 7, items: ["a", "b"], nested: { ok: true } };
  const reply = await rpc(srv.url, "Echo", "echo", input);
  assert.equal(reply.status, 200);
  assert.deepEqual(reply.body, { result: input });
  assert.equal(reply.headers.get("x-bundle"), "echo@1.0.0");
  assert.equal(reply.headers.get("content-type"), "application/json");
  // No body is a null input.
  const empty = await fetch(`${srv.url}/rpc/Echo/echo`, { method: "POST" });
  assert.deepEqual(await empty.json(), { result: null });
  // A version range on the service narrows the providers.
  assert.equal((await rpc(srv.url, "Echo@^1.0.0", "echo", 1)).body.result, 1);
  expectError(await rpc(srv.url, "Echo@^2.0.0", "echo", 1), 404, "NOT_FOUND", /Echo@\^2\.0\.0/);
});

Deno.test("Service plane answers 404 for unknown services or methods and 400 for malformed input", async () => {
  await using srv = await testServer();
  await release(srv, "echo", { services: { Echo: "1.0.0" } }, ECHO);
  expectError(await rpc(srv.url, "Nobody", "echo"), 404, "NOT_FOUND", /service Nobody/);
  expectError(await rpc(srv.url, "Echo", "missing"), 404, "NOT_FOUND", /no method "missing"/);
  const invalid = await fetch(`${srv.url}/rpc/Echo/echo`, { method: "POST", body: "{oops" });
  assert.equal(invalid.status, 400);
  assert.match((await invalid.json()).error.message, /not valid JSON/);
  const badHeaders: [Record<string, string>, RegExp][] = [
    [{ "x-route-type": "HASH", "x-route-pattern": "x" }, /x-route-type must be/],
    [
      { "x-route-type": "RULE", "x-route-pattern": "merchant=hema" },
      /x-route-pattern must be a JSON object/,
    ],
    [{ "x-route-type": "RULE", "x-route-pattern": '["hema"]' }, /must be a JSON object/],
    [{ "x-route-type": "REG" }, /x-route-pattern is required/],
    [{ "x-route-type": "REG", "x-route-pattern": "(" }, /not a valid regular expression/],
    [{ "x-route-params": "{merchant:hema}" }, /x-route-params must be a JSON object/],
    [{ "x-route-params": '{"a":{"b":1}}' }, /value of "a"/],
    [{ "x-mock": "sometimes" }, /x-mock/],
  ];
  for (const [headers, message] of badHeaders) {
    expectError(await rpc(srv.url, "Echo", "echo", 1, headers), 400, "BAD_INPUT", message);
  }
  expectError(await rpc(srv.url, "9lives", "echo"), 400, "BAD_INPUT", /Invalid service name/);
  expectError(await rpc(srv.url, "Echo", "not-a-method"), 400, "BAD_INPUT", /Invalid method name/);
});

Deno.test("Service plane routes by id, REG, RULE and params between two providers of a service", async () => {
  await using srv = await testServer(sharing({ ProfileService: ["store-hema", "store-rtmart"] }));
  const services = { ProfileService: "1.0.0" };
  await release(srv, "store-rtmart", {
    services,
    attributes: { merchant: "rtmart", wareHouseId: "3001" },
  }, PROFILE);
  await release(srv, "store-hema", {
    services,
    attributes: { merchant: "hema", wareHouseId: "2001" },
  }, PROFILE);
  const who = async (headers: Record<string, string>) => {
    const reply = await rpc(srv.url, "ProfileService", "who", null, headers);
    if (reply.status !== 200) return `${reply.status} ${reply.body.error?.code}`;
    assert.equal(reply.headers.get("x-bundle"), `${reply.body.result}@1.0.0`);
    return reply.body.result;
  };
  // Default: equal ranking, so the first id in order.
  assert.equal(await who({}), "store-hema");
  assert.equal(await who({ "x-route-id": "store-rtmart" }), "store-rtmart");
  assert.equal(
    await who({ "x-route-type": "ID", "x-route-pattern": "store-rtmart" }),
    "store-rtmart",
  );
  assert.equal(await who({ "x-route-type": "REG", "x-route-pattern": "^store-r" }), "store-rtmart");
  assert.equal(await who({ "x-route-type": "REG", "x-route-pattern": "hema$" }), "store-hema");
  const rule = (pattern: Record<string, unknown>) => ({
    "x-route-type": "RULE",
    "x-route-pattern": JSON.stringify(pattern),
  });
  assert.equal(await who(rule({ merchant: "rtmart" })), "store-rtmart");
  assert.equal(await who(rule({ wareHouseId: 2001 })), "store-hema");
  assert.equal(await who(rule({ merchant: "hema", wareHouseId: "3001" })), "404 NOT_FOUND");
  assert.equal(await who({ "x-route-params": '{"merchant":"rtmart"}' }), "store-rtmart");
  assert.equal(await who({ "x-route-params": '{"wareHouseId":"2001"}' }), "store-hema");
  // Params narrow an explicit route too.
  assert.equal(
    await who({ "x-route-id": "store-rtmart", "x-route-params": '{"merchant":"hema"}' }),
    "404 NOT_FOUND",
  );
  assert.equal(await who({ "x-route-id": "store-nowhere" }), "404 NOT_FOUND");
});

Deno.test("Service plane answers 502 with the bundle's error, 504 past x-timeout-ms", async () => {
  await using srv = await testServer();
  await release(srv, "echo", { services: { Echo: "1.0.0" } }, ECHO);
  const failed = await rpc(srv.url, "Echo", "boom");
  expectError(failed, 502, "BUNDLE_ERROR", /echo@1\.0\.0 failed: RangeError: out of stock/);
  assert.deepEqual(failed.body.error?.bundle, { name: "RangeError", code: "E_STOCK" });
  const slow = await rpc(srv.url, "Echo", "slow", null, { "x-timeout-ms": "100" });
  expectError(slow, 504, "TIMEOUT");
  // The bundle keeps serving afterwards.
  assert.equal((await rpc(srv.url, "Echo", "echo", "still here")).body.result, "still here");
});

Deno.test("Service plane answers 413 for an /rpc body over the limit", async () => {
  await using srv = await testServer({}, { maxRpcBodyBytes: 1024 });
  await release(srv, "echo", { services: { Echo: "1.0.0" } }, ECHO);
  const fits = "x".repeat(1000);
  assert.equal((await rpc(srv.url, "Echo", "echo", fits)).body.result, fits);
  for (
    const body of [JSON.stringify("x".repeat(2000)), ReadableStream.from([new Uint8Array(4096)])]
  ) {
    const response = await fetch(`${srv.url}/rpc/Echo/echo`, { method: "POST", body });
    assert.equal(response.status, 413);
    assert.equal((await response.json()).error.code, "TOO_LARGE");
  }
});

Deno.test("Service plane forwards /b/:id/* to the bundle's fetch handler", async () => {
  await using srv = await testServer();
  await release(srv, "echo", { services: { Echo: "1.0.0" } }, ECHO);
  await release(srv, "plain", { services: { ProfileService: "1.0.0" } }, PROFILE);
  const response = await fetch(`${srv.url}/b/echo/items/7?color=red&size=2`, {
    method: "PUT",
    body: "payload",
  });
  assert.equal(response.status, 201);
  assert.equal(response.headers.get("x-from-bundle"), "echo");
  assert.equal(response.headers.get("set-cookie"), "a=1; Path=/b/echo/");
  assert.deepEqual(await response.json(), {
    method: "PUT",
    path: "/items/7",
    search: "?color=red&size=2",
    prefix: "/b/echo",
    body: "payload",
  });
  const root = await (await fetch(`${srv.url}/b/echo/`)).json();
  assert.deepEqual([root.method, root.path, root.body], ["GET", "/", ""]);
  // Without the trailing slash it is the bundle's root as well.
  const bare = await (await fetch(`${srv.url}/b/echo?x=1`)).json();
  assert.deepEqual([bare.path, bare.search], ["/", "?x=1"]);

  const unknown = await fetch(`${srv.url}/b/nobody/x`);
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).error.code, "NOT_FOUND");
  const noHandler = await fetch(`${srv.url}/b/plain/x`);
  assert.equal(noHandler.status, 404);
  assert.match((await noHandler.json()).error.message, /plain@1\.0\.0 has no fetch handler/);
});

Deno.test("Service plane answers /b/ alike with and without the router: headers confined, HEAD and escapes", async () => {
  await using srv = await testServer();
  await release(srv, "echo", { services: { Echo: "1.0.0" } }, ECHO);
  // A plain path is answered before the router; an escaped id and HEAD go through the router.
  const plain = await fetch(`${srv.url}/b/echo/x`);
  const escaped = await fetch(`${srv.url}/b/%65cho/x`);
  for (const response of [plain, escaped]) {
    assert.equal(response.status, 201);
    assert.equal(response.headers.get("x-bundle"), "echo@1.0.0");
    assert.match(response.headers.get("content-security-policy") ?? "", /^sandbox /);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    assert.equal(response.headers.get("set-cookie"), "a=1; Path=/b/echo/");
    assert.equal((await response.json()).path, "/x");
  }
  const head = await fetch(`${srv.url}/b/echo/x`, { method: "HEAD" });
  assert.equal(head.status, 201);
  assert.equal(head.headers.get("x-bundle"), "echo@1.0.0");
  assert.equal(await head.text(), "");
  const worker = await fetch(`${srv.url}/b/echo/sw.js`, {
    headers: { "service-worker": "script" },
  });
  assert.equal(worker.status, 403);
  assert.equal((await worker.json()).error.code, "FORBIDDEN");
  const late = await fetch(`${srv.url}/b/echo/x`, { headers: { "x-timeout-ms": "soon" } });
  assert.equal(late.status, 400);
  assert.match((await late.json()).error.message, /x-timeout-ms must be a positive integer/);
});

Deno.test("Service plane reports health with active and total bundle counts", async () => {
  await using srv = await testServer();
  const health = async () => {
    const response = await fetch(`${srv.url}/healthz`);
    assert.equal(response.status, 200);
    return await response.json();
  };
  const empty = await health();
  assert.deepEqual([empty.status, empty.version, empty.bundles], ["ok", ENGINE_VERSION, {
    active: 0,
    total: 0,
  }]);
  await release(srv, "echo", { services: { Echo: "1.0.0" } }, ECHO);
  await release(srv, "plain", { services: { ProfileService: "1.0.0" } }, PROFILE);
  await srv.engine.registry.stop("plain");
  assert.deepEqual((await health()).bundles, { active: 1, total: 2 });
});
