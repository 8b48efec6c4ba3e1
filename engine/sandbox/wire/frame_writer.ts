/**
 * Batches outgoing process-tier frames into one reused buffer, so that the frames one side sends
 * in a tick leave in one write without a copy per frame: each message is encoded straight into the
 * buffer (JSON text with `TextEncoder.encodeInto`, or a `node:v8` payload copied once), instead of
 * a payload, a frame around it and a concatenation of the frames.
 *
 * A message goes as JSON (`json_frame.ts`) when the reader accepts JSON frames (`jsonMaxBytes`
 * above 0), JSON carries it exactly, and its payload stays within `jsonMaxBytes`; otherwise as
 * `node:v8`.
 *
 * @module
 */
import { encodeJsonPayload, jsonPayloadBounds, writeJsonPayload } from "./json_frame.ts";
import {
  FRAME_HEADER_BYTES,
  frameKindOf,
  kindCap,
  MAX_FRAME_BYTES,
  serializePayload,
  writeFrameHeader,
} from "./framing.ts";

const INITIAL_BYTES = 64 * 1024;
/** A buffer grown past this for a large frame is given back once it has been taken. */
const KEEP_BYTES = 1024 * 1024;

/** Options of a {@linkcode FrameWriter}. */
export interface FrameWriterOptions {
  /** Largest data payload, bytes (control and log frames are capped lower). @default {MAX_FRAME_BYTES} */
  maxFrameBytes?: number;
  /** Largest JSON payload the reader accepts, bytes; 0 sends every frame as `node:v8`. @default {0} */
  jsonMaxBytes?: number;
}

/**
 * Outgoing frames, encoded into one buffer until taken.
 *
 * @example Two messages, one write
 * ```ts
 * import { FrameWriter } from "./frame_writer.ts";
 * import { FrameDecoder } from "./framing.ts";
 * const writer = new FrameWriter({ jsonMaxBytes: 16 * 1024 });
 * writer.add({ type: "ping", id: 1 });
 * writer.add({ type: "reply", id: 2, ok: true, value: new Map([[1, 2]]) }); // node:v8
 * const seen: unknown[] = [];
 * new FrameDecoder({ onFrame: (v) => seen.push(v), onInvalid() {}, onStray() {} })
 *   .push(writer.take());
 * console.log(seen.length); // 2
 * ```
 */
export class FrameWriter {
  readonly #max: number;
  /** Largest JSON payload the reader accepts; 0 while it accepts none. */
  jsonMaxBytes: number;
  #buffer = new Uint8Array(INITIAL_BYTES);
  #end = 0;

  /**
   * Creates a writer.
   *
   * @param options Caps.
   */
  constructor(options: FrameWriterOptions = {}) {
    this.#max = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    this.jsonMaxBytes = options.jsonMaxBytes ?? 0;
  }

  /** Bytes encoded and not yet taken. */
  get size(): number {
    return this.#end;
  }

  /**
   * Encodes a message as the next frame. When it throws, nothing was added.
   *
   * @param value Any structured-clone compatible value.
   * @param refuse Called with the frame's size once encoded; an error it returns is thrown and
   * the frame taken back (e.g. the reader's queue is full).
   * @returns The frame's size, bytes.
   * @throws {DOMException} `DataCloneError` when the value cannot be cloned, like `postMessage`.
   * @throws {RangeError} When the payload exceeds the cap of its kind.
   */
  add(value: unknown, refuse?: (size: number) => Error | undefined): number {
    const start = this.#end;
    const size = this.#encode(value);
    const refused = refuse?.(size);
    if (refused) {
      this.#end = start;
      throw refused;
    }
    return size;
  }

  #encode(value: unknown): number {
    const kind = frameKindOf(value);
    const cap = kindCap(kind, this.#max);
    const jsonMax = Math.min(this.jsonMaxBytes, cap);
    const json = jsonMax > 0 ? encodeJsonPayload(value) : undefined;
    const bounds = json && jsonPayloadBounds(json);
    if (json && bounds && bounds.min <= jsonMax) {
      this.#reserve(FRAME_HEADER_BYTES + bounds.max);
      const start = this.#end;
      const length = writeJsonPayload(json, this.#buffer, start + FRAME_HEADER_BYTES);
      if (length <= jsonMax) {
        writeFrameHeader(this.#buffer, start, kind, true, length);
        this.#end = start + FRAME_HEADER_BYTES + length;
        return FRAME_HEADER_BYTES + length;
      }
    }
    const payload = serializePayload(value);
    if (payload.byteLength > cap) {
      throw new RangeError(
        `Message of ${payload.byteLength} bytes exceeds the ${cap} byte cap of ${kind} frames`,
      );
    }
    const size = FRAME_HEADER_BYTES + payload.byteLength;
    this.#reserve(size);
    writeFrameHeader(this.#buffer, this.#end, kind, false, payload.byteLength);
    this.#buffer.set(payload, this.#end + FRAME_HEADER_BYTES);
    this.#end += size;
    return size;
  }

  /**
   * Hands over the frames encoded so far and starts afresh.
   *
   * @returns A view of them, valid until the next {@linkcode FrameWriter.add}: a caller that
   * writes asynchronously copies it first.
   */
  take(): Uint8Array {
    const frames = this.#buffer.subarray(0, this.#end);
    this.#end = 0;
    if (this.#buffer.byteLength > KEEP_BYTES) this.#buffer = new Uint8Array(INITIAL_BYTES);
    return frames;
  }

  #reserve(bytes: number): void {
    const needed = this.#end + bytes;
    if (needed <= this.#buffer.byteLength) return;
    const next = new Uint8Array(Math.max(needed, this.#buffer.byteLength * 2));
    next.set(this.#buffer.subarray(0, this.#end));
    this.#buffer = next;
  }
}
