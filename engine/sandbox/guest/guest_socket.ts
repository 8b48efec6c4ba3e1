/**
 * WebSockets inside a sandbox. The client's connection ends at the engine, so a bundle cannot
 * hold the real socket: `Deno.upgradeWebSocket(request)` is replaced, for the requests the
 * runtime made from an upgrade request, by one that returns a {@linkcode GuestSocket} (the
 * `WebSocket` members a server uses) and a marker response. The runtime answers the fetch with
 * an upgrade; the engine upgrades the client and relays messages both ways (`../wire/streams.ts`).
 * For any other request the platform's function runs as before.
 *
 * @module
 */
import type { GuestMessage } from "../wire/protocol.ts";
import {
  MAX_CLOSE_REASON,
  MAX_SOCKET_MESSAGE_BYTES,
  type StreamHostMessage,
} from "../wire/streams.ts";

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

type Handler<E extends Event> = ((this: GuestSocket, event: E) => unknown) | null;

/** A bundle's end of a WebSocket whose client is connected to the engine. */
export class GuestSocket extends EventTarget {
  /** `WebSocket.CONNECTING`. */
  static readonly CONNECTING = CONNECTING;
  /** `WebSocket.OPEN`. */
  static readonly OPEN = OPEN;
  /** `WebSocket.CLOSING`. */
  static readonly CLOSING = CLOSING;
  /** `WebSocket.CLOSED`. */
  static readonly CLOSED = CLOSED;
  /** The request URL as the bundle saw it. */
  readonly url: string;
  /** How binary messages arrive. */
  binaryType: BinaryType = "arraybuffer";
  /** No subprotocol is negotiated. */
  readonly protocol = "";
  /** No extension is negotiated. */
  readonly extensions = "";
  /** The relay does not count queued bytes here; the engine bounds them. */
  readonly bufferedAmount = 0;
  /** Called on open. */
  onopen: Handler<Event> = null;
  /** Called for each message. */
  onmessage: Handler<MessageEvent> = null;
  /** Called on close. */
  onclose: Handler<CloseEvent> = null;
  /** Called on error. */
  onerror: Handler<Event> = null;
  #state = CONNECTING;
  readonly #id: number;
  readonly #post: (message: GuestMessage) => void;

  /**
   * Creates the socket of fetch `id`.
   *
   * @param id The fetch's id.
   * @param url The request URL.
   * @param post Posts to the engine.
   */
  constructor(id: number, url: string, post: (message: GuestMessage) => void) {
    super();
    this.#id = id;
    this.url = url;
    this.#post = post;
  }

  /** `CONNECTING`, `OPEN`, `CLOSING` or `CLOSED`. */
  get readyState(): number {
    return this.#state;
  }

  /**
   * Sends a message to the client.
   *
   * @param data Text or bytes.
   * @throws {DOMException} `InvalidStateError` unless open.
   * @throws {RangeError} Over the message size limit.
   */
  send(data: string | ArrayBufferLike | ArrayBufferView): void {
    if (this.#state !== OPEN) throw new DOMException("The socket is not open", "InvalidStateError");
    let payload: string | Uint8Array<ArrayBuffer>;
    if (typeof data === "string") payload = data;
    else if (ArrayBuffer.isView(data)) {
      payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    } else if (data instanceof ArrayBuffer) payload = new Uint8Array(data.slice(0));
    else throw new TypeError("A socket sends strings, ArrayBuffers or typed arrays");
    const size = typeof payload === "string" ? payload.length : payload.byteLength;
    if (size > MAX_SOCKET_MESSAGE_BYTES) {
      throw new RangeError(
        `WebSocket message of ${size} bytes is over the ${MAX_SOCKET_MESSAGE_BYTES} byte limit`,
      );
    }
    this.#post({ type: "socket-send", stream: this.#id, data: payload });
  }

  /**
   * Closes the connection.
   *
   * @param code Close code (1000, or 3000–4999). @default {1000}
   * @param reason Close reason, at most 123 characters.
   */
  close(code = 1000, reason = ""): void {
    if (code !== 1000 && (code < 3000 || code > 4999)) {
      throw new DOMException(`Invalid close code ${code}`, "InvalidAccessError");
    }
    if (this.#state === CLOSING || this.#state === CLOSED) return;
    this.#state = CLOSING;
    this.#post({
      type: "socket-close",
      stream: this.#id,
      code,
      reason: reason.slice(0, MAX_CLOSE_REASON),
    });
  }

