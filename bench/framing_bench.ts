/**
 * Process-tier frame micro-benchmarks (`deno task bench`): what the engine and the child pay per
 * message to cross the stdio channel (`engine/sandbox/wire/framing.ts`), for the messages of a
 * hello call.
 *
 * @module
 */
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

Deno.bench("call frame, encodeFrame", () => {
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

Deno.bench("reply frame, decoded by FrameDecoder", () => {
  decoder.push(replyFrame);
});
