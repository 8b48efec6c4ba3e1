/**
 * Frames for the process isolation tier: protocol messages cross a byte stream (the child's
 * stdin/stdout) as `magic · u32 length · payload`, the payload being `node:v8` serialization. The
 * plain `Serializer`/`Deserializer` pair is V8's structured-clone algorithm, the one `postMessage`
 * uses, so values cross identically in both tiers (typed arrays keep their whole buffer and offset,
 * `Map`, `Date`, `Error`, `BigInt` survive, functions throw `DataCloneError`).
 *
 * The magic starts with `0xFF`, a byte that never occurs in UTF-8 text, so output that a bundle
 * writes to stdout behind the runtime's back (e.g. `node:fs` `writeSync(1, …)`) is recognised as
 * stray bytes between frames instead of desynchronising the stream. A frame whose length exceeds
 * the cap, or whose payload does not deserialize, is reported as invalid and skipped: a reader
 * never buffers more than one capped frame.
 *
 * Imports only `node:v8`, because the child loads it before it has any permission.
 *
 * @module
 */
import { Deserializer, Serializer } from "node:v8";

/**
 * Start of the stderr line a child's watchdog thread writes, followed by the RSS in bytes, while
 * the child's resident set is over its cap. It goes to stderr because that is read by the engine
 * whatever the child's main thread is doing.
 */
export const RSS_ALARM = "bundlehost: resident set over cap:";

/** First bytes of every frame. */
export const FRAME_MAGIC: Uint8Array = Uint8Array.of(0xff, 0x42, 0x48, 0x01);
/** Magic plus the u32 little-endian payload length. */
export const FRAME_HEADER_BYTES = 8;
/** Default largest payload, bytes: a 32 MiB HTTP body plus room for the message around it. */
export const MAX_FRAME_BYTES: number = 64 * 1024 * 1024;

/**
 * Serializes a message into one frame.
 *
 * @param value Any structured-clone compatible value.
 * @param maxBytes Largest payload allowed.
 * @returns The frame bytes.
 * @throws {DOMException} `DataCloneError` when the value cannot be cloned, like `postMessage`.
 * @throws {RangeError} When the payload exceeds `maxBytes`.
 *
 * @example Round-trip a message
 * ```ts
 * import { encodeFrame, FrameDecoder } from "./framing.ts";
 * const seen: unknown[] = [];
 * const decoder = new FrameDecoder({ onFrame: (v) => seen.push(v), onInvalid() {}, onStray() {} });
 * decoder.push(encodeFrame({ type: "ping", id: 1 }));
 * console.log(seen); // [{ type: "ping", id: 1 }]
 * ```
 */
export function encodeFrame(value: unknown, maxBytes: number = MAX_FRAME_BYTES): Uint8Array {
  let payload: Uint8Array;
  try {
    const serializer = new Serializer();
    serializer.writeHeader();
    serializer.writeValue(value);
    payload = serializer.releaseBuffer();
  } catch (error) {
    throw new DOMException((error as Error).message, "DataCloneError");
  }
  if (payload.byteLength > maxBytes) {
    throw new RangeError(`Message of ${payload.byteLength} bytes exceeds the ${maxBytes} byte cap`);
  }
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  frame.set(FRAME_MAGIC);
  new DataView(frame.buffer).setUint32(4, payload.byteLength, true);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

const INITIAL_BYTES = 64 * 1024;

function decodePayload(payload: Uint8Array): unknown {
  const deserializer = new Deserializer(payload);
  if (!deserializer.readHeader()) throw new TypeError("Bad serialization header");
  return deserializer.readValue();
}

/** Callbacks of a {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest payload accepted, bytes. @default {MAX_FRAME_BYTES} */
  maxFrameBytes?: number;
  /** A complete, deserialized frame. */
  onFrame(value: unknown): void;
  /** A frame that is too large or does not deserialize; it has been skipped. */
  onInvalid(reason: string): void;
  /** Bytes found outside any frame (stray output). */
  onStray(bytes: Uint8Array): void;
}

