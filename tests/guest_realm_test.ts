/**
 * A bundle shares its realm with the guest runtime, so it can break the builtins the runtime uses
 * to read a call. Reading the call's trace context is the first thing the runtime does with a call
 * that carries one: a bundle that broke `RegExp.prototype.test` makes that call fail as a bundle
 * error, and the sandbox goes on serving (the same instance answers the next call). Service calls
 * and the fetch handler, both tiers, real engine, real HTTP.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, writeBundle } from "./_helpers.ts";
import { releasePath, rpc } from "./_http.ts";
import { testServer } from "./_server.ts";

const SOURCE = `export default {
  services: {
    Realm: {
      breakRegex() {
        RegExp.prototype.test = () => { throw new Error("test broken by the bundle"); };
        return "broken";
      },
      who(_input, ctx) {
        return ctx.bundle.instanceId;
      },
    },
  },
  fetch: (_request, ctx) => new Response(ctx.bundle.instanceId),
};`;

const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

for (const isolation of ["worker", "process"] as const) {
  Deno.test(`A bundle that broke RegExp.prototype.test fails only a traced call, ${isolation} tier`, async () => {
    await using srv = await testServer();
    const service = `Realm${isolation}`;
    const dir = await writeBundle(
      `${srv.root}/src`,
      manifest(`realm-${isolation}`, { isolation, services: { [service]: "1.0.0" } }),
      { "mod.ts": SOURCE.replace("Realm:", `${service}:`) },
    );
    const released = await releasePath(srv.url, dir);
    assert.equal(released.status, 201, JSON.stringify(released.body));

    const before = await rpc(srv.url, service, "who");
    assert.equal(before.status, 200, JSON.stringify(before.body));
    const broke = await rpc(srv.url, service, "breakRegex");
    assert.equal(broke.status, 200, JSON.stringify(broke.body));

    const traced = await rpc(srv.url, service, "who", null, { traceparent: TRACEPARENT });
    // A bundle's error (its message too is read with the broken builtin, so it is not described).
    assert.notEqual(traced.status, 200, JSON.stringify(traced.body));
    assert.equal((traced.body.error as { code?: string }).code, "BUNDLE_ERROR");

    // The sandbox survived: the instance that was broken answers a call without a trace context.
    const after = await rpc(srv.url, service, "who");
    assert.equal(after.status, 200, JSON.stringify(after.body));
    assert.equal(after.body.result, before.body.result);

    // The same for the bundle's fetch handler.
    const page = `${srv.url}/b/realm-${isolation}/`;
    const tracedPage = await fetch(page, { headers: { traceparent: TRACEPARENT } });
    await tracedPage.body?.cancel();
    assert.ok(tracedPage.status >= 500, `status ${tracedPage.status}`);
    const plainPage = await fetch(page);
    assert.equal(plainPage.status, 200);
    assert.equal(await plainPage.text(), before.body.result);
  });
}
