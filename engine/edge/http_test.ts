import assert from "node:assert/strict";
import { fromWireResponse, pathOf, withPath } from "./http.ts";

const URLS = [
  "http://127.0.0.1:8000/rpc/HelloService/greet",
  "http://localhost/b/hello/x?name=Bob#frag",
  "http://x/",
  "http://x",
  "http://x/a/../b/%20c?q=/d",
  "https://user:pw@host:8443/p?x#y/z",
  "http://[::1]:8000/healthz?",
];

Deno.test("pathOf equals new URL(url).pathname for normalized request URLs", () => {
  for (const raw of URLS) {
    const url = new Request(raw).url;
    assert.equal(pathOf(url), new URL(url).pathname, url);
  }
});

Deno.test("withPath equals setting URL.pathname, origin, query and fragment kept", () => {
  for (const raw of URLS) {
    const url = new Request(raw).url;
    const expected = new URL(url);
    expected.pathname = "/cart/x";
    assert.equal(withPath(url, "/cart/x"), expected.href, url);
  }
});

Deno.test("fromWireResponse: one header list, hop-by-hop dropped, the engine's own headers win", async () => {
  const response = fromWireResponse(
    {
      status: 201,
      headers: [
        ["Content-Type", "text/plain"],
        ["connection", "close"],
        ["x-bundle", "forged@9.9.9"],
        ["set-cookie", "a=1"],
        ["set-cookie", "b=2"],
      ],
      body: null,
      text: "héllo",
    },
    [["x-bundle", "real@1.0.0"]],
    (list) => [...list, ["x-edited", "yes"]],
  );
  assert.equal(response.status, 201);
  assert.equal(response.headers.get("content-type"), "text/plain");
  assert.equal(response.headers.get("connection"), null);
  assert.equal(response.headers.get("x-bundle"), "real@1.0.0");
  assert.equal(response.headers.get("x-edited"), "yes");
  assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
  assert.deepEqual(new Uint8Array(await response.arrayBuffer()), new TextEncoder().encode("héllo"));
});

Deno.test("fromWireResponse: a header HTTP cannot carry is dropped, the rest is kept", async () => {
  const bytes = new Uint8Array([0xff, 0x00, 0xfe]);
  const response = fromWireResponse({
    status: 200,
    headers: [["x-ok", "1"], ["bad name", "x"], ["x-bad-value", "a\u0000b"], ["x-also", "2"]],
    body: bytes,
  });
  assert.deepEqual([...response.headers], [["x-also", "2"], ["x-ok", "1"]]);
  assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes);
});

Deno.test("fromWireResponse: a null-body status carries no body, text or bytes", async () => {
  for (const status of [204, 205, 304]) {
    const response = fromWireResponse({ status, headers: [], body: null, text: "ignored" });
    assert.equal(response.body, null);
    assert.equal(await response.text(), "");
  }
});
