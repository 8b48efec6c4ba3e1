/**
 * A bundle that patches what the runtime reads of its `Response` (the header iteration, `status`,
 * `Response.prototype.text`) cannot slip an accessor or a huge value into the `response` message:
 * the runtime reads the headers with the platform's own `forEach` into fresh pairs of strings, seals
 * a message only when its status is a number, and reads a `Response.json` body with the platform's own `text()`. In both
 * tiers the engine answers, stays healthy, and the client never receives the huge value.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, writeBundle } from "./_helpers.ts";
import { releasePath } from "./_http.ts";
import { testServer } from "./_server.ts";

/** Each attack is its own bundle: the patches last as long as the sandbox. */
const ATTACKS: Record<string, string> = {
  headers: `const pair = {};
    Object.defineProperty(pair, 0, {
      get() { reads++; return reads === 1 ? "x-probe" : new Array(1_000_000).fill("x"); },
      enumerable: true,
    });
    Object.defineProperty(pair, 1, { value: "patched", enumerable: true });
    Headers.prototype[Symbol.iterator] = function* () {
      yield ["content-type", "text/plain"];
      yield pair;
    };
    Headers.prototype.entries = Headers.prototype[Symbol.iterator];
    Headers.prototype.forEach = function (callback) {
      callback("text/plain", "content-type", this);
      callback(pair, pair, this);
    };
    return new Response("headers patched", { headers: { "x-real": "yes" } });`,
  status: `Object.defineProperty(Response.prototype, "status", {
      get() { reads++; return { big: new Array(1_000_000).fill("x") }; },
      configurable: true,
    });
    return new Response("status patched");`,
  text: `Response.prototype.text = () => {
      reads++;
      return Promise.resolve({ length: 1, big: new Array(1_000_000).fill("x") });
    };
    return Response.json({ json: "kept" });`,
};

function bundleSource(attack: string): string {
  return `let reads = 0;
export default {
  services: { [${JSON.stringify(`Reads${attack}`)}]: { count: () => reads } },
  fetch() {
    ${ATTACKS[attack]}
  },
};`;
}

Deno.test("Hostile response: patched headers, status and text() never put a huge value in the response message, in both tiers", async () => {
  await using srv = await testServer();
  for (const isolation of ["worker", "process"]) {
    for (const attack of Object.keys(ATTACKS)) {
      const id = `hostile-${attack}-${isolation}`;
      const service = `Reads${attack}${isolation}`;
      const source = bundleSource(attack).replace(`Reads${attack}`, service);
      const dir = await writeBundle(
        `${srv.root}/src`,
        manifest(id, { isolation, services: { [service]: "1.0.0" } }),
        {
          "mod.ts": source,
        },
      );
      const released = await releasePath(srv.url, dir);
      assert.equal(released.status, 201, JSON.stringify(released.body));
      const response = await srv.request(`/b/${id}/`);
      const body = await response.text();
      assert.ok(body.length < 10_000, `${id}: a body of ${body.length} characters`);
      if (attack === "headers") {
        // The platform's own forEach reads the real headers; the patched ones never run.
        assert.equal(response.status, 200, `${id}: ${body}`);
        assert.equal(response.headers.get("x-real"), "yes");
        assert.equal(response.headers.get("x-probe"), null);
        assert.equal(body, "headers patched");
        assert.equal(await srv.engine.call(service, "count", null), 0);
      } else if (attack === "status") {
        assert.ok(response.status >= 500, `${id}: status ${response.status}`);
      } else {
        assert.equal(response.status, 200, `${id}: ${body}`);
        assert.equal(body, '{"json":"kept"}');
        assert.equal(await srv.engine.call(service, "count", null), 0);
      }
    }
  }
  const health = await srv.request("/healthz");
  assert.equal(health.status, 200);
  await health.body?.cancel();
});
