/**
 * The guest's side of body streams (`../wire/streams.ts`): it sends a response body as the bundle
 * produces it, never more than the engine granted, and hands a streamed request body to the
 * bundle as `request.body`. WebSockets are in `guest_socket.ts`.
 *
 * A response is sent whole in one message when its body is complete within one turn of the event
 * loop and small; otherwise the head goes first with what was read so far, and the rest follows
 * in chunks.
 *
 * @module
 */
import type { GuestMessage, WireError } from "../wire/protocol.ts";
import {
  MAX_STREAM_CHUNK_BYTES,
  STREAM_WINDOW_BYTES,
  type StreamHostMessage,
  TEXT_BODY_BYTES,
} from "../wire/streams.ts";
import { InboundStream } from "../wire/inbound_stream.ts";
import { concatBytes } from "../../base/bytes.ts";

/** Largest body sent inline with the response head, bytes; more is streamed. */
export const INLINE_BODY_BYTES = 64 * 1024;

export { TEXT_BODY_BYTES };

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const decode = TextDecoder.prototype.decode;
// Captured before any bundle code: a bundle that patched `TextEncoder.prototype.encode`,
// `TextDecoder.prototype.decode` or `Array.prototype.some` once made a long text pass as short,
// its bytes decode to any string (tens of MiB as text), or a body without a content-type travel
// as text (and so get one).
const ENCODER = new TextEncoder();
const encode = TextEncoder.prototype.encode;
const apply = Reflect.apply;

/** Whether a `content-type` is among the headers (a plain loop: nothing the bundle can patch). */
function hasContentType(headers: readonly [string, string][]): boolean {
  for (let i = 0; i < headers.length; i++) {
    if ((headers[i] as [string, string])[0] === "content-type") return true;
  }
  return false;
}

/** A string's length in UTF-8, bytes. */
function utf8Length(text: string): number {
  return (apply(encode, ENCODER, [text]) as Uint8Array).byteLength;
}

/**
 * A whole response body as text, when it may travel so: at most {@linkcode TEXT_BODY_BYTES},
 * valid UTF-8 (so the engine's encoding gives back the same bytes, a BOM included), and with a
 * `content-type` among the headers (a text body without one would get `text/plain`).
 *
 * @param bytes The body.
 * @param headers The response's headers, lower-case names.
 * @returns The text, or `undefined` when the body goes as bytes.
 */
export function bodyText(
  bytes: Uint8Array | null,
  headers: readonly [string, string][],
): string | undefined {
  if (bytes === null || bytes.byteLength > TEXT_BODY_BYTES) return undefined;
  if (!hasContentType(headers)) return undefined;
  try {
    return apply(decode, UTF8, [bytes]) as string;
  } catch {
    return undefined;
  }
}

/**
 * A response's whole body, given as a string, as text for the wire when it may travel so: the
 * same rule as {@linkcode bodyText} (its UTF-8 encoding at most {@linkcode TEXT_BODY_BYTES}, a
 * `content-type` among the headers), without encoding it to find out in the common case.
 *
 * @param body The string the response was built with, if it was.
 * @param headers The response's headers, lower-case names.
 * @returns The text, or `undefined` when the body goes as bytes.
 */
export function stringText(
  body: string | undefined,
  headers: readonly [string, string][],
): string | undefined {
  if (typeof body !== "string" || body.length > TEXT_BODY_BYTES) return undefined;
  if (!hasContentType(headers)) return undefined;
  // A UTF-16 code unit takes at most 3 bytes in UTF-8 (a surrogate pair 4 for 2 units).
  if (body.length * 3 <= TEXT_BODY_BYTES) return body;
  return utf8Length(body) <= TEXT_BODY_BYTES ? body : undefined;
}

/** How a guest posts a message. */
export type StreamPost = (message: GuestMessage, transfer?: Transferable[]) => void;

