import assert from "node:assert/strict";
import { rpcTarget } from "./rpc.ts";

Deno.test("rpcTarget takes exactly POST /rpc/:service/:method, decoded like router parameters", () => {
  assert.deepEqual(rpcTarget("POST", "/rpc/Greeter/hello"), {
    service: "Greeter",
    method: "hello",
  });
  assert.deepEqual(rpcTarget("POST", "/rpc/Greeter%40%5E1/hello"), {
    service: "Greeter@^1",
    method: "hello",
  });
  for (
    const [method, path] of [
      ["GET", "/rpc/Greeter/hello"],
      ["POST", "/rpc/Greeter"],
      ["POST", "/rpc/Greeter/"],
      ["POST", "/rpc//hello"],
      ["POST", "/rpc/Greeter/hello/"],
      ["POST", "/rpc/Greeter/hello/x"],
      ["POST", "/rpcx/Greeter/hello"],
      ["POST", "/rpc/Gr%ZZ/hello"],
    ] as const
  ) {
    assert.equal(rpcTarget(method, path), undefined, `${method} ${path} is left to the router`);
  }
});
