import assert from "node:assert/strict";
import {
  decodePayload,
  encodeFrame,
  FRAME_MAGIC,
  FrameDecoder,
  frameKindOf,
  MAX_CONTROL_FRAME_BYTES,
  MAX_LOG_FRAME_BYTES,
} from "./framing.ts";

function collect(maxFrameBytes?: number) {
  const frames: unknown[] = [];
  const invalid: string[] = [];
  let stray = "";
  const decoder = new FrameDecoder({
    ...(maxFrameBytes === undefined ? {} : { maxFrameBytes }),
    onFrame: (v) => frames.push(v),
    onInvalid: (why) => invalid.push(why),
    onStray: (b) => (stray += new TextDecoder().decode(b)),
  });
  return { decoder, frames, invalid, stray: () => stray };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("encodeFrame and FrameDecoder carry values like structured clone", () => {
  const { decoder, frames } = collect();
  const backing = new Uint8Array(16);
  backing[5] = 9;
  const value = {
    view: backing.subarray(4, 8),
    map: new Map([["k", new Set([1n])]]),
    date: new Date(1),
    error: new RangeError("r"),
    nested: [undefined, null, { deep: "x" }],
  };
  decoder.push(encodeFrame(value));
  const [got] = frames as [typeof value];
  assert.deepEqual(got, value);
  // As with postMessage, a view keeps its whole backing buffer and its offset.
  assert.equal(got.view.byteOffset, 4);
  assert.equal(got.view.buffer.byteLength, 16);
  assert.ok(got.error instanceof RangeError);
});

Deno.test("FrameDecoder reassembles frames delivered one byte at a time", () => {
  const { decoder, frames } = collect();
  const bytes = concat(encodeFrame({ a: 1 }), encodeFrame("two"), encodeFrame([3]));
  for (const byte of bytes) decoder.push(Uint8Array.of(byte));
  assert.deepEqual(frames, [{ a: 1 }, "two", [3]]);
  assert.equal(decoder.buffered, 0);
});

Deno.test("FrameDecoder reports stray text between frames and stays in sync", () => {
  const { decoder, frames, invalid, stray } = collect();
  decoder.push(concat(text("hello\n"), encodeFrame(1), text("between\n"), encodeFrame(2)));
  assert.deepEqual(frames, [1, 2]);
  assert.deepEqual(invalid, []);
  assert.equal(stray(), "hello\nbetween\n");
});

Deno.test("FrameDecoder skips an oversize frame header and resynchronises", () => {
  const { decoder, frames, invalid } = collect(1024);
  const header = concat(FRAME_MAGIC, Uint8Array.of(3, 0xff, 0xff, 0xff, 0x7f));
  decoder.push(concat(header, encodeFrame("after")));
  assert.deepEqual(frames, ["after"]);
  assert.equal(invalid.length, 1);
  assert.match(invalid[0]!, /data frame of 2147483647 bytes exceeds the 1024 byte cap/);
});

Deno.test("FrameDecoder reports a payload that does not deserialize and keeps going", () => {
  const { decoder, frames, invalid } = collect();
  const garbage = concat(
    FRAME_MAGIC,
    Uint8Array.of(3, 3, 0, 0, 0),
    Uint8Array.of(0xff, 0x0f, 0x99),
  );
  decoder.push(concat(garbage, encodeFrame("ok")));
  assert.deepEqual(frames, ["ok"]);
  assert.equal(invalid.length, 1);
  assert.match(invalid[0]!, /does not deserialize/);
});

Deno.test("FrameDecoder waits for a frame split right after a partial magic", () => {
  const { decoder, frames, stray } = collect();
  const frame = encodeFrame({ split: true });
  decoder.push(concat(text("x"), frame.subarray(0, 2)));
  assert.deepEqual(frames, []);
  decoder.push(frame.subarray(2));
  assert.deepEqual(frames, [{ split: true }]);
  assert.equal(stray(), "x");
});

Deno.test("encodeFrame refuses what postMessage refuses, and payloads over the cap", () => {
  assert.throws(
    () => encodeFrame({ f() {} }),
    (e: unknown) => e instanceof DOMException && e.name === "DataCloneError",
  );
  assert.throws(() => encodeFrame("x".repeat(100), 50), RangeError);
});

Deno.test("FrameDecoder caps control and log frames by kind before decoding anything", () => {
  const { decoder, frames, invalid } = collect();
  // A log header announcing 1 MiB: refused from the header alone, no payload is awaited.
  const header = concat(FRAME_MAGIC, Uint8Array.of(2, 0, 0, 0x10, 0));
  decoder.push(concat(header, encodeFrame({ type: "pong", id: 1 })));
  assert.deepEqual(frames, [{ type: "pong", id: 1 }]);
  assert.deepEqual(invalid, [
    `log frame of 1048576 bytes exceeds the ${MAX_LOG_FRAME_BYTES} byte cap`,
  ]);
  assert.throws(
    () => encodeFrame({ type: "pong", id: 1, pad: "x".repeat(MAX_CONTROL_FRAME_BYTES) }),
    /exceeds the 8192 byte cap of control frames/,
  );
});

Deno.test("FrameDecoder refuses an unknown kind and a message in the wrong kind of frame", () => {
  const { decoder, frames, invalid } = collect();
  const log = encodeFrame({ type: "log", level: "info", message: "hi" });
  const relabelled = log.slice();
  relabelled[FRAME_MAGIC.length] = 3; // the log message claims to be data
  const unknown = log.slice();
  unknown[FRAME_MAGIC.length] = 9;
  decoder.push(concat(relabelled, unknown, encodeFrame("ok")));
  assert.deepEqual(frames, ["ok"]);
  assert.equal(invalid[0], "a data frame carries a log message");
  assert.equal(invalid[1], "frame of unknown kind 9");
  assert.equal(frameKindOf({ type: "reply" }), "data");
  assert.equal(frameKindOf({ type: "fatal" }), "control");
});

Deno.test("FrameDecoder hands data frames over the inline size to onLarge undecoded", () => {
  const large: Uint8Array[] = [];
  const frames: unknown[] = [];
  const decoder = new FrameDecoder({
    inlineBytes: 64,
    onLarge: (payload) => large.push(payload),
    onFrame: (v) => frames.push(v),
    onInvalid: (why) => assert.fail(why),
    onStray: () => assert.fail("stray"),
  });
  const big = { type: "reply", id: 1, ok: true, value: "y".repeat(100) };
  decoder.push(concat(encodeFrame("small"), encodeFrame(big)));
  assert.deepEqual(frames, ["small"]);
  assert.equal(large.length, 1);
  assert.deepEqual(decodePayload(large[0]!), big);
});

Deno.test("encodeFrame carries an object sent in an earlier message whole", () => {
  const { decoder, frames, invalid } = collect();
  // A bundle returns the same object from two calls: each frame must stand alone.
  const shared = { seen: [1, 2] };
  decoder.push(concat(encodeFrame({ first: shared }), encodeFrame({ second: shared })));
  assert.deepEqual(invalid, []);
  assert.deepEqual(frames, [{ first: { seen: [1, 2] } }, { second: { seen: [1, 2] } }]);
});

Deno.test("FrameDecoder values do not share memory with its buffer", () => {
  const { decoder, frames } = collect();
  decoder.push(encodeFrame({ bytes: Uint8Array.of(1, 2, 3) }));
  // The next frame lands where the first one was buffered.
  decoder.push(encodeFrame({ bytes: Uint8Array.of(9, 9, 9) }));
  const [first, second] = frames as { bytes: Uint8Array }[];
  assert.deepEqual([...first!.bytes], [1, 2, 3]);
  assert.deepEqual([...second!.bytes], [9, 9, 9]);
});