/** The start of a response body: what was read at once, and the rest when there is more. */
export interface BodyStart {
  /** Bytes read so far, or null for no body. */
  bytes: Uint8Array<ArrayBuffer> | null;
  /** The rest, when the body did not end within the first turn or the inline size. */
  rest?: { reader: ReadableStreamDefaultReader<Uint8Array>; pending?: Promise<ReadResult> };
}

type ReadResult = ReadableStreamReadResult<Uint8Array>;

const TURN = Symbol("turn");
let turn: Promise<typeof TURN> | undefined;

/** Resolves on the next turn of the event loop; one timer serves every body read meanwhile. */
function nextTurn(): Promise<typeof TURN> {
  turn ??= new Promise((resolve) =>
    setTimeout(() => {
      turn = undefined;
      resolve(TURN);
    }, 0)
  );
  return turn;
}

/**
 * Reads what a response body has ready: until it ends, passes {@linkcode INLINE_BODY_BYTES}, or
 * a read waits past the current turn of the event loop.
 *
 * @param body The bundle's response body.
 * @param maxBytes Largest body allowed.
 * @returns The bytes read, and the rest when there is more.
 * @throws {RangeError} When the body is larger than `maxBytes`.
 */
export async function startBody(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<BodyStart> {
  if (body === null) return { bytes: null };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const limit = nextTurn();
  while (true) {
    const read = reader.read();
    const result = await Promise.race([read, limit]);
    if (result === TURN) return { bytes: concatBytes(chunks), rest: { reader, pending: read } };
    if (result.done) return { bytes: concatBytes(chunks) };
    size += result.value.byteLength;
    if (size > maxBytes) {
      reader.cancel().catch(() => {});
      throw new RangeError(`Response body is larger than ${maxBytes} bytes`);
    }
    chunks.push(result.value);
    if (size > INLINE_BODY_BYTES) return { bytes: concatBytes(chunks), rest: { reader } };
  }
}

interface Outgoing {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  credit: number;
  wake?: () => void;
  cancelled?: string;
  onCancel?: (reason: string) => void;
}

/** The guest's body streams, by fetch id. */
export class GuestStreams {
  readonly #post: StreamPost;
  readonly #toError: (error: unknown) => WireError;
  readonly #out = new Map<number, Outgoing>();
  readonly #in = new Map<number, InboundStream>();

  /**
   * Creates the table.
   *
   * @param post Posts a message to the engine.
   * @param toError Bounds an error for the wire.
   */
  constructor(post: StreamPost, toError: (error: unknown) => WireError) {
    this.#post = post;
    this.#toError = toError;
  }

  /**
   * A streamed request body: the engine's chunks for fetch `id`, read by the bundle.
   *
   * @param id The fetch's id.
   * @returns The body stream.
   */
  requestBody(id: number): ReadableStream<Uint8Array<ArrayBuffer>> {
    const inbound = new InboundStream({
      grant: (bytes) => this.#send({ type: "stream-credit", stream: id, bytes }),
      cancel: () => this.#in.delete(id),
    });
    this.#in.set(id, inbound);
    return inbound.readable;
  }

  /**
   * Sends the rest of a response body, within the engine's credit, then its end.
   *
   * @param id The fetch's id.
   * @param rest The reader (and a read in flight) from {@linkcode startBody}.
   * @param sent Bytes already sent with the head.
   * @param maxBytes Largest body allowed.
   * @param onCancel Called when the engine cancels the stream (the client left).
   */
  async sendBody(
    id: number,
    rest: NonNullable<BodyStart["rest"]>,
    sent: number,
    maxBytes: number,
    onCancel: (reason: string) => void,
  ): Promise<void> {
    const { reader } = rest;
    const out: Outgoing = { reader, credit: STREAM_WINDOW_BYTES, onCancel };
    this.#out.set(id, out);
    let pending = rest.pending;
    let total = sent;
    try {
      while (true) {
        const result = await (pending ?? reader.read());
        pending = undefined;
        if (out.cancelled !== undefined) return;
        if (result.done) break;
        total += result.value.byteLength;
        if (total > maxBytes) {
          throw new RangeError(`Response body is larger than ${maxBytes} bytes`);
        }
        if (!(await this.#sendChunks(id, out, result.value))) return;
      }
      this.#send({ type: "stream-end", stream: id });
    } catch (error) {
      if (out.cancelled !== undefined) return;
      reader.cancel(error).catch(() => {});
      this.#send({ type: "stream-end", stream: id, error: this.#toError(error) });
    } finally {
      this.#out.delete(id);
    }
  }

  /** Sends one read chunk in slices the credit allows; false when the stream was cancelled. */
  async #sendChunks(id: number, out: Outgoing, value: Uint8Array): Promise<boolean> {
    for (let offset = 0; offset < value.byteLength;) {
      while (out.credit <= 0) {
        await new Promise<void>((resolve) => out.wake = resolve);
        if (out.cancelled !== undefined) return false;
      }
      const size = Math.min(out.credit, MAX_STREAM_CHUNK_BYTES, value.byteLength - offset);
      const data = value.slice(offset, offset + size);
      offset += size;
      out.credit -= size;
      this.#send({ type: "stream-chunk", stream: id, data }, [data.buffer]);
    }
    return true;
  }

  /**
   * An engine message about a stream.
   *
   * @param message The message.
   */
  handle(message: StreamHostMessage): void {
    switch (message.type) {
      case "stream-credit": {
        const out = this.#out.get(message.stream);
        if (!out) return;
        out.credit += message.bytes;
        out.wake?.();
        return;
      }
      case "stream-cancel": {
        const out = this.#out.get(message.stream);
        if (!out || out.cancelled !== undefined) return;
        out.cancelled = message.reason;
        out.wake?.();
        // The bundle's stream sees the cancel (its `cancel` runs), and so does its request.signal.
        out.reader.cancel(message.reason).catch(() => {});
        out.onCancel?.(message.reason);
        return;
      }
      case "stream-chunk":
        this.#in.get(message.stream)?.push(message.data);
        return;
      case "stream-end": {
        const inbound = this.#in.get(message.stream);
        if (!inbound) return;
        this.#in.delete(message.stream);
        inbound.end(message.error === undefined ? undefined : new RangeError(message.error));
        return;
      }
    }
  }

  #send(message: GuestMessage, transfer?: Transferable[]): void {
    try {
      this.#post(message, transfer);
    } catch {
      // The channel is gone; the engine ends the streams on its side.
    }
  }
}

/** Content type of a method's stream of bytes or text over `/rpc`. */
export const BYTES_STREAM_TYPE = "application/octet-stream";
/** Content type of a method's stream of other values over `/rpc`: one JSON value per line. */
export const NDJSON_STREAM_TYPE = "application/x-ndjson";

/**
 * A method's `ReadableStream` result as bytes: byte chunks as they are, strings as UTF-8, any
 * other value as a line of JSON (NDJSON). The content type follows the first chunk.
 *
 * @param stream The method's result.
 * @returns The byte stream and its content type.
 */
export async function encodeResultStream(
  stream: ReadableStream<unknown>,
): Promise<{ body: ReadableStream<Uint8Array>; contentType: string }> {
  const reader = stream.getReader();
  const encoder = new TextEncoder();
  const first = await reader.read();
  const encode = (value: unknown): Uint8Array =>
    value instanceof Uint8Array
      ? value
      : typeof value === "string"
      ? encoder.encode(value)
      : encoder.encode(`${JSON.stringify(value) ?? "null"}\n`);
  const bytes = first.done ||
    first.value instanceof Uint8Array || typeof first.value === "string";
  let pending: Uint8Array | undefined = first.done ? undefined : encode(first.value);
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending) {
        controller.enqueue(pending);
        pending = undefined;
        return;
      }
      const { done, value } = first.done ? { done: true, value: undefined } : await reader.read();
      if (done) controller.close();
      else controller.enqueue(encode(value));
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  return { body, contentType: bytes ? BYTES_STREAM_TYPE : NDJSON_STREAM_TYPE };
}
