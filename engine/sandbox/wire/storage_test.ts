import assert from "node:assert/strict";
import { parseGuestMessage } from "./guest_message.ts";
import { MAX_CACHE_VALUE_BYTES, MAX_KV_KEY_PARTS, MAX_KV_VALUE_BYTES } from "./storage.ts";

const value = (n: number) => new Uint8Array(n);

Deno.test("parseGuestMessage accepts well-formed kv and cache requests, and only their fields", () => {
  const set = parseGuestMessage({
    type: "kv",
    id: 1,
    op: "set",
    key: ["a", 1, 2n, true, new Uint8Array([1])],
    value: value(10),
    expireIn: 1_000,
    check: null,
    namespace: "someone-else",
    bundle: "other",
  });
  assert.deepEqual(Object.keys(set!).sort(), [
    "check",
    "expireIn",
    "id",
    "key",
    "op",
    "type",
    "value",
  ]);
  assert.deepEqual(
    parseGuestMessage({ type: "kv", id: 2, op: "list", prefix: [], limit: 10, cursor: "abc" }),
    { type: "kv", id: 2, op: "list", prefix: [], limit: 10, cursor: "abc" },
  );
  assert.deepEqual(
    parseGuestMessage({ type: "cache", id: 3, op: "set", key: "k", value: value(1), ttlMs: 5 }),
    { type: "cache", id: 3, op: "set", key: "k", value: value(1), ttlMs: 5 },
  );
  assert.deepEqual(
    parseGuestMessage({ type: "outbound", host: "api.example.com", status: 200, durationMs: 3 }),
    { type: "outbound", host: "api.example.com", status: 200, durationMs: 3 },
  );
});

Deno.test("parseGuestMessage keeps only a value's own bytes, not the buffer it was a view of", () => {
  const big = new ArrayBuffer(4 * 1024 * 1024);
  const view = new Uint8Array(big, 1024, 16);
  view.fill(7);
  const parsed = parseGuestMessage({ type: "cache", id: 1, op: "set", key: "k", value: view });
  const value = (parsed as { value: Uint8Array }).value;
  assert.equal(value.byteLength, 16);
  assert.equal(value.buffer.byteLength, 16);
  assert.deepEqual([...value], Array(16).fill(7));
  // A value that owns its buffer is kept as it is.
  const exact = new Uint8Array(8);
  const kept = parseGuestMessage({ type: "kv", id: 2, op: "set", key: ["k"], value: exact });
  assert.equal((kept as { value: Uint8Array }).value, exact);
});

Deno.test("parseGuestMessage refuses kv and cache requests with any field out of bounds", () => {
  const bad: Record<string, unknown>[] = [
    { type: "kv", id: -1, op: "get", key: ["a"] },
    { type: "kv", id: 1, op: "drop", key: ["a"] },
    { type: "kv", id: 1, op: "get", key: [] },
    { type: "kv", id: 1, op: "get", key: "a" },
    { type: "kv", id: 1, op: "get", key: [{}] },
    { type: "kv", id: 1, op: "get", key: [null] },
    { type: "kv", id: 1, op: "get", key: [NaN] },
    { type: "kv", id: 1, op: "get", key: Array(MAX_KV_KEY_PARTS + 1).fill("a") },
    { type: "kv", id: 1, op: "get", key: ["x".repeat(2_100)] },
    { type: "kv", id: 1, op: "get", key: ["é".repeat(1_100)] },
    { type: "kv", id: 1, op: "set", key: ["a"], value: "not bytes" },
    { type: "kv", id: 1, op: "set", key: ["a"], value: value(MAX_KV_VALUE_BYTES + 1) },
    { type: "kv", id: 1, op: "set", key: ["a"], value: value(1), expireIn: 0 },
    { type: "kv", id: 1, op: "set", key: ["a"], value: value(1), expireIn: 1.5 },
    { type: "kv", id: 1, op: "set", key: ["a"], value: value(1), check: "nope" },
    { type: "kv", id: 1, op: "list", prefix: [], limit: 0 },
    { type: "kv", id: 1, op: "list", prefix: [], limit: 1_001 },
    { type: "kv", id: 1, op: "list", prefix: [], limit: 10, cursor: "c".repeat(5_000) },
    { type: "cache", id: 1, op: "get", key: "" },
    { type: "cache", id: 1, op: "get", key: "k".repeat(513) },
    { type: "cache", id: 1, op: "set", key: "k", value: value(MAX_CACHE_VALUE_BYTES + 1) },
    { type: "cache", id: 1, op: "set", key: "k", value: value(1), ttlMs: -1 },
    { type: "outbound", host: "h".repeat(300), status: 200, durationMs: 1 },
    { type: "outbound", host: "h", status: 1_000, durationMs: 1 },
    { type: "outbound", host: "h", status: 200, durationMs: -1 },
    { type: "outbound", host: "h", status: 0, durationMs: 1, failure: "other" },
  ];
  for (const message of bad) {
    assert.equal(
      parseGuestMessage(message),
      undefined,
      JSON.stringify(
        message,
        (_k, v) =>
          typeof v === "bigint"
            ? String(v)
            : v instanceof Uint8Array
            ? `bytes(${v.byteLength})`
            : v,
      ),
    );
  }
});
