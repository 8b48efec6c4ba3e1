import assert from "node:assert/strict";
import { pathOf } from "./http.ts";

Deno.test("pathOf equals new URL(url).pathname for normalized request URLs", () => {
  for (
    const raw of [
      "http://127.0.0.1:8000/rpc/HelloService/greet",
      "http://localhost/b/hello/x?name=Bob#frag",
      "http://x/",
      "http://x",
      "http://x/a/../b/%20c?q=/d",
      "https://user:pw@host:8443/p?x#y/z",
      "http://[::1]:8000/healthz?",
    ]
  ) {
    const url = new Request(raw).url;
    assert.equal(pathOf(url), new URL(url).pathname, url);
  }
});