/**
 * Incremental frame reader: feed it chunks in arrival order, it calls back per frame.
 *
 * @example Skip stray text before a frame
 * ```ts
 * import { encodeFrame, FrameDecoder } from "./framing.ts";
 * const decoder = new FrameDecoder({
 *   onFrame: (v) => console.log("frame", v),
 *   onInvalid: (why) => console.log("invalid", why),
 *   onStray: (b) => console.log("stray", new TextDecoder().decode(b)),
 * });
 * decoder.push(new TextEncoder().encode("hello\n"));
 * decoder.push(encodeFrame(42));
 * ```
 */
export class FrameDecoder {
  readonly #options: FrameDecoderOptions;
  readonly #max: number;
  #buffer = new Uint8Array(INITIAL_BYTES);
  #start = 0;
  #end = 0;

  /**
   * Creates a decoder.
   *
   * @param options Callbacks and the frame cap.
   */
  constructor(options: FrameDecoderOptions) {
    this.#options = options;
    this.#max = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  }

  /** Bytes received but not yet consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Consumes a chunk; calls back for every frame and stray run it completes.
   *
   * @param chunk Bytes in arrival order.
   */
  push(chunk: Uint8Array): void {
    this.#append(chunk);
    while (this.#step());
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      // Give back the room a large frame needed.
      if (this.#buffer.byteLength > INITIAL_BYTES * 16) {
        this.#buffer = new Uint8Array(INITIAL_BYTES);
      }
    }
  }

  #append(chunk: Uint8Array): void {
    const live = this.#end - this.#start;
    if (this.#end + chunk.byteLength > this.#buffer.byteLength) {
      const needed = live + chunk.byteLength;
      if (needed > this.#buffer.byteLength) {
        const next = new Uint8Array(Math.max(needed, this.#buffer.byteLength * 2));
        next.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = next;
      } else {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = live;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.byteLength;
  }

  /** Handles what is at the read position; returns whether it made progress. */
  #step(): boolean {
    const buf = this.#buffer;
    const live = this.#end - this.#start;
    if (live === 0) return false;
    const magicAt = this.#findMagic();
    if (magicAt !== this.#start) {
      // Emit everything before a possible frame start as stray output.
      const strayEnd = magicAt === -1 ? this.#end : magicAt;
      if (strayEnd === this.#start) return false;
      this.#options.onStray(buf.slice(this.#start, strayEnd));
      this.#start = strayEnd;
      return true;
    }
    if (live < FRAME_HEADER_BYTES) return false;
    const length = new DataView(buf.buffer, buf.byteOffset + this.#start + 4, 4).getUint32(0, true);
    if (length > this.#max) {
      // Drop the header only and resynchronise on the next magic.
      this.#start += FRAME_HEADER_BYTES;
      this.#options.onInvalid(`frame of ${length} bytes exceeds the ${this.#max} byte cap`);
      return true;
    }
    if (live < FRAME_HEADER_BYTES + length) return false;
    const payloadStart = this.#start + FRAME_HEADER_BYTES;
    const payload = buf.slice(payloadStart, payloadStart + length);
    this.#start = payloadStart + length;
    let value: unknown;
    try {
      value = decodePayload(payload);
    } catch (error) {
      this.#options.onInvalid(`frame does not deserialize: ${(error as Error).message}`);
      return true;
    }
    this.#options.onFrame(value);
    return true;
  }

  /**
   * Index of the first position that starts the magic, or where a partial magic at the very end
   * could still complete; -1 when neither.
   */
  #findMagic(): number {
    const buf = this.#buffer;
    for (let i = buf.indexOf(FRAME_MAGIC[0]!, this.#start); i !== -1 && i < this.#end;) {
      let match = true;
      for (let k = 1; k < FRAME_MAGIC.length && i + k < this.#end; k++) {
        if (buf[i + k] !== FRAME_MAGIC[k]) {
          match = false;
          break;
        }
      }
      if (match) return i;
      i = buf.indexOf(FRAME_MAGIC[0]!, i + 1);
    }
    return -1;
  }
}
