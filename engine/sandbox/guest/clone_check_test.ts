import assert from "node:assert/strict";
import { clonesCheaply, sealMessage } from "./clone_check.ts";

Deno.test("clonesCheaply counts a sealed message as its stated values without walking it", () => {
  // An accessor the walk would refuse: a sealed message is taken at its word, so only the
  // runtime's own literals are ever sealed (fetch_response.ts).
  const message = { type: "response", id: 1 };
  Object.defineProperty(message, "hidden", { get: () => 1, enumerable: true });
  assert.equal(clonesCheaply(message, 100), false);
  sealMessage(message, 10);
  assert.equal(clonesCheaply(message, 100), true);
  assert.equal(clonesCheaply(message, 9), false);
});

Deno.test("clonesCheaply sums a batch's sealed and walked messages against one cap", () => {
  const sealed = { type: "reply", id: 1, ok: true, value: "x" };
  sealMessage(sealed, 40);
  const walked = { type: "reply", id: 2, ok: true, value: [1, 2, 3, 4, 5] };
  // The batch array, 40 sealed values and the walked message's 10 (object, 4 fields, 5 items).
  assert.equal(clonesCheaply([sealed, walked], 51), true);
  assert.equal(clonesCheaply([sealed, walked], 50), false);
  assert.equal(clonesCheaply([sealed, sealed, sealed], 120), false);
});

Deno.test("clonesCheaply refuses a batch whose array is not plain data", () => {
  const sealed = { type: "reply", id: 1, ok: true, value: "x" };
  sealMessage(sealed, 5);
  const withAccessor: unknown[] = [sealed];
  Object.defineProperty(withAccessor, 1, { get: () => sealed, enumerable: true });
  assert.equal(clonesCheaply(withAccessor, 1000), false);
  const withHole: unknown[] = [sealed];
  withHole.length = 3;
  assert.equal(clonesCheaply(withHole, 1000), false);
  const unsealed = { type: "reply", id: 2, ok: true, value: new Map([[1, 2]]) };
  assert.equal(clonesCheaply([sealed, unsealed], 1000), false);
  assert.equal(clonesCheaply([sealed, { type: "log", message: "ok" }], 1000), true);
});
