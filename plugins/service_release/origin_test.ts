/**
 * The two forms of `/b/` confinement give the same headers: `confineHeaders` on the list a
 * response is built from (every bundle response), `confineResponse` on a built response (the 403
 * to a service worker script, a WebSocket's 101).
 *
 * @module
 */
import assert from "node:assert/strict";
import { BUNDLE_SANDBOX_CSP, confineHeaders, confineResponse } from "./origin.ts";

const SENT: [string, string][] = [
  ["content-type", "text/html"],
  ["content-security-policy", "img-src 'self'"],
  ["set-cookie", "a=1; Path=/; Domain=example.com"],
  ["set-cookie", "b=2"],
  ["strict-transport-security", "max-age=1"],
  ["access-control-allow-credentials", "true"],
  ["x-content-type-options", "sniff"],
  ["x-kept", "yes"],
];

Deno.test("confineResponse and confineHeaders confine a response's headers the same way", () => {
  const response = confineResponse(new Response(null, { headers: SENT }), "/b/shop");
  const list = new Headers(confineHeaders(SENT.map(([n, v]) => [n, v]), "/b/shop"));
  for (const headers of [response.headers, list]) {
    assert.deepEqual(headers.getSetCookie(), ["a=1; Path=/b/shop/", "b=2; Path=/b/shop/"]);
    assert.equal(headers.get("content-security-policy"), `img-src 'self', ${BUNDLE_SANDBOX_CSP}`);
    assert.equal(headers.get("x-content-type-options"), "nosniff");
    assert.equal(headers.get("strict-transport-security"), null);
    assert.equal(headers.get("access-control-allow-credentials"), null);
    assert.equal(headers.get("x-kept"), "yes");
  }
  assert.deepEqual([...response.headers], [...list]);
});
