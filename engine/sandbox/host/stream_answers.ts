/**
 * An instance's answers that open a stream: a streamed response's body or WebSocket, a method's
 * stream result, and the stream of an answer nobody waits for any more, which is cancelled at once
 * so the guest stops producing it (stream_table.ts keeps the streams themselves).
 *
 * @module
 */
import { UnavailableError } from "../../base/errors.ts";
import type { GuestMessage, WireResponse } from "../wire/protocol.ts";
import type { StreamTable } from "./stream_table.ts";
import type { Transport } from "./types.ts";

/** The waiting side of a call: how it settles and what it was. */
export interface StreamWaiter {
  /** Settles the call with its value. */
  resolve(value: unknown): void;
  /** Fails the call. */
  reject(error: unknown): void;
  /** What was asked. */
  kind: "call" | "fetch" | "hook" | "ping";
}

/**
 * A streamed response's body or socket opens, or is refused at the instance's limit.
 *
 * @param streams The instance's streams.
 * @param id The call's message id, the stream's id.
 * @param response The response's head.
 * @param pending The fetch waiting for it.
 */
export function openResponseStream(
  streams: StreamTable,
  id: number,
  response: WireResponse,
  pending: StreamWaiter,
): void {
  try {
    pending.resolve(streams.openResponse(id, response));
  } catch (error) {
    pending.reject(new UnavailableError((error as Error).message));
  }
}

/**
 * A method's stream result: the caller gets a `ReadableStream`.
 *
 * @param streams The instance's streams.
 * @param id The call's message id, the stream's id.
 * @param first The first chunk.
 * @param type The stream's content type.
 * @param pending The call waiting for it.
 */
export function openResultStream(
  streams: StreamTable,
  id: number,
  first: Uint8Array<ArrayBuffer>,
  type: string,
  pending: StreamWaiter,
): void {
  if (pending.kind !== "call") {
    pending.reject(new TypeError("Bundle answered with a stream where none can go"));
    return;
  }
  try {
    pending.resolve(streams.openResult(id, first, type));
  } catch (error) {
    pending.reject(new UnavailableError((error as Error).message));
  }
}

/**
 * An answer nobody waits for (late, cancelled): a stream it opens is cancelled at once.
 *
 * @param transport The instance's transport.
 * @param message The answer.
 */
export function cancelUnclaimed(transport: Transport, message: GuestMessage): void {
  if (message.type === "reply" && message.ok && message.stream !== undefined) {
    try {
      transport.send({ type: "stream-cancel", stream: message.id, reason: "not awaited" });
    } catch {
      // The instance is going away.
    }
    return;
  }
  if (message.type !== "response") return;
  const stream = message.response;
  try {
    if (stream.upgrade) {
      transport.send({ type: "socket-closed", stream: message.id, code: 1001, reason: "" });
    } else if (stream.stream) {
      transport.send({ type: "stream-cancel", stream: message.id, reason: "not awaited" });
    }
  } catch {
    // The instance is going away.
  }
}
