/**
 * Conversions between Web `Request`/`Response` and the protocol's data form.
 *
 * @module
 */
import { readLimited } from "../base/bytes.ts";
import { BundlehostError } from "../base/errors.ts";
import { type Clock, systemClock } from "../base/clock.ts";
import { deadlinesFor } from "../base/deadlines.ts";
import type { PluginHost } from "../plugin/plugin.ts";
import type { WireRequest, WireResponse } from "../sandbox/wire/protocol.ts";
import type { HostRequest, HostResponse } from "../sandbox/host/stream_table.ts";

/** Hop-by-hop headers never forwarded across the sandbox boundary. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
]);

/**
 * Response headers only the engine sets (who served, and why a fallback did): a bundle's own are
 * dropped even when the engine sets none, so a bundle cannot claim to be another or degraded.
 */
const ENGINE_RESPONSE_HEADERS = new Set(["x-bundle", "x-degraded"]);

/**
 * Where a request is forwarded: the URL the bundle sees and headers set on the way.
 *
 * @example A request for `/b/shop/cart` as the bundle sees it
 * ```ts
 * import type { ForwardTarget } from "@bundlehost/sdk";
 *
 * const target: ForwardTarget = {
 *   url: "http://127.0.0.1:8000/cart",
 *   setHeaders: [["x-forwarded-prefix", "/b/shop"]],
 * };
 * ```
 */
export interface ForwardTarget {
  /** The URL the bundle sees. @default {the request's own URL} */
  url?: string;
  /** Headers set on the forwarded request, replacing the client's of the same (lower-case) name. */
  setHeaders?: [string, string][];
}

/** Largest request body read whole before the call; a larger or chunked one streams, bytes. */
export const INLINE_REQUEST_BYTES = 64 * 1024;

/**
 * Whether a request asks for a WebSocket upgrade.
 *
 * @param request The request.
 * @returns `true` for `Upgrade: websocket`.
 */
export function isWebSocketUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/**
 * Reads a request into data, refusing bodies larger than `maxBytes`. A `GET` or `HEAD` carries
 * no body across the sandbox boundary. A body declared larger than {@linkcode INLINE_REQUEST_BYTES}
 * (up to `maxBytes`), or sent chunked, is not read here: it streams into the bundle as it arrives
 * (`bodyStream`), still bounded by `maxBytes`.
 *
 * @param request The request.
 * @param maxBytes Largest body accepted.
 * @param target The URL and headers the bundle sees, when forwarded under another URL.
 * @returns The request as data.
 * @throws {BundlehostError} `TOO_LARGE` when the body is declared too large.
 */
export async function toWireRequest(
  request: Request,
  maxBytes: number,
  target: ForwardTarget = {},
): Promise<WireRequest> {
  const method = request.method;
  const streamed = method !== "GET" && method !== "HEAD" && streamsBody(request, maxBytes);
  const body = method === "GET" || method === "HEAD" || streamed
    ? null
    : await readBody(request, maxBytes);
  const set = target.setHeaders ?? [];
  const headers: [string, string][] = [];
  for (const header of request.headers) {
    const name = header[0];
    if (!HOP_BY_HOP.has(name) && !set.some(([n]) => n === name)) headers.push(header);
  }
  for (const header of set) headers.push(header);
  const wire: HostRequest = { method, url: target.url ?? request.url, headers, body };
  if (streamed && request.body) {
    wire.stream = true;
    wire.bodyStream = request.body;
    wire.maxBodyBytes = maxBytes;
  }
  if (isWebSocketUpgrade(request)) wire.upgrade = true;
  return wire;
}

/** Whether a request's body streams: chunked, or declared over the inline size. */
function streamsBody(request: Request, maxBytes: number): boolean {
  const declared = request.headers.get("content-length");
  if (declared === null) return request.body !== null;
  const length = Number(declared);
  if (length > maxBytes) throw tooLarge(maxBytes);
  return length > INLINE_REQUEST_BYTES;
}

/** How long a request body may take to arrive once its head has, ms (README, "Limits and hardening"). */
export const BODY_TIMEOUT_MS = 30_000;

