import assert from "node:assert/strict";
import { clonesCheaply, MAX_CLONE_BYTES, sealMessage } from "./clone_check.ts";

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

Deno.test("clonesCheaply counts the bytes a clone would copy: strings and whole buffers, not transferred ones", () => {
  const long = "x".repeat(MAX_CLONE_BYTES + 1);
  assert.equal(clonesCheaply({ type: "reply", value: long.slice(100) }, 100), true);
  assert.equal(clonesCheaply({ type: "reply", value: long }, 100), false);
  // A clone copies a view's whole buffer, however short the view.
  const buffer = new ArrayBuffer(MAX_CLONE_BYTES + 1);
  const view = new Uint8Array(buffer, 0, 1);
  assert.equal(clonesCheaply({ type: "reply", value: view }, 100), false);
  assert.equal(clonesCheaply({ type: "reply", value: new DataView(buffer, 0, 1) }, 100), false);
  assert.equal(clonesCheaply({ type: "reply", value: buffer }, 100), false);
  // Transferred, the buffer moves instead of being copied.
  assert.equal(clonesCheaply({ type: "chunk", value: view }, 100, [buffer]), true);
  // Bytes add up across a message and across a batch.
  const half = new Uint8Array(MAX_CLONE_BYTES / 2 + 1);
  assert.equal(clonesCheaply({ a: half }, 100), true);
  assert.equal(clonesCheaply({ a: half, b: new Uint8Array(half.length) }, 100), false);
  assert.equal(clonesCheaply([{ a: half }, { b: new Uint8Array(half.length) }], 100), false);
});

Deno.test("clonesCheaply goes by brand, not prototype: disguised buffers, maps and errors are not walked as plain objects", () => {
  const buffer = new ArrayBuffer(MAX_CLONE_BYTES + 1);
  Object.setPrototypeOf(buffer, Object.prototype);
  assert.equal(clonesCheaply({ value: buffer }, 100), false, "a buffer posing as an object");
  const map = new Map(Array.from({ length: 10 }, (_, i) => [i, i]));
  Object.setPrototypeOf(map, Object.prototype);
  assert.equal(clonesCheaply({ value: map }, 100), false, "a map posing as an object");
  assert.equal(clonesCheaply({ value: new Error("x".repeat(100)) }, 100), false);
  assert.equal(clonesCheaply({ value: new String("boxed") }, 100), false);
  assert.equal(clonesCheaply({ value: /re/ }, 100), false);
  class Point {
    x = 1;
  }
  assert.equal(clonesCheaply({ value: new Point() }, 100), false, "a class instance is serialized");
  let trapped = false;
  const proxy = new Proxy({}, {
    getPrototypeOf() {
      trapped = true;
      return Object.prototype;
    },
    ownKeys() {
      trapped = true;
      return [];
    },
  });
  assert.equal(clonesCheaply({ value: proxy }, 100), false);
  assert.equal(trapped, false, "no trap of a proxy runs during the walk");
  // What the runtime sends stays cheap.
  const plain = {
    type: "reply",
    value: { list: [1, "two", null, true], at: new Date(0), bytes: new Uint8Array(8) },
  };
  assert.equal(clonesCheaply(plain, 100), true);
  assert.equal(clonesCheaply({ value: Object.create(null) }, 100), true);
});
