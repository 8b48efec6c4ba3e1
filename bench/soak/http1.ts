/**
 * A minimal HTTP/1.1 keep-alive client over one TCP connection, for the soak benchmark's fixed-rate
 * generator. `fetch` costs about 2.6× more CPU per request here (measured against bare
 * `Deno.serve` on the 2-core VM: 6.8k vs 17.8k req/s from one thread), and the generator shares
 * the machine with the engine it measures, so every cycle it spends is one the engine lacks.
 *
 * It sends one request at a time and reads one reply framed by `content-length` or chunked
 * encoding; anything else (a closed socket, a malformed head) rejects and the connection is done.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLFCRLF = [13, 10, 13, 10];
/** Replies larger than this are refused (the soak's good bundles answer a few dozen bytes). */
const MAX_REPLY = 1 << 20;

/** One reply. */
export interface Reply {
  /** HTTP status. */
  status: number;
  /** Body bytes as text. */
  body: string;
}

/**
 * Encodes a request once, so that the hot loop only writes bytes.
 *
 * @param method HTTP method.
 * @param path Path and query.
 * @param body JSON body.
 * @param host `host` header value.
 * @returns The request bytes.
 */
export function encodeRequest(
  method: string,
  path: string,
  body: string,
  host: string,
): Uint8Array {
  const bytes = encoder.encode(body);
  const head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n` +
    `content-type: application/json\r\ncontent-length: ${bytes.length}\r\n\r\n`;
  const out = new Uint8Array(encoder.encode(head).length + bytes.length);
  out.set(encoder.encode(head));
  out.set(bytes, out.length - bytes.length);
  return out;
}

function indexOfHeadEnd(buf: Uint8Array, end: number): number {
  outer: for (let i = 0; i + 3 < end; i++) {
    for (let k = 0; k < 4; k++) if (buf[i + k] !== CRLFCRLF[k]) continue outer;
    return i;
  }
  return -1;
}

/** A keep-alive connection that carries one request at a time. */
export class Http1Connection {
  readonly #conn: Deno.TcpConn;
  #buf = new Uint8Array(16_384);
  #len = 0;
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /**
   * Opens a connection.
   *
   * @param hostname Host.
   * @param port Port.
   * @returns The connection.
   */
  static async open(hostname: string, port: number): Promise<Http1Connection> {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return new Http1Connection(conn);
  }

  /** Whether it was closed (by {@linkcode Http1Connection.close} or a failure). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the socket; a pending {@linkcode Http1Connection.send} rejects. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  /**
   * Writes a request and reads its reply.
   *
   * @param request Bytes from {@linkcode encodeRequest}.
   * @returns The reply.
   * @throws {Error} When the socket fails or closes, or the reply is malformed or too large.
   */
  async send(request: Uint8Array): Promise<Reply> {
    try {
      let written = 0;
      while (written < request.length) written += await this.#conn.write(request.subarray(written));
      return await this.#readReply();
    } catch (error) {
      this.close();
      throw error;
    }
  }

  async #fill(): Promise<void> {
    if (this.#len === this.#buf.length) {
      if (this.#buf.length >= MAX_REPLY) throw new Error("Reply larger than 1 MiB");
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf.subarray(0, this.#len));
      this.#buf = bigger;
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#len));
    if (n === null) throw new Error("Connection closed by the server");
    this.#len += n;
  }

  #consume(n: number): Uint8Array {
    const out = this.#buf.slice(0, n);
    this.#buf.copyWithin(0, n, this.#len);
    this.#len -= n;
    return out;
  }

  async #readReply(): Promise<Reply> {
    let headEnd: number;
    while ((headEnd = indexOfHeadEnd(this.#buf, this.#len)) < 0) await this.#fill();
    const head = decoder.decode(this.#consume(headEnd + 4)).toLowerCase();
    const status = Number(/^http\/1\.[01] (\d{3})/.exec(head)?.[1]);
    if (!Number.isInteger(status)) throw new Error(`Malformed reply head: ${head.slice(0, 80)}`);
    const length = /\r\ncontent-length: *(\d+)/.exec(head)?.[1];
    if (length !== undefined) {
      const n = Number(length);
      if (n > MAX_REPLY) throw new Error(`Reply of ${n} bytes is larger than 1 MiB`);
      while (this.#len < n) await this.#fill();
      return { status, body: decoder.decode(this.#consume(n)) };
    }
    if (/\r\ntransfer-encoding: *chunked/.test(head)) {
      return { status, body: await this.#readChunked() };
    }
    throw new Error("Reply has neither content-length nor chunked encoding");
  }

  async #readChunked(): Promise<string> {
    let body = "";
    while (true) {
      let lineEnd: number;
      while ((lineEnd = this.#buf.subarray(0, this.#len).indexOf(10)) < 0) await this.#fill();
      const size = parseInt(decoder.decode(this.#consume(lineEnd + 1)), 16);
      if (!Number.isInteger(size) || size > MAX_REPLY) throw new Error("Malformed chunk size");
      while (this.#len < size + 2) await this.#fill();
      const chunk = this.#consume(size + 2);
      if (size === 0) return body;
      body += decoder.decode(chunk.subarray(0, size));
    }
  }
}