/**
 * Reads a request body, refusing more than `maxBytes`. A declared `content-length` is checked
 * before reading (over HTTP, `Deno.serve` delivers exactly that many bytes); a chunked body is
 * counted as it arrives, so it is never buffered past the limit. A client that sends its head and
 * then trickles (or never sends) the body is cut off after `timeoutMs`, and one that disconnects
 * mid-body is a cancellation, not an engine error.
 *
 * @param request The request.
 * @param maxBytes Largest body accepted.
 * @param timeoutMs Longest wait for the whole body, ms.
 * @param clock Time of the body timeout. @default {systemClock}
 * @returns The body, or `null` when there is none.
 * @throws {BundlehostError} `TOO_LARGE` when the body is larger, `BODY_TIMEOUT` when it is late,
 * `CANCELLED` when the client went away before it arrived.
 */
export async function readBody(
  request: Request,
  maxBytes: number,
  timeoutMs: number = BODY_TIMEOUT_MS,
  clock: Clock = systemClock,
): Promise<Uint8Array<ArrayBuffer> | null> {
  // `request.body` builds a ReadableStream: with a declared length, read without touching it.
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (Number(declared) > maxBytes) throw tooLarge(maxBytes);
    if (declared === "0") return null;
    const bytes = new Uint8Array(await arriving(request.arrayBuffer(), timeoutMs, clock));
    // A request made in-process can declare one length and carry another.
    if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
    return bytes;
  }
  if (!request.body) return null;
  return await arriving(
    readLimited(request.body, maxBytes, () => tooLarge(maxBytes)),
    timeoutMs,
    clock,
  );
}

/** Errors Deno raises when the client's connection ends while its body is being read. */
const CLIENT_GONE = [
  Deno.errors.BadResource,
  Deno.errors.Interrupted,
  Deno.errors.ConnectionReset,
  Deno.errors.ConnectionAborted,
  Deno.errors.UnexpectedEof,
  Deno.errors.BrokenPipe,
];

/**
 * Waits for a body read within `timeoutMs`, naming a late or vanished client as such. The timeout
 * sits on the clock's shared deadline scheduler: one runtime timer for every request in flight,
 * not one per request (a runtime timer per request was a measurable share of the hot path).
 */
function arriving<T>(read: Promise<T>, timeoutMs: number, clock: Clock): Promise<T> {
  const scheduler = deadlinesFor(clock);
  // One promise and one deadline per body, no race, no async wrapper around it: this runs for
  // every request with a body.
  return new Promise<T>((resolve, reject) => {
    const deadline = scheduler.schedule(
      clock.now() + timeoutMs,
      () =>
        reject(
          new BundlehostError("BODY_TIMEOUT", `Request body did not arrive within ${timeoutMs} ms`),
        ),
    );
    read.then((value) => {
      scheduler.cancel(deadline);
      resolve(value);
    }, (error: unknown) => {
      scheduler.cancel(deadline);
      reject(
        CLIENT_GONE.some((type) => error instanceof type)
          ? new BundlehostError(
            "CANCELLED",
            `The client closed its connection before the request body arrived (${
              (error as Error).message
            })`,
          )
          : error,
      );
    });
  });
}

function tooLarge(maxBytes: number): BundlehostError {
  return new BundlehostError("TOO_LARGE", `Request body is larger than ${maxBytes} bytes`);
}

/**
 * Rewrites a response's header list before its `Response` is built: names are lower-case, in the
 * bundle's order; the result may be the same array.
 *
 * @example Drop a bundle's `server` header and add one of the engine's
 * ```ts
 * import type { HeaderListEdit } from "@bundlehost/sdk";
 *
 * const edit: HeaderListEdit = (headers) => [
 *   ...headers.filter(([name]) => name !== "server"),
 *   ["x-served-by", "bundlehost"],
 * ];
 * console.log(edit([["server", "x"], ["content-type", "text/plain"]]));
 * ```
 */
export type HeaderListEdit = (headers: [string, string][]) => [string, string][];

/**
 * Builds a response from data. The headers go into the `Response` as one list (a `Headers`
 * object filled header by header, and then read back to be edited, was a measurable share of a
 * `/b/` request); a header HTTP cannot carry is dropped, not fatal.
 *
 * @param wire The response as data.
 * @param own Headers the engine sets: they replace any of the same name the bundle sent (a
 * bundle's `x-bundle` and `x-degraded` are dropped in any case).
 * @param edit Rewrites the bundle's headers (after hop-by-hop ones are dropped), before `own`.
 * @returns A Web `Response`.
 */
