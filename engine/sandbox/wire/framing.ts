/**
 * Frames for the process isolation tier: protocol messages cross a byte stream (the child's
 * stdin/stdout) as `magic · kind · u32 length · payload`, the payload being `node:v8`
 * serialization. The
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
 * The kind byte says what a frame may carry, so a reader can cap it before decoding anything:
 * control frames (ping, pong, cancel, fatal, init-failed) and log frames are small, data frames
 * (calls, replies, responses) may be large. A decoded frame whose message does not belong to its
 * kind is invalid. `node:v8` deserialization costs time per object, not per byte (measured: 100k
 * empty objects, 300 KB, take 40 ms; 4M take 3.6 s), so a reader can hand data frames over a
 * threshold to `onLarge` undecoded, for a check off its thread.
 *
 * A kind byte with its high bit set ({@linkcode JSON_FORMAT}) says the payload is JSON instead
 * (`json_frame.ts`): the cheaper encoding for small plain messages, used only where the reader
 * accepts it (a reader caps JSON payloads with `jsonMaxBytes`, at most its inline decode size).
 *
 * Imports only `node:v8`, `json_frame.ts` and byte helpers, because the child loads them before
 * it has any permission.
 *
 * @module
 */
import { Deserializer, Serializer } from "node:v8";
import { readUint32, writeUint32 } from "../../base/bytes.ts";
import { decodeJsonPayload } from "./json_frame.ts";

/**
 * Start of the stderr line a child's watchdog thread writes, followed by the RSS in bytes, while
 * the child's resident set is over its cap. It goes to stderr because that is read by the engine
 * whatever the child's main thread is doing.
 */
export const RSS_ALARM = "bundlehost: resident set over cap:";

/** First bytes of every frame; the kind byte follows. */
export const FRAME_MAGIC: Uint8Array = Uint8Array.of(0xff, 0x42, 0x48);
/** Magic, kind and the u32 little-endian payload length. */
export const FRAME_HEADER_BYTES = 8;
/** Default largest payload, bytes: a 32 MiB HTTP body plus room for the message around it. */
export const MAX_FRAME_BYTES: number = 64 * 1024 * 1024;
/** Largest control frame payload, bytes: a fatal report with a 2 KiB two-byte error message. */
export const MAX_CONTROL_FRAME_BYTES = 8 * 1024;
/** Largest log frame payload, bytes: a 16 Ki-character message in two-byte form, and its fields. */
export const MAX_LOG_FRAME_BYTES = 34 * 1024;

/** What a frame carries, from its kind byte. */
export type FrameKind = "control" | "log" | "data";
const KIND_BYTE: Record<FrameKind, number> = { control: 1, log: 2, data: 3 };
const KIND_OF_BYTE: readonly (FrameKind | undefined)[] = [undefined, "control", "log", "data"];
/** Set in the kind byte of a frame whose payload is JSON (`json_frame.ts`), not `node:v8`. */
export const JSON_FORMAT = 0x80;
/** Largest JSON payload a writer sends, bytes; larger messages go through `node:v8`. */
export const MAX_JSON_PAYLOAD_BYTES = 16 * 1024;
const CONTROL_TYPES: ReadonlySet<unknown> = new Set([
  "ping",
  "pong",
  "cancel",
  "fatal",
  "init-failed",
]);

/**
 * The kind of frame a message travels in: control and log messages are small and capped tightly,
 * everything else (including values that are not protocol messages) is data.
 *
 * @param value A protocol message.
 * @returns Its frame kind.
 */
export function frameKindOf(value: unknown): FrameKind {
  const type = typeof value === "object" && value !== null
    ? (value as { type?: unknown }).type
    : undefined;
  if (type === "log") return "log";
  return CONTROL_TYPES.has(type) ? "control" : "data";
}

/**
 * The largest payload a frame of `kind` may carry.
 *
 * @param kind The frame kind.
 * @param maxBytes The cap of data frames.
 * @returns The cap, bytes.
 */
export function kindCap(kind: FrameKind, maxBytes: number): number {
  if (kind === "control") return Math.min(maxBytes, MAX_CONTROL_FRAME_BYTES);
  if (kind === "log") return Math.min(maxBytes, MAX_LOG_FRAME_BYTES);
  return maxBytes;
}

/**
 * Serializes a message into one frame.
 *
 * @param value Any structured-clone compatible value.
 * @param maxBytes Largest payload allowed (control and log frames have their own, smaller caps).
 * @returns The frame bytes.
 * @throws {DOMException} `DataCloneError` when the value cannot be cloned, like `postMessage`.
 * @throws {RangeError} When the payload exceeds the cap of its kind.
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
  const payload = serializePayload(value);
  const kind = frameKindOf(value);
  const cap = kindCap(kind, maxBytes);
  if (payload.byteLength > cap) {
    throw new RangeError(
      `Message of ${payload.byteLength} bytes exceeds the ${cap} byte cap of ${kind} frames`,
    );
  }
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  writeFrameHeader(frame, 0, kind, false, payload.byteLength);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Serializes a value with `node:v8`, as `postMessage` would.
 *
 * @param value Any structured-clone compatible value.
 * @returns The payload bytes.
 * @throws {DOMException} `DataCloneError` when the value cannot be cloned.
 */