  /**
   * An engine message about this socket.
   *
   * @param message The message.
   */
  receive(message: StreamHostMessage): void {
    switch (message.type) {
      case "socket-open":
        if (this.#state !== CONNECTING) return;
        this.#state = OPEN;
        this.#fire("open", new Event("open"));
        return;
      case "socket-message": {
        if (this.#state !== OPEN) return;
        const data = typeof message.data === "string"
          ? message.data
          : this.binaryType === "blob"
          ? new Blob([message.data])
          : message.data.buffer.slice(
            message.data.byteOffset,
            message.data.byteOffset + message.data.byteLength,
          );
        this.#fire("message", new MessageEvent("message", { data }));
        return;
      }
      case "socket-closed":
        if (this.#state === CLOSED) return;
        this.#state = CLOSED;
        this.#fire(
          "close",
          new CloseEvent("close", {
            code: message.code,
            reason: message.reason,
            wasClean: message.code !== 1006,
          }),
        );
        return;
    }
  }

  #fire(type: "open" | "message" | "close", event: Event): void {
    const handler = this[`on${type}`] as ((event: Event) => unknown) | null;
    try {
      if (typeof handler === "function") handler.call(this, event);
    } finally {
      this.dispatchEvent(event);
    }
  }
}

/** The sockets of one sandbox and the replacement of `Deno.upgradeWebSocket`. */
export class GuestSockets {
  readonly #post: (message: GuestMessage) => void;
  readonly #upgradable = new WeakMap<Request, number>();
  readonly #accepted = new WeakMap<Response, { id: number; socket: GuestSocket }>();
  readonly #open = new Map<number, GuestSocket>();

  /**
   * Creates the table and installs the replacement.
   *
   * @param post Posts to the engine.
   */
  constructor(post: (message: GuestMessage) => void) {
    this.#post = post;
    const platform = Deno.upgradeWebSocket;
    const upgrade = (request: Request, options?: Deno.UpgradeWebSocketOptions) => {
      const id = this.#upgradable.get(request);
      if (id === undefined) return platform(request, options);
      this.#upgradable.delete(request);
      const socket = new GuestSocket(id, request.url, (message) => this.#post(message));
      // A marker: the runtime answers with an upgrade, never with this response.
      const response = new Response(null, { status: 200 });
      this.#accepted.set(response, { id, socket });
      return { socket: socket as unknown as WebSocket, response };
    };
    Object.defineProperty(Deno, "upgradeWebSocket", {
      value: upgrade,
      writable: true,
      configurable: true,
    });
  }

  /**
   * Marks a request the runtime made from a client's upgrade request.
   *
   * @param request The request the bundle gets.
   * @param id The fetch's id.
   */
  allow(request: Request, id: number): void {
    this.#upgradable.set(request, id);
  }

  /**
   * The socket a response accepts, if it is the marker of an upgrade; the socket is then open
   * for messages from the engine.
   *
   * @param response The bundle's response.
   * @returns The socket, or `undefined` for an ordinary response.
   */
  accepted(response: Response): GuestSocket | undefined {
    const accepted = this.#accepted.get(response);
    if (!accepted) return undefined;
    this.#accepted.delete(response);
    this.#open.set(accepted.id, accepted.socket);
    return accepted.socket;
  }

  /**
   * An engine message about a socket.
   *
   * @param message The message.
   */
  receive(message: StreamHostMessage): void {
    const socket = this.#open.get(message.stream);
    if (!socket) return;
    if (message.type === "socket-closed") this.#open.delete(message.stream);
    socket.receive(message);
  }
}
