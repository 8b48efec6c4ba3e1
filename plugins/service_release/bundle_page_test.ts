import assert from "node:assert/strict";
import { bundlePageTarget } from "./bundle_page.ts";

Deno.test("bundlePageTarget takes plain /b/:bundleId/… paths of any method but HEAD", () => {
  assert.equal(bundlePageTarget("GET", "/b/shop/"), "shop");
  assert.equal(bundlePageTarget("POST", "/b/shop/cart/7"), "shop");
  assert.equal(bundlePageTarget("DELETE", "/b/shop//x"), "shop");
  for (
    const [method, path] of [
      ["HEAD", "/b/shop/"],
      ["GET", "/b/shop"],
      ["GET", "/b//x"],
      ["GET", "/b/"],
      ["GET", "/b/sh%6Fp/"],
      ["GET", "/bb/shop/"],
      ["GET", "/rpc/shop/"],
    ] as const
  ) {
    assert.equal(
      bundlePageTarget(method, path),
      undefined,
      `${method} ${path} is left to the router`,
    );
  }
});
