import assert from "node:assert/strict";
import { toWireError } from "./wire_error.ts";

Deno.test("toWireError keeps a bounded list of module frames, whatever the stack holds", () => {
  const error = new Error("boom");
  const wire = toWireError(error);
  assert.match(wire.at!, /^file:\/\/\/.*wire_error_test\.ts:\d+:\d+/);
  const hostile = { name: "Error", message: "m", stack: `at (file:///${"a".repeat(1e6)}.ts:1:1)` };
  assert.equal(toWireError(hostile).at, undefined);
  const flood = {
    message: "m",
    stack: Array.from({ length: 1000 }, (_, i) => `    at f (file:///m${i}.ts:1:1)`).join("\n"),
  };
  assert.equal(toWireError(flood).at!.split(" ").length, 6);
  const inlined = {
    message: "m",
    stack: `    at k (data:application/typescript;base64,${"QQ".repeat(1e5)}:4:2)`,
  };
  assert.equal(toWireError(inlined).at, "data::4:2");
});
