/**
 * Guest-side source for tests that forge process-tier frames behind the runtime's back: a
 * `writeFrame(message)` function that writes one `node:v8` frame (magic, kind, length, payload) to
 * standard output, the engine's end of the channel. A forging bundle's module interpolates
 * {@linkcode FRAME_WRITER} after importing `v8` from `node:v8` and `fs` from `node:fs`.
 *
 * @module
 */

/** The source of `frameKind(message)` and `writeFrame(message)`, for a bundle module. */
export const FRAME_WRITER = `
const frameKind = (m) => m?.type === "log" ? 2 : ["ping", "pong", "cancel", "fatal", "init-failed"].includes(m?.type) ? 1 : 3;
function writeFrame(message) {
  const s = new v8.Serializer(); s.writeHeader(); s.writeValue(message);
  const payload = s.releaseBuffer();
  const frame = new Uint8Array(8 + payload.byteLength);
  frame.set([0xff, 0x42, 0x48, frameKind(message)]);
  new DataView(frame.buffer).setUint32(4, payload.byteLength, true);
  frame.set(payload, 8);
  fs.writeSync(1, frame);
}`;
