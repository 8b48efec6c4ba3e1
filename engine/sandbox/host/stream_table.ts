/**
 * The engine's side of one instance's body streams and WebSockets (`../wire/streams.ts`): the
 * response bodies it receives (a bounded queue per stream, credit granted as the client reads),
 * the request bodies it sends (never past the guest's credit), and the client sockets it relays.
 *
 * The guest is untrusted: a chunk for a stream that is not open is counted and dropped; a chunk
 * past its credit, over the chunk limit, after the end, or past the response size limit cuts its
 * stream (the client sees the body fail, the cut is counted). Streams are bounded in number per
 * instance; all of them end when the instance does: bodies close, sockets close with 1001.
 *
 * @module
 */
import type { HostMessage, WireRequest, WireResponse } from "../wire/protocol.ts";
import {
  MAX_CLOSE_REASON,
  MAX_SOCKET_MESSAGE_BYTES,
  MAX_STREAM_CHUNK_BYTES,
  STREAM_WINDOW_BYTES,
  type StreamGuestMessage,
} from "../wire/streams.ts";
import { InboundStream } from "../wire/inbound_stream.ts";

/** Largest response body, bytes, streamed or not (the guest runtime's own limit too). */
export const MAX_STREAMED_RESPONSE_BYTES = 32 * 1024 * 1024;
/** Bytes a client may leave unread on a socket before it is closed as too slow. */
export const MAX_SOCKET_BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * A fetch's response as the engine hands it on: the wire head, and the host-side parts a
 * streamed body or an accepted WebSocket need.
 */
export interface HostResponse extends WireResponse {
  /** The body, when it streams (the head's `body` bytes come first in it). */
  bodyStream?: ReadableStream<Uint8Array<ArrayBuffer>>;
  /** Binds the client's socket to the bundle's once upgraded; `undefined` when it could not be. */
  attachSocket?: (socket: WebSocket | undefined) => void;
  /** Ends the stream or socket now, cleanly (the engine is stopping). */
  end?: (reason: string) => void;
  /** Settles when the stream or socket has ended, however it ended. */
  ended?: Promise<void>;
}

/** Content types of the stream results of service calls (`/rpc` serves them with it). */
const resultTypes = new WeakMap<ReadableStream, string>();

/**
 * The content type of a service call's stream result: `application/octet-stream` for bytes or
 * text, `application/x-ndjson` for other values (one JSON value per line).
 *
 * @param stream A call's result.
 * @returns The type, or `undefined` when `stream` is not a call's stream result.
 */
export function resultStreamType(stream: ReadableStream): string | undefined {
  return resultTypes.get(stream);
}

/** A fetch's request as the engine hands it to an instance: a streamed body rides beside it. */
export interface HostRequest extends WireRequest {
  /** The client's body, sent as it arrives (then `stream` is true and `body` null). */
  bodyStream?: ReadableStream<Uint8Array>;
  /** Largest streamed body accepted, bytes. */
  maxBodyBytes?: number;
}

/** Engine-wide stream figures (all instances), for status and tests. */
export const streamFigures: {
  /** Streams cut for breaking a limit or the protocol, or ended with an error by their bundle. */
  cut: number;
  /** Stream messages for streams that were not open. */
  strays: number;
  /** Streams refused at the per-instance limit. */
  refused: number;
  /** Streams and sockets open now. */
  open: number;
} = { cut: 0, strays: 0, refused: 0, open: 0 };

/** Response bodies being received, engine-wide (pruned as they finish). */
const receiving = new Set<InboundStream>();

/**
 * Response bytes the engine holds, received from sandboxes and not yet read by clients: at most
 * one window per open stream.
 *
 * @returns Bytes, across every instance.
 */
export function streamBufferedBytes(): number {
  let bytes = 0;
  for (const inbound of receiving) {
    if (inbound.done && inbound.queued === 0) receiving.delete(inbound);
    else bytes += inbound.queued;
  }
  return bytes;
}

