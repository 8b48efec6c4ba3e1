/**
 * Process-tier frame micro-benchmarks (`deno task bench`): what the engine and the child pay per
 * message to cross the stdio channel (`engine/sandbox/wire/framing.ts`), for the messages of a
 * hello call. The baseline of the encode group builds a `node:v8` `Serializer` per message, as
 * `encodeFrame` did before it kept one.
 *
 * @module
 */
import { Serializer } from "node:v8";
import { encodeFrame, FrameDecoder } from "../engine/sandbox/wire/framing.ts";

const CALL = {
  type: "call",
  id: 12_345,
  service: "HelloBench",
  method: "hello",
  input: {},
  deadline: 1_800_000_000_000,
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
};
const REPLY = { type: "reply", id: 12_345, ok: true, value: "hello" };

Deno.bench("call frame, a new Serializer per message", { group: "encode", baseline: true }, () => {
  const serializer = new Serializer();
  serializer.writeHeader();
  serializer.writeValue(CALL);
  serializer.releaseBuffer();
});

Deno.bench("call frame, encodeFrame", { group: "encode" }, () => {
  encodeFrame(CALL);
});

let decoded = 0;
const decoder = new FrameDecoder({
  onFrame: () => decoded++,
  onInvalid: (reason) => {
    throw new Error(reason);
  },
  onStray: () => {
    throw new Error("stray bytes");
  },
});
const replyFrame = encodeFrame(REPLY);

Deno.bench("reply frame, decoded by FrameDecoder", { group: "decode" }, () => {
  decoder.push(replyFrame);
});
