/**
 * Process-tier frame micro-benchmarks (`deno task bench`): what the engine and the child pay per
 * message to cross the stdio channel (`engine/sandbox/wire/framing.ts`), for the messages of a
 * hello call, in both payload formats: `node:v8` and JSON (`frame_writer.ts`, `json_frame.ts`).
 *
 * @module
 */
import {
  encodeFrame,
  FrameDecoder,
  MAX_JSON_PAYLOAD_BYTES,
} from "../engine/sandbox/wire/framing.ts";
import { FrameWriter } from "../engine/sandbox/wire/frame_writer.ts";

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

Deno.bench("call frame, encodeFrame (node:v8)", { group: "encode call", baseline: true }, () => {
  encodeFrame(CALL);
});

const writer = new FrameWriter({ jsonMaxBytes: MAX_JSON_PAYLOAD_BYTES });
Deno.bench("call frame, FrameWriter (JSON)", { group: "encode call" }, () => {
  writer.add(CALL);
  writer.take();
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
writer.add(REPLY);
const replyJsonFrame = writer.take().slice();

Deno.bench("reply frame (node:v8), decoded by FrameDecoder", {
  group: "decode reply",
  baseline: true,
}, () => {
  decoder.push(replyFrame);
});

Deno.bench("reply frame (JSON), decoded by FrameDecoder", { group: "decode reply" }, () => {
  decoder.push(replyJsonFrame);
});
