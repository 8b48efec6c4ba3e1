/**
 * Trace-context test helpers: a capture server on loopback that keeps the raw header list of every
 * request it receives, by path, and an HTTP/1.1 client on a bare TCP socket that sends header
 * lines exactly as written (name casing, repeated fields, surrounding whitespace), which `fetch`
 * cannot do.
 *
 * @module
 */
import { concatBytes } from "../engine/base/bytes.ts";

/** One request the capture server received. */
export interface CapturedRequest {
  /** Request path (with the query). */
  path: string;
  /** Request URL as the server saw it: a proxy request's names the host it is meant for. */
  url: string;
  /** `[...request.headers]`: lower-case names; repeated fields joined with ", ". */
  headers: [string, string][];
}

/** A running capture server. */
export interface CaptureServer extends AsyncDisposable {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Port it listens on. */
  port: number;
  /** Every request so far, in arrival order. */
  requests: CapturedRequest[];
  /** A new path under the server, unique to the caller (one per case). */
  fresh(label: string): string;
  /** The requests that arrived on `path`. */
  at(path: string): CapturedRequest[];
}

/**
 * Starts a capture server on 127.0.0.1 and an ephemeral port; every request gets `204`.
 *
 * @returns The server; `await using` stops it.
 */
export function startCaptureServer(): CaptureServer {
  const requests: CapturedRequest[] = [];
  let next = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const url = new URL(request.url);
    requests.push({
      path: `${url.pathname}${url.search}`,
      url: request.url,
      headers: [...request.headers],
    });
    return new Response(null, { status: 204 });
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    port: server.addr.port,
    requests,
    fresh(label) {
      return `/c/${++next}-${label.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`;
    },
    at(path) {
      return requests.filter((r) => r.path === path);
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/**
 * The values a captured request holds for one header, with fields the server joined split apart
 * again (so two `traceparent` lines count as two).
 *
 * @param request A captured request.
 * @param name Lower-case header name.
 * @returns The values, in order; empty when the header is absent.
 */
export function headerValues(request: CapturedRequest, name: string): string[] {
  return request.headers
    .filter(([n]) => n === name)
    .flatMap(([, v]) => v.split(","))
    .map((v) => v.trim());
}

/**
 * The joined value a captured request holds for one header, as the server presents it.
 *
 * @param request A captured request.
 * @param name Lower-case header name.
 * @returns The value, or `undefined` when the header is absent.
 */
export function headerOf(request: CapturedRequest, name: string): string | undefined {
  return request.headers.find(([n]) => n === name)?.[1];
}

/** A reply read from a raw socket. */
export interface RawReply {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** Body text (chunked transfer coding removed). */
  text: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function indexOf(bytes: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= bytes.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function dechunk(body: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  const crlf = encoder.encode("\r\n");
  let at = 0;
  while (at < body.length) {
    const end = indexOf(body, crlf, at);
    if (end < 0) break;
    const size = parseInt(decoder.decode(body.subarray(at, end)).split(";")[0]!, 16);
    if (!(size > 0)) break;
    parts.push(body.subarray(end + 2, end + 2 + size));
    at = end + 2 + size + 2;
  }
  return concatBytes(parts);
}

/**
 * Sends one HTTP/1.1 request over a fresh TCP connection with the header lines exactly as given
 * (`Host`, `Connection: close` and `Content-Length` are added), and reads the reply to the end.
 * Header values are written as bytes of their char codes (latin-1), so a test can send any octet.
 *
 * @param base Base URL of the server (`http://host:port`).
 * @param method HTTP method.
 * @param path Request target.
 * @param headers Header lines as `[name, value]`, written in order, repeated names kept.
 * @param body Request body text.
 * @returns Status, headers and body text.
 */
export async function rawRequest(
  base: string,
  method: string,
  path: string,
  headers: [string, string][],
  body = "",
): Promise<RawReply> {
  const { hostname, port } = new URL(base);
  const payload = encoder.encode(body);
  const lines = [
    `${method} ${path} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    "Connection: close",
    `Content-Length: ${payload.length}`,
    ...headers.map(([name, value]) => `${name}: ${value}`),
  ];
  const head = `${lines.join("\r\n")}\r\n\r\n`;
  const bytes = Uint8Array.from([...head].map((c) => c.charCodeAt(0) & 0xff));
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const chunks: Uint8Array[] = [];
  try {
    const request = new Uint8Array(bytes.length + payload.length);
    request.set(bytes);
    request.set(payload, bytes.length);
    for (let written = 0; written < request.length;) {
      written += await conn.write(request.subarray(written));
    }
    for await (const chunk of conn.readable) chunks.push(chunk);
  } finally {
    try {
      conn.close();
    } catch {
      // The readable stream closed it already.
    }
  }
  const all = concatBytes(chunks);
  const split = indexOf(all, encoder.encode("\r\n\r\n"));
  if (split < 0) throw new Error(`Incomplete HTTP reply: ${decoder.decode(all)}`);
  const [statusLine, ...headerLines] = decoder.decode(all.subarray(0, split)).split("\r\n");
  const replyHeaders = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    replyHeaders.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let rest: Uint8Array = all.subarray(split + 4);
  if (replyHeaders.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
    rest = dechunk(rest);
  }
  return {
    status: Number(statusLine!.split(" ")[1]),
    headers: replyHeaders,
    text: decoder.decode(rest),
  };
}
