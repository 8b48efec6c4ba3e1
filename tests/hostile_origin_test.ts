/**
 * Hostile input, class 11: the browser origin. A bundle's `/b/:id/*` responses share the engine's
 * origin, so a bundle tries to act on that origin: cookies for `/` or another domain, credentialed
 * CORS, origin-wide headers (`Clear-Site-Data`, `Service-Worker-Allowed`, HSTS, `Alt-Svc`, `NEL`),
 * an HTML page that would read the admin API, and a service worker script. Over real HTTP, in both
 * isolation tiers, each is confined or refused.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, writeBundle } from "./_helpers.ts";
import { admin, releasePath } from "./_http.ts";
import { testServer } from "./_server.ts";

/** A fetch handler that sends every header an attacker would like the browser to honour. */
const HOSTILE_PAGE = `export default {
  fetch(request) {
    const headers = new Headers({
      "content-type": "text/html; charset=utf-8",
      "access-control-allow-origin": "https://evil.example",
      "access-control-allow-credentials": "true",
      "access-control-allow-private-network": "true",
      "clear-site-data": '"cookies", "storage"',
      "service-worker-allowed": "/",
      "strict-transport-security": "max-age=31536000; includeSubDomains",
      "alt-svc": 'h2="evil.example:443"',
      "nel": '{"report_to":"x","max_age":86400}',
      "report-to": '{"group":"x","max_age":86400,"endpoints":[{"url":"https://evil.example"}]}',
      "content-security-policy": "img-src 'self'",
      "x-kept": "yes",
    });
    headers.append("set-cookie", "session=steal; Path=/; Domain=127.0.0.1; HttpOnly");
    headers.append("set-cookie", "plain=1");
    headers.append("set-cookie", "deep=2; path=/app; Secure; SameSite=Lax");
    headers.append("set-cookie", "relative=3; Path=admin; Max-Age=60");
    const body = new URL(request.url).pathname === "/sw.js"
      ? "self.addEventListener('fetch', () => {});"
      : "<script>fetch('/admin/bundles').then((r) => r.text()).then(alert)</script>";
    return new Response(body, { headers });
  },
};`;

Deno.test("Hostile origin: a bundle's responses cannot act on the engine's origin, in both tiers", async (t) => {
  await using srv = await testServer();
  for (const [id, isolation] of [["page-worker", "worker"], ["page-process", "process"]]) {
    const dir = await writeBundle(`${srv.root}/src`, manifest(id!, { isolation }), {
      "mod.ts": HOSTILE_PAGE,
    });
    const reply = await releasePath(srv.url, dir);
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    const status = await admin<{ revisions: { isolation: string }[] }>(
      srv.url,
      "GET",
      `/admin/bundles/${id}`,
    );
    assert.equal(status.body.revisions[0]?.isolation, isolation, "the tier under test");
  }

  for (const id of ["page-worker", "page-process"]) {
    await t.step(`${id}: sandboxed, cookies under its prefix, origin headers removed`, async () => {
      const response = await fetch(`${srv.url}/b/${id}/index.html`);
      assert.equal(response.status, 200);
      assert.match(await response.text(), /<script>/, "the page itself is served");
      const headers = response.headers;

      // Opaque origin: the engine's sandbox policy, without allow-same-origin, beside the
      // bundle's own policy (browsers enforce both).
      const csp = headers.get("content-security-policy")!;
      assert.match(csp, /img-src 'self'/);
      assert.match(csp, /(^|, )sandbox allow-scripts/);
      assert.doesNotMatch(csp, /allow-same-origin/);
      assert.equal(headers.get("x-content-type-options"), "nosniff");

      assert.deepEqual(headers.getSetCookie(), [
        `session=steal; Path=/b/${id}/; HttpOnly`,
        `plain=1; Path=/b/${id}/`,
        `deep=2; Path=/b/${id}/app; Secure; SameSite=Lax`,
        `relative=3; Path=/b/${id}/; Max-Age=60`,
      ]);

      for (
        const name of [
          "access-control-allow-credentials",
          "access-control-allow-private-network",
          "clear-site-data",
          "service-worker-allowed",
          "strict-transport-security",
          "alt-svc",
          "nel",
          "report-to",
        ]
      ) assert.equal(headers.get(name), null, `${name} reached the browser`);
      // Non-credentialed CORS is the bundle's own business; its other headers pass.
      assert.equal(headers.get("access-control-allow-origin"), "https://evil.example");
      assert.equal(headers.get("x-kept"), "yes");
      assert.equal(headers.get("x-bundle"), `${id}@1.0.0`);
    });

    await t.step(`${id}: no service worker script is served from /b/`, async () => {
      const script = await fetch(`${srv.url}/b/${id}/sw.js`, {
        headers: { "service-worker": "script" },
      });
      assert.equal(script.status, 403);
      const body = await script.json();
      assert.equal(body.error.code, "FORBIDDEN");
      assert.match(body.error.message, /Service workers cannot be installed/);
      assert.match(script.headers.get("content-security-policy")!, /^sandbox /);
      // The same path as an ordinary request is served (and sandboxed).
      const plain = await fetch(`${srv.url}/b/${id}/sw.js`);
      assert.equal(plain.status, 200);
      assert.match(await plain.text(), /addEventListener/);
      assert.equal(plain.headers.get("service-worker-allowed"), null);
    });
  }

  await t.step("the engine's own routes are not sandboxed", async () => {
    const health = await fetch(`${srv.url}/healthz`);
    await health.body?.cancel();
    assert.equal(health.headers.get("content-security-policy"), null);
  });
});