export function fromWireResponse(
  wire: WireResponse | HostResponse,
  own: readonly [string, string][] = [],
  edit?: HeaderListEdit,
): Response {
  let list: [string, string][] = [];
  for (const header of wire.headers) {
    const name = header[0].toLowerCase();
    if (HOP_BY_HOP.has(name) || ENGINE_RESPONSE_HEADERS.has(name)) continue;
    if (own.some(([n]) => n === name)) continue;
    list.push(name === header[0] ? header : [name, header[1]]);
  }
  if (edit) list = edit(list);
  for (const header of own) list.push([header[0], header[1]]);
  const nullBody = wire.status === 204 || wire.status === 205 || wire.status === 304;
  const body = (wire as HostResponse).bodyStream ?? wire.text ?? wire.body;
  if (nullBody) void (wire as HostResponse).bodyStream?.cancel().catch(() => {});
  const init = { status: wire.status, headers: list };
  try {
    return new Response(nullBody ? null : body, init);
  } catch (error) {
    // Headers are checked before the body is touched: a header HTTP cannot carry made the
    // whole list fail, so build it again without the ones that do not pass.
    if (!(error instanceof TypeError)) throw error;
    const headers = new Headers();
    for (const [name, value] of list) {
      try {
        headers.append(name, value);
      } catch {
        // Dropped.
      }
    }
    return new Response(nullBody ? null : body, { status: wire.status, headers });
  }
}

/**
 * The engine's HTTP entry: `wrapRequest` plugin hooks around the first plugin `fetch` hook that
 * answers; 404 JSON when none does; a failure becomes a 500 JSON body that leaks nothing (the
 * details go to `log`).
 *
 * @param plugins The engine's plugins.
 * @param log Receives the details of unexpected failures.
 * @returns A Web-standard handler.
 */
export function servePlugins<E>(
  plugins: PluginHost<E>,
  log: (message: string) => void,
): (request: Request) => Promise<Response> {
  // A promise chain, not an async function: it runs on every request.
  const serve = plugins.wrap(
    "wrapRequest",
    (request: Request) =>
      plugins.first(request).then((response) =>
        response ?? Response.json(
          {
            error: {
              code: "NOT_FOUND",
              message: `No route for ${request.method} ${new URL(request.url).pathname}`,
            },
          },
          { status: 404 },
        )
      ),
  );
  return async (request) => {
    try {
      return await serve(request);
    } catch (error) {
      log(`Request ${request.method} ${request.url} failed: ${(error as Error).message}`);
      return Response.json(
        { error: { code: "INTERNAL", message: "Internal error; see the engine log" } },
        { status: 500 },
      );
    }
  };
}

/**
 * The path of a request's URL, without building a `URL` object (this runs several times per
 * request). `Request.url` is already normalized by the URL parser, so slicing it gives exactly
 * `new URL(url).pathname`.
 *
 * @param url An absolute URL as `Request.url` holds it.
 * @returns The path, e.g. `"/rpc/Svc/m"`.
 */
export function pathOf(url: string): string {
  const [start, end] = pathBounds(url);
  return start === end ? "/" : url.slice(start, end);
}

/**
 * The same URL with another path: origin, query and fragment kept, without building a `URL`
 * object (see {@linkcode pathOf}).
 *
 * @param url An absolute URL as `Request.url` holds it.
 * @param path The new path, starting with `/`.
 * @returns The URL.
 *
 * @example
 * ```ts ignore
 * withPath("http://h:1/b/shop/cart?x=1", "/cart"); // "http://h:1/cart?x=1"
 * ```
 */
export function withPath(url: string, path: string): string {
  const [start, end] = pathBounds(url);
  return `${url.slice(0, start)}${path}${url.slice(end)}`;
}

/** Where a normalized absolute URL's path starts and ends (equal when it has none). */
function pathBounds(url: string): [number, number] {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0) return [url.length, url.length];
  let end = url.length;
  const query = url.indexOf("?", start);
  if (query >= 0) end = query;
  const hash = url.indexOf("#", start);
  if (hash >= 0 && hash < end) end = hash;
  return [start, end];
}