export function serializePayload(value: unknown): Uint8Array {
  try {
    // A new serializer per message: one kept and reused would write an object it has already
    // serialized (in an earlier message) as a back-reference the reader cannot resolve.
    const serializer = new Serializer();
    serializer.writeHeader();
    serializer.writeValue(value);
    return serializer.releaseBuffer();
  } catch (error) {
    throw new DOMException((error as Error).message, "DataCloneError");
  }
}

/**
 * Writes a frame header.
 *
 * @param target Where.
 * @param offset Where the header starts.
 * @param kind The frame kind.
 * @param json Whether the payload is JSON.
 * @param length The payload length, bytes.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  kind: FrameKind,
  json: boolean,
  length: number,
): void {
  target.set(FRAME_MAGIC, offset);
  target[offset + FRAME_MAGIC.length] = KIND_BYTE[kind] | (json ? JSON_FORMAT : 0);
  writeUint32(target, offset + 4, length);
}

const INITIAL_BYTES = 64 * 1024;

/**
 * Deserializes a frame payload.
 *
 * @param payload The bytes after the header.
 * @returns The value.
 * @throws {TypeError} When the payload has no serialization header; V8's own errors otherwise.
 */
export function decodePayload(payload: Uint8Array): unknown {
  const deserializer = new Deserializer(payload);
  if (!deserializer.readHeader()) throw new TypeError("Bad serialization header");
  return deserializer.readValue();
}

/**
 * Why a decoded message may not travel in a frame of `kind`, or undefined when it may.
 *
 * @param value The decoded message.
 * @param kind The kind byte of its frame.
 * @returns A reason, for an invalid frame.
 */
export function kindMismatch(value: unknown, kind: FrameKind): string | undefined {
  const expected = frameKindOf(value);
  return expected === kind ? undefined : `a ${kind} frame carries a ${expected} message`;
}

/** Callbacks of a {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest data payload accepted, bytes (control and log frames are capped lower). @default {MAX_FRAME_BYTES} */
  maxFrameBytes?: number;
  /**
   * Data payloads larger than this go to `onLarge` undecoded, when it is set. @default {Infinity}
   */
  inlineBytes?: number;
  /** A data frame over `inlineBytes`: the payload, copied, for the caller to check and decode. */
  onLarge?(payload: Uint8Array<ArrayBuffer>): void;
  /**
   * Called with each complete frame before it is decoded, with the payload length it consumes (0
   * for a header dropped as oversize or of unknown kind); returning false drops it and everything
   * after it in the current chunk (e.g. its sender is over a budget).
   */
  onHeader?(kind: FrameKind | undefined, length: number): boolean;
  /**
   * Largest JSON payload accepted, bytes; a larger JSON frame is invalid. A reader that must not
   * decode large payloads at once sets this at most to `inlineBytes`. @default {Infinity}
   */
  jsonMaxBytes?: number;
  /** A complete, deserialized frame whose message belongs to its kind. */
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
  readonly #inline: number;
  readonly #jsonMax: number;
  #buffer = new Uint8Array(INITIAL_BYTES);
  #stopped = false;
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
    this.#inline = options.onLarge ? options.inlineBytes ?? Infinity : Infinity;
    this.#jsonMax = options.jsonMaxBytes ?? Infinity;
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
    if (this.#stopped) {
      this.#stopped = false;
      this.#start = this.#end;
    }
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
    // Kind and size are checked before anything is decoded or buffered.
    const kindByte = buf[this.#start + FRAME_MAGIC.length]!;
    const json = (kindByte & JSON_FORMAT) !== 0;
    const kind = KIND_OF_BYTE[kindByte & ~JSON_FORMAT];
    const length = readUint32(buf, this.#start + 4);
    const cap = kind === undefined ? 0 : kindCap(kind, this.#max);
    if (kind === undefined || length > cap) {
      // Drop the header only and resynchronise on the next magic: no payload was consumed.
      if (this.#options.onHeader?.(kind, 0) === false) return this.#stop();
      this.#start += FRAME_HEADER_BYTES;
      this.#options.onInvalid(
        kind === undefined
          ? `frame of unknown kind ${kindByte}`
          : `${kind} frame of ${length} bytes exceeds the ${cap} byte cap`,
      );
      return true;
    }
    if (live < FRAME_HEADER_BYTES + length) return false;
    if (this.#options.onHeader?.(kind, length) === false) return this.#stop();
    const payloadStart = this.#start + FRAME_HEADER_BYTES;
    this.#start = payloadStart + length;
    if (json && length > this.#jsonMax) {
      this.#options.onInvalid(
        `JSON frame of ${length} bytes exceeds the ${this.#jsonMax} byte cap`,
      );
      return true;
    }
    if (!json && kind === "data" && length > this.#inline) {
      this.#options.onLarge!(buf.slice(payloadStart, payloadStart + length));
      return true;
    }
    // Decoded at once, before the buffer is reused: a view is enough (both decoders copy what
    // they keep).
    const payload = buf.subarray(payloadStart, payloadStart + length);
    let value: unknown;
    try {
      value = json ? decodeJsonPayload(payload) : decodePayload(payload);
    } catch (error) {
      this.#options.onInvalid(`frame does not deserialize: ${(error as Error).message}`);
      return true;
    }
    const mismatch = kindMismatch(value, kind);
    if (mismatch) this.#options.onInvalid(mismatch);
    else this.#options.onFrame(value);
    return true;
  }

  #stop(): false {
    this.#stopped = true;
    return false;
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
