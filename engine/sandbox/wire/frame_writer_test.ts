import assert from "node:assert/strict";
import { FRAME_HEADER_BYTES, FRAME_MAGIC, FrameDecoder, JSON_FORMAT } from "./framing.ts";
import { FrameWriter } from "./frame_writer.ts";
import { decodeJsonPayload, encodeJsonPayload, JSON_MAX_VALUES } from "./json_frame.ts";

const JSON_MAX = 16 * 1024;

/** Frames the writer produced: each one's JSON flag and decoded value. */
function roundTrip(values: unknown[], jsonMaxBytes = JSON_MAX) {
  const writer = new FrameWriter({ jsonMaxBytes });
  for (const value of values) writer.add(value);
  const bytes = writer.take().slice();
  const json: boolean[] = [];
  for (let at = 0; at < bytes.byteLength;) {
    assert.deepEqual(bytes.subarray(at, at + FRAME_MAGIC.length), FRAME_MAGIC);
    json.push((bytes[at + FRAME_MAGIC.length]! & JSON_FORMAT) !== 0);
    at += FRAME_HEADER_BYTES + new DataView(bytes.buffer, at + 4, 4).getUint32(0, true);
  }
  const decoded: unknown[] = [];
  const invalid: string[] = [];
  new FrameDecoder({
    onFrame: (v) => decoded.push(v),
    onInvalid: (why) => invalid.push(why),
    onStray: () => invalid.push("stray"),
  }).push(bytes);
  assert.deepEqual(invalid, []);
  return { json, decoded, bytes };
}

Deno.test("FrameWriter sends the plain messages of a call as JSON, identical on arrival", () => {
  const messages = [
    {
      type: "call",
      id: 7,
      service: "S",
      method: "m",
      input: { a: [1, "x", null, true] },
      deadline: 1,
    },
    { type: "reply", id: 7, ok: true, value: "hello" },
    { type: "ping", id: 1 },
    { type: "log", level: "info", message: "caf\u00e9 \ud83d\ude00 \ud800" },
    {
      type: "response",
      id: 2,
      response: { status: 200, headers: [["a", "b"]], body: Uint8Array.of(104, 105) },
    },
  ];
  const { json, decoded } = roundTrip(messages);
  assert.deepEqual(json, [true, true, true, true, true]);
  assert.deepEqual(decoded, messages);
  const body = (decoded[4] as { response: { body: Uint8Array } }).response.body;
  assert.ok(body instanceof Uint8Array);
  assert.equal(body.buffer.byteLength, 2, "a Uint8Array arrives with its own buffer, as a clone");
});

Deno.test("FrameWriter sends nested Uint8Arrays raw and leaves the message untouched", () => {
  const odd: Record<string, unknown> = {};
  Object.defineProperty(odd, "__proto__", {
    value: Uint8Array.of(2),
    enumerable: true,
    writable: true,
    configurable: true,
  });
  const message = {
    type: "reply",
    id: 3,
    ok: true,
    value: ["a", Uint8Array.of(1), odd, [new Uint8Array(0)]],
  };
  const { json, decoded } = roundTrip([message]);
  assert.deepEqual(json, [true]);
  assert.deepEqual(decoded, [message]);
  const value = (decoded[0] as typeof message).value;
  assert.equal(Object.getPrototypeOf(value[2]), Object.prototype);
  assert.ok(message.value[1] instanceof Uint8Array, "the sender's message is not rewritten");
});

Deno.test("FrameWriter restores an empty Uint8Array, which adds no bytes after the text", () => {
  const message = {
    type: "response",
    id: 4,
    response: { status: 200, headers: [], body: new Uint8Array(0) },
  };
  const { json, decoded } = roundTrip([message]);
  assert.deepEqual(json, [true]);
  assert.deepEqual(decoded, [message]);
  assert.ok((decoded[0] as typeof message).response.body instanceof Uint8Array);
});

Deno.test("FrameWriter falls back to node:v8 for what JSON would change", () => {
  const shared = { s: 1 };
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const holes = [1, , 3];
  const extra = Object.assign([1, 2], { label: "x" });
  const view = new Uint8Array(new ArrayBuffer(8), 2, 3);
  class Point {
    x = 1;
  }
  const values: unknown[] = [
    { v: new Map([[1, 2]]) },
    { v: new Date(0) },
    { v: undefined },
    { v: -0 },
    { v: NaN },
    { v: 10n },
    { holes },
    { extra },
    { a: shared, b: shared },
    cyclic,
    { view },
    { point: new Point() },
    { "\u0000bytes": [0, 1] },
    { many: Array.from({ length: JSON_MAX_VALUES + 1 }, (_, i) => i) },
  ];
  const { json, decoded } = roundTrip(values);
  assert.deepEqual(json, values.map(() => false));
  assert.deepEqual(decoded[0], values[0]);
  assert.ok(Object.is((decoded[3] as { v: number }).v, -0));
  assert.ok(1 in ((decoded[6] as { holes: unknown[] }).holes) === false);
  assert.equal((decoded[7] as { extra: { label: string } }).extra.label, "x");
  const pair = decoded[8] as { a: object; b: object };
  assert.equal(pair.a, pair.b, "a shared reference stays shared");
  assert.equal((decoded[9] as { self: unknown }).self, decoded[9]);
  assert.equal((decoded[10] as { view: Uint8Array }).view.byteOffset, 2);
});

