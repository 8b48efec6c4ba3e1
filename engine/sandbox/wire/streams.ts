/**
 * Stream messages of the protocol: request and response bodies that cross the sandbox boundary as
 * they are produced, and WebSocket connections bridged between a client and a bundle
 * (docs/architecture.md, "Streams and WebSockets").
 *
 * A stream is named by the id of the fetch call it belongs to; the message type says which way it
 * flows. Flow control is by credit: a receiver grants bytes, a sender never has more bytes in
 * flight than it was granted, and each side starts with {@linkcode STREAM_WINDOW_BYTES} granted.
 * A guest that sends past its credit, for a stream that is not open, or chunks over
 * {@linkcode MAX_STREAM_CHUNK_BYTES}, has broken the protocol: the engine cuts that stream.
 *
 * @module
 */
import { isId, type Obj } from "./guards.ts";

/** Why a stream failed, as it crosses the boundary (a protocol `WireError` fits it). */
export interface StreamFailure {
  /** Error name. */
  name: string;
  /** Bounded message. */
  message: string;
}

/** Bytes each side may send on a stream before the other grants more. */
export const STREAM_WINDOW_BYTES = 256 * 1024;
/** Largest chunk of a body stream, bytes. */
export const MAX_STREAM_CHUNK_BYTES = 64 * 1024;
/** Largest response body that travels as text (`WireResponse.text`), bytes of UTF-8. */
export const TEXT_BODY_BYTES = 16 * 1024;
/** Largest WebSocket message either way, bytes (UTF-16 code units for text). */
export const MAX_SOCKET_MESSAGE_BYTES = 1024 * 1024;
/** Longest WebSocket close reason, characters (the protocol allows 123 bytes). */
export const MAX_CLOSE_REASON = 123;

/** A guest's stream messages. */
export type StreamGuestMessage =
  /** Response body bytes of fetch `stream`. */
  | { type: "stream-chunk"; stream: number; data: Uint8Array<ArrayBuffer> }
  /** The response body ended; with `error`, it failed. */
  | { type: "stream-end"; stream: number; error?: StreamFailure }
  /** The bundle consumed this many bytes of the request body: the engine may send more. */
  | { type: "stream-credit"; stream: number; bytes: number }
  /** The bundle's socket sends a message to the client. */
  | { type: "socket-send"; stream: number; data: string | Uint8Array<ArrayBuffer> }
  /** The bundle closes its socket. */
  | { type: "socket-close"; stream: number; code?: number; reason?: string };

/** The engine's stream messages. */
export type StreamHostMessage =
  /** Request body bytes of fetch `stream`. */
  | { type: "stream-chunk"; stream: number; data: Uint8Array<ArrayBuffer> }
  /** The request body ended; with `error`, it was cut (too large, client gone). */
  | { type: "stream-end"; stream: number; error?: string }
  /** The client consumed this many response bytes: the bundle may send more. */
  | { type: "stream-credit"; stream: number; bytes: number }
  /** Nobody reads the response any more (client gone, stream cut, instance ending). */
  | { type: "stream-cancel"; stream: number; reason: string }
  /** The client's socket is open. */
  | { type: "socket-open"; stream: number }
  /** A message from the client. */
  | { type: "socket-message"; stream: number; data: string | Uint8Array<ArrayBuffer> }
  /** The client's socket closed (or the engine closed it). */
  | { type: "socket-closed"; stream: number; code: number; reason: string };

/**
 * Validates a guest's stream message (its `type` is one of {@linkcode StreamGuestMessage}'s).
 * Sizes are checked here only where a value is unusable past them; credit and chunk limits are
 * the engine's stream table's to enforce, since breaking them cuts the stream.
 *
 * @param raw The received object.
 * @param toError Cleans and bounds a guest error (the protocol's `toWireError`).
 * @returns The typed message, or `undefined` when malformed.
 */
export function parseStreamMessage(
  raw: Obj,
  toError: (value: unknown) => StreamFailure,
): StreamGuestMessage | undefined {
  if (!isId(raw.stream)) return undefined;
  const stream = raw.stream;
  switch (raw.type) {
    case "stream-chunk":
      return raw.data instanceof Uint8Array
        ? { type: "stream-chunk", stream, data: raw.data as Uint8Array<ArrayBuffer> }
        : undefined;
    case "stream-end":
      return raw.error === undefined
        ? { type: "stream-end", stream }
        : { type: "stream-end", stream, error: toError(raw.error) };
    case "stream-credit":
      return isId(raw.bytes) && raw.bytes > 0
        ? { type: "stream-credit", stream, bytes: raw.bytes }
        : undefined;
    case "socket-send": {
      const data = raw.data;
      if (typeof data !== "string" && !(data instanceof Uint8Array)) return undefined;
      return { type: "socket-send", stream, data: data as string | Uint8Array<ArrayBuffer> };
    }
    case "socket-close": {
      const msg: StreamGuestMessage = { type: "socket-close", stream };
      if (Number.isInteger(raw.code)) msg.code = raw.code as number;
      if (typeof raw.reason === "string") msg.reason = raw.reason.slice(0, MAX_CLOSE_REASON);
      return msg;
    }
    default:
      return undefined;
  }
}

/** Message types of {@linkcode StreamGuestMessage}. */
export const STREAM_GUEST_TYPES: ReadonlySet<string> = new Set([
  "stream-chunk",
  "stream-end",
  "stream-credit",
  "socket-send",
  "socket-close",
]);
