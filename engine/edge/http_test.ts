import assert from "node:assert/strict";
import { pathOf, withPath } from "./http.ts";

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