Deno.test("FrameWriter runs a getter once and refuses a proxy like postMessage", () => {
  let runs = 0;
  const withGetter = {
    get value() {
      runs++;
      return runs === 1 ? "first" : new Map();
    },
  };
  const { json, decoded } = roundTrip([withGetter]);
  assert.deepEqual(json, [false]);
  assert.equal(runs, 1);
  assert.deepEqual(decoded, [{ value: "first" }]);
  const writer = new FrameWriter({ jsonMaxBytes: JSON_MAX });
  assert.throws(() => writer.add({ v: new Proxy({}, {}) }), { name: "DataCloneError" });
  assert.throws(() => writer.add({ f() {} }), { name: "DataCloneError" });
  assert.equal(writer.size, 0, "a message that fails adds nothing");
});

Deno.test("FrameWriter sends JSON only up to the reader's cap, and none when it has none", () => {
  const message = { type: "reply", id: 1, ok: true, value: "y".repeat(200) };
  assert.deepEqual(roundTrip([message], 0).json, [false]);
  assert.deepEqual(roundTrip([message], 100).json, [false]);
  const { json, decoded } = roundTrip([message, { type: "pong", id: 2 }], 300);
  assert.deepEqual(json, [true, true]);
  assert.deepEqual(decoded[0], message);
});

Deno.test("FrameWriter takes a refused frame back", () => {
  const writer = new FrameWriter({ jsonMaxBytes: JSON_MAX });
  const first = writer.add({ type: "ping", id: 1 });
  assert.throws(() => writer.add({ type: "ping", id: 2 }, () => new RangeError("full")), {
    message: "full",
  });
  assert.equal(writer.size, first);
  assert.equal(writer.take().byteLength, first);
  assert.equal(writer.size, 0);
});

Deno.test("FrameDecoder refuses a JSON frame over its JSON cap and stays in sync", () => {
  const writer = new FrameWriter({ jsonMaxBytes: JSON_MAX });
  writer.add({ type: "reply", id: 1, ok: true, value: "z".repeat(500) });
  writer.add({ type: "pong", id: 2 });
  const decoded: unknown[] = [];
  const invalid: string[] = [];
  new FrameDecoder({
    jsonMaxBytes: 100,
    onFrame: (v) => decoded.push(v),
    onInvalid: (why) => invalid.push(why),
    onStray: () => invalid.push("stray"),
  }).push(writer.take());
  assert.equal(invalid.length, 1);
  assert.match(invalid[0]!, /JSON frame of \d+ bytes exceeds the 100 byte cap/);
  assert.deepEqual(decoded, [{ type: "pong", id: 2 }]);
});

Deno.test("decodeJsonPayload checks a hostile payload's placeholders and keeps __proto__ a key", () => {
  const payload = (text: string, extra?: Uint8Array) => {
    const body = new TextEncoder().encode(text);
    const out = new Uint8Array(4 + body.byteLength + (extra?.byteLength ?? 0));
    // The top bit of the length says the text has placeholders.
    new DataView(out.buffer).setUint32(0, body.byteLength + (extra ? 0x80000000 : 0), true);
    out.set(body, 4);
    if (extra) out.set(extra, 4 + body.byteLength);
    return out;
  };
  const bytes = Uint8Array.of(1, 2, 3);
  assert.throws(() => decodeJsonPayload(payload('{"b":{"\\u0000bytes":[2,5]}}', bytes)), TypeError);
  assert.throws(() => decodeJsonPayload(payload('{"b":{"\\u0000bytes":"x"}}', bytes)), TypeError);
  assert.throws(() => decodeJsonPayload(Uint8Array.of(200, 0, 0, 0, 1)), TypeError);
  assert.throws(() => decodeJsonPayload(payload("{")), SyntaxError);
  const trailing = payload("{}", bytes);
  trailing[3] = 0; // placeholders flag cleared, bytes left after the text
  assert.throws(() => decodeJsonPayload(trailing), TypeError);
  const value = decodeJsonPayload(
    payload('{"__proto__":{"b":{"\\u0000bytes":[1,2]}}}', bytes),
  ) as Record<string, { b: Uint8Array }>;
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.ok(Object.hasOwn(value, "__proto__"));
  assert.deepEqual(value["__proto__"]!.b, Uint8Array.of(2, 3));
  assert.ok(encodeJsonPayload(value)?.text.includes('"__proto__"'));
});