/** What a stream table needs from its instance. */
export interface StreamTableOptions {
  /** Sends a message to the guest. */
  send(message: HostMessage, transfer?: Transferable[]): void;
  /** Most streams and sockets open at once. */
  maxStreams: number;
  /** The instance's name, for messages. */
  label: string;
}

interface Outgoing {
  credit: number;
  wake?: () => void;
  stop: (reason: string) => void;
}

/** One instance's streams. */
export class StreamTable {
  readonly #options: StreamTableOptions;
  readonly #responses = new Map<number, { inbound: InboundStream; received: number }>();
  readonly #requests = new Map<number, Outgoing>();
  readonly #sockets = new Map<number, WebSocket | undefined>();
  /** Settles each open stream's or socket's `ended`. */
  readonly #enders = new Map<number, () => void>();

  /**
   * Creates the table.
   *
   * @param options Transport and limits.
   */
  constructor(options: StreamTableOptions) {
    this.#options = options;
  }

  /** Streams and sockets open. */
  get size(): number {
    return this.#responses.size + this.#sockets.size;
  }

  /**
   * Opens a response's body stream or socket relay, or refuses it at the limit.
   *
   * @param id The fetch's id.
   * @param head The guest's response head.
   * @returns The response to hand on.
   * @throws {RangeError} At the per-instance limit (the guest is told to stop).
   */
  openResponse(id: number, head: WireResponse): HostResponse {
    if (this.size >= this.#options.maxStreams) {
      streamFigures.refused++;
      this.#send(
        head.upgrade
          ? { type: "socket-closed", stream: id, code: 1013, reason: "Too many streams" }
          : { type: "stream-cancel", stream: id, reason: "too many streams" },
      );
      throw new RangeError(
        `${this.#options.label} has ${this.#options.maxStreams} streams open, the most allowed`,
      );
    }
    streamFigures.open++;
    const ended = new Promise<void>((resolve) => this.#enders.set(id, resolve));
    const end = (reason: string) => this.#end(id, reason);
    if (head.upgrade) {
      this.#sockets.set(id, undefined);
      return { ...head, attachSocket: (socket) => this.#relay(id, socket), end, ended };
    }
    const inbound = new InboundStream({
      grant: (bytes) => this.#send({ type: "stream-credit", stream: id, bytes }),
      cancel: (reason) => {
        this.#dropResponse(id);
        this.#send({ type: "stream-cancel", stream: id, reason: `client went away: ${reason}` });
      },
    });
    this.#responses.set(id, { inbound, received: head.body?.byteLength ?? 0 });
    receiving.add(inbound);
    const first = head.body;
    const body = first && first.byteLength > 0
      ? prepend(first, inbound.readable)
      : inbound.readable;
    return { ...head, body: null, bodyStream: body, end, ended };
  }

  /**
   * Opens the stream result of a service call (its method returned a `ReadableStream`).
   *
   * @param id The call's id.
   * @param first Its first bytes.
   * @param type Its content type.
   * @returns The stream the caller reads.
   * @throws {RangeError} At the per-instance limit.
   */
  openResult(id: number, first: Uint8Array<ArrayBuffer>, type: string): ReadableStream {
    const head = this.openResponse(id, { status: 200, headers: [], body: first, stream: true });
    const body = head.bodyStream!;
    resultTypes.set(body, type);
    return body;
  }

  /** Ends one stream or socket cleanly, and tells the guest. */
  #end(id: number, reason: string): void {
    const entry = this.#responses.get(id);
    if (entry) {
      this.#dropResponse(id);
      entry.inbound.close();
      this.#send({ type: "stream-cancel", stream: id, reason });
    } else if (this.#sockets.has(id)) {
      closeSocket(this.#sockets.get(id), 1001, `Going away: ${reason}`);
    }
  }

  /**
   * A guest's stream message.
   *
   * @param message The message.
   * @returns Why it broke the protocol, when it did (counted by the instance).
   */
  receive(message: StreamGuestMessage): string | undefined {
    switch (message.type) {
      case "stream-chunk": {
        const entry = this.#responses.get(message.stream);
        if (!entry) return this.#stray();
        entry.received += message.data.byteLength;
        const broken = entry.received > MAX_STREAMED_RESPONSE_BYTES
          ? `Response body is larger than ${MAX_STREAMED_RESPONSE_BYTES} bytes`
          : entry.inbound.push(message.data);
        if (broken) {
          this.#cut(message.stream, broken);
          return broken;
        }
        return undefined;
      }
      case "stream-end": {
        const entry = this.#responses.get(message.stream);
        if (!entry) return this.#stray();
        this.#dropResponse(message.stream);
        if (message.error) streamFigures.cut++;
        entry.inbound.end(
          message.error && new Error(`${message.error.name}: ${message.error.message}`),
        );
        return undefined;
      }
      case "stream-credit": {
        const out = this.#requests.get(message.stream);
        if (!out) return this.#stray();
        out.credit += message.bytes;
        out.wake?.();
        return undefined;
      }
      case "socket-send": {
        if (!this.#sockets.has(message.stream)) return this.#stray();
        const socket = this.#sockets.get(message.stream);
        if (socket?.readyState !== WebSocket.OPEN) return undefined;
        const size = typeof message.data === "string"
          ? message.data.length
          : message.data.byteLength;
        if (size > MAX_SOCKET_MESSAGE_BYTES) {
          socket.close(1009, "Message too big");
          return `a WebSocket message of ${size} bytes`;
        }
        if (socket.bufferedAmount > MAX_SOCKET_BUFFERED_BYTES) {
          socket.close(1013, "Client too slow");
          return undefined;
        }
        socket.send(message.data);
        return undefined;
      }
      case "socket-close": {
        if (!this.#sockets.has(message.stream)) return this.#stray();
        const asked = message.code ?? 1000;
        const code = asked === 1000 || (asked >= 3000 && asked <= 4999) ? asked : 1000;
        closeSocket(this.#sockets.get(message.stream), code, message.reason ?? "");
        return undefined;
      }
    }
  }

  /**
   * Sends a request body to the guest as it arrives, within the guest's credit and `maxBytes`.
   *
   * @param id The fetch's id.
   * @param body The client's body.
   * @param maxBytes Largest body accepted.
   */
  async sendRequest(id: number, body: ReadableStream<Uint8Array>, maxBytes: number): Promise<void> {
    if (body.locked) {
      // A bundle that failed before this one (degradation) already took the body.
      this.#send({
        type: "stream-end",
        stream: id,
        error: "The request body was already read by a bundle that failed on it",
      });
      return;
    }
    const reader = body.getReader();
    let stopped: string | undefined;
    const out: Outgoing = {
      credit: STREAM_WINDOW_BYTES,
      stop: (reason) => {
        stopped = reason;
        out.wake?.();
        reader.cancel(reason).catch(() => {});
      },
    };
    this.#requests.set(id, out);
    let total = 0;
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (stopped !== undefined) return;
        if (done) break;
        total += value.byteLength;
        if (total > maxBytes) {
          reader.cancel().catch(() => {});
          this.#send({
            type: "stream-end",
            stream: id,
            error: `Request body is larger than ${maxBytes} bytes`,
          });
          return;
        }
        for (let offset = 0; offset < value.byteLength;) {
          while (out.credit <= 0) {
            await new Promise<void>((resolve) => out.wake = resolve);
            if (stopped !== undefined) return;
          }
          const size = Math.min(out.credit, MAX_STREAM_CHUNK_BYTES, value.byteLength - offset);
          const data = value.slice(offset, offset + size);
          offset += size;
          out.credit -= size;
          this.#send({ type: "stream-chunk", stream: id, data }, [data.buffer]);
        }
      }
      this.#send({ type: "stream-end", stream: id });
    } catch (error) {
      if (stopped === undefined) {
        this.#send({
          type: "stream-end",
          stream: id,
          error: `The client's request body failed: ${(error as Error).message}`,
        });
      }
    } finally {
      this.#requests.delete(id);
    }
  }

  /**
   * Stops sending a request body (its call failed or ended).
   *
   * @param id The fetch's id.
   */
  stopRequest(id: number): void {
    this.#requests.get(id)?.stop("the call ended");
  }

  /**
   * Ends every stream: the instance is going away. Bodies close cleanly when `clean`, else fail;
   * sockets close with 1001.
   *
   * @param reason Why.
   * @param clean Whether the instance ended in order (stopped, retired).
   */
  closeAll(reason: string, clean: boolean): void {
    for (const [id, entry] of [...this.#responses]) {
      this.#dropResponse(id);
      if (clean) entry.inbound.close();
      else entry.inbound.fail(new Error(`The bundle's instance ended: ${reason}`));
    }
    for (const out of this.#requests.values()) out.stop(reason);
    for (const [id, socket] of [...this.#sockets]) {
      this.#forgetSocket(id);
      closeSocket(socket, 1001, `Going away: ${reason}`);
    }
  }

  #relay(id: number, socket: WebSocket | undefined): void {
    if (!this.#sockets.has(id)) return closeSocket(socket, 1001, "Going away");
    if (!socket) {
      this.#forgetSocket(id);
      this.#send({ type: "socket-closed", stream: id, code: 1006, reason: "Upgrade failed" });
      return;
    }
    this.#sockets.set(id, socket);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => this.#send({ type: "socket-open", stream: id });
    socket.onmessage = (event: MessageEvent) => {
      const data = typeof event.data === "string"
        ? event.data
        : new Uint8Array(event.data as ArrayBuffer);
      const size = typeof data === "string" ? data.length : data.byteLength;
      if (size > MAX_SOCKET_MESSAGE_BYTES) return socket.close(1009, "Message too big");
      this.#send(
        { type: "socket-message", stream: id, data },
        typeof data === "string" ? undefined : [data.buffer],
      );
    };
    socket.onclose = (event: CloseEvent) => {
      if (!this.#forgetSocket(id)) return;
      this.#send({ type: "socket-closed", stream: id, code: event.code, reason: event.reason });
    };
  }

  /** A message for a stream that is not open: counted, not a fault (it may have just ended). */
  #stray(): undefined {
    streamFigures.strays++;
    return undefined;
  }

  #cut(id: number, why: string): void {
    const entry = this.#responses.get(id);
    if (!entry) return;
    streamFigures.cut++;
    this.#dropResponse(id);
    entry.inbound.fail(new Error(`Stream cut: ${why}`));
    this.#send({ type: "stream-cancel", stream: id, reason: why });
  }

  /** Forgets a response stream (a client may still read what it queued). */
  #dropResponse(id: number): void {
    if (!this.#responses.delete(id)) return;
    streamFigures.open--;
    this.#settle(id);
  }

  /** Forgets a socket; false when it was not open. */
  #forgetSocket(id: number): boolean {
    if (!this.#sockets.delete(id)) return false;
    streamFigures.open--;
    this.#settle(id);
    return true;
  }

  #settle(id: number): void {
    this.#enders.get(id)?.();
    this.#enders.delete(id);
  }

  #send(message: HostMessage, transfer?: Transferable[]): void {
    try {
      this.#options.send(message, transfer);
    } catch {
      // The instance is going away; its streams end with it.
    }
  }
}

function closeSocket(socket: WebSocket | undefined, code: number, reason: string): void {
  if (!socket || socket.readyState >= WebSocket.CLOSING) return;
  try {
    socket.close(code, reason.slice(0, MAX_CLOSE_REASON));
  } catch {
    // Already closing.
  }
}

/** A stream that yields `first`, then what `rest` yields. */
function prepend(
  first: Uint8Array<ArrayBuffer>,
  rest: ReadableStream<Uint8Array<ArrayBuffer>>,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  let reader: ReadableStreamDefaultReader<Uint8Array<ArrayBuffer>> | undefined;
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull: async (controller) => {
      if (!reader) {
        reader = rest.getReader();
        return controller.enqueue(first);
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => (reader ?? rest).cancel(reason),
  }, { highWaterMark: 0 });
}
