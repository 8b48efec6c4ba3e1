/**
 * The engine's edge: serves `engine.fetch` over HTTP so that no client can end or starve the
 * process. It owns the listener and the accept loop, and hands each accepted connection to Deno's
 * HTTP server ({@linkcode connectionServer}), which gives it what `Deno.serve` lacks:
 *
 * - a connection cap below the descriptor limit, measured at start with a reserve kept back for
 *   Deno KV, child processes, `deno info` and workers ({@linkcode connectionBudget});
 * - a head timeout: a connection with no request in flight must complete a request head within
 *   `headTimeoutMs` (first request or next keep-alive one), else it is closed;
 * - at the cap, the connection idle the longest is closed to admit the newcomer, so idle or
 *   half-sent connections (slowloris) cannot lock new clients out;
 * - every accept error (EMFILE included) is handled: the longest-idle connection is closed and
 *   accepting resumes after a short pause, instead of an unhandled rejection ending the process.
 *
 * When the internal API is missing it falls back to `Deno.serve` with a guard that keeps an
 * unhandled rejection from ending the process (no cap or timeout then; a warning says so).
 *
 * WebSockets: Deno's per-connection server closes a connection once its HTTP exchange is over,
 * upgraded or not (measured on Deno 2.9.6: the socket opens, then closes with 1005), so the owned
 * edge refuses upgrades with 501. It is Deno's doing, not the edge's: once the 101 is written the
 * connection's task is over, and the server's `finished` then shuts it down forcibly, which closes
 * every WebSocket upgraded on it (`serve_test.ts` re-checks this with none of the edge's parts;
 * docs/architecture.md, "Streams and WebSockets", lists the other designs measured). An operator who needs WebSockets through `/b/` asks for them
 * (`websockets: true`, `main.ts --websockets`) and gets `Deno.serve` in place of the owned edge,
 * with the same unhandled-rejection guard and without the cap and head timeout: a reverse proxy in
 * front must bound connections then (README, "Streaming and WebSockets").
 *
 * @module
 */
import { type Clock, systemClock } from "../base/clock.ts";
import { closeConnection, connectionServer, type ServeConnection } from "./_deno_http.ts";
import { type ConnectionCounts, ConnectionTable } from "./connection_table.ts";
import { connectionBudget, isOutOfDescriptors } from "./fd_budget.ts";

/** Options of {@linkcode serveEdge}; every field is optional. */
export interface EdgeServeOptions {
  /** Interface to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** Port; 0 picks a free one. @default {8000} */
  port?: number;
  /** Most connections open at once (lowered to fit the descriptor limit). @default {4096} */
  maxConnections?: number;
  /** An idle connection must complete a request head within this long, ms. @default {5000} */
  headTimeoutMs?: number;
  /** Descriptors kept free for the rest of the engine (at most half of those free). @default {256} */
  fdReserve?: number;
  /** A readable path opened repeatedly to measure free descriptors. @default {"."} */
  probePath?: string;
  /** Time source of the head timeout. @default {systemClock} */
  clock?: Clock;
  /** Called once listening. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Told about errors the edge handled (accept errors, handler throws). @default {console.error} */
  onError?: (message: string) => void;
  /**
   * Serve WebSocket upgrades: serves with `Deno.serve` instead of the owned edge, so without the
   * connection cap and head timeout (see the module doc). @default {false}
   */
  websockets?: boolean;
}

/** Counters of the edge. */
export interface EdgeCounts extends ConnectionCounts {
  /** Most connections allowed at once. */
  maxConnections: number;
  /** Accept errors survived (EMFILE included). */
  acceptErrors: number;
}

/** A running edge server. */
export interface EdgeServer {
  /** Where it listens. */
  readonly addr: Deno.NetAddr;
  /** `owned` (own accept loop, capped) or `deno-serve` (fallback, uncapped). */
  readonly mode: "owned" | "deno-serve";
  /** Connections open, closed and refused so far. */
  counts(): EdgeCounts;
  /** Stops accepting, closes idle connections, lets requests in flight finish. */
  shutdown(): Promise<void>;
}

/** A request handler, e.g. `engine.fetch`. */
export type Handler = (request: Request) => Response | Promise<Response>;

/**
 * Serves `handler` on a guarded edge (see the module doc).
 *
 * @example Serve an engine
 * ```ts ignore
 * import { serveEdge } from "./serve.ts";
 * const server = serveEdge((request) => new Response(request.url), { port: 0 });
 * await server.shutdown();
 * ```
 *
 * @param handler The request handler, e.g. `engine.fetch`.
 * @param options Address, limits and hooks.
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} When the port is taken (and other `Deno.listen` errors).
 */
export function serveEdge(handler: Handler, options: EdgeServeOptions = {}): EdgeServer {
  const serveConnection = connectionServer();
  const onError = options.onError ?? ((message: string) => console.error(message));
  if (options.websockets) {
    return fallbackServe(
      handler,
      options,
      onError,
      "WebSockets on (--websockets): serving with Deno.serve, without a connection cap or head timeout; bound connections in a proxy in front",
    );
  }
  if (!serveConnection) {
    return fallbackServe(
      handler,
      options,
      onError,
      "This Deno has no serveHttpOnConnection: serving with Deno.serve, without a connection cap or head timeout",
    );
  }
  const clock = options.clock ?? systemClock;
  const headTimeoutMs = options.headTimeoutMs ?? 5_000;
  const budget = connectionBudget(
    options.probePath ?? ".",
    options.maxConnections ?? 4096,
    options.fdReserve ?? 256,
  );
  const listener = Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 8000,
  });
  const edge: Edge = {
    table: new ConnectionTable(budget.maxConnections, headTimeoutMs),
    clock,
    handler,
    serveConnection,
    onError,
    failed: (error) => {
      onError(`Request failed in the edge: ${(error as Error)?.message ?? error}`);
      return new Response("Internal error", { status: 500 });
    },
    open: new Set(),
    closed: false,
    acceptErrors: 0,
  };
  const sweepEvery = Math.max(50, Math.min(1_000, Math.floor(headTimeoutMs / 5)));
  let timer = clock.setTimeout(function sweep() {
    edge.table.sweep(clock.now());
    if (!edge.closed) timer = clock.setTimeout(sweep, sweepEvery);
  }, sweepEvery);
  const accepting = acceptLoop(edge, listener);
  const addr = listener.addr as Deno.NetAddr;
  options.onListen?.(addr);
  return {
    addr,
    mode: "owned",
    counts: () => ({
      ...edge.table.counts(),
      maxConnections: edge.table.maxConnections,
      acceptErrors: edge.acceptErrors,
    }),
    async shutdown() {
      if (edge.closed) return;
      edge.closed = true;
      clock.clearTimeout(timer);
      listener.close();
      await accepting;
      edge.table.closeAll();
      await Promise.all(edge.open);
    },
  };
}

/** The state one owned edge shares between its accept loop and its connections. */
interface Edge {
  table: ConnectionTable;
  clock: Clock;
  handler: Handler;
  serveConnection: ServeConnection;
  onError: (message: string) => void;
  /** Answers a request whose handler threw (the engine's own handler answers its errors). */
  failed: (error: unknown) => Response;
  /** Settles when each open connection has closed. */
  open: Set<Promise<void>>;
  closed: boolean;
  acceptErrors: number;
}

/** Accepts until the listener closes, keeping descriptors under the cap and surviving errors. */
async function acceptLoop(edge: Edge, listener: Deno.Listener): Promise<void> {
  while (!edge.closed) {
    // At the cap, close the longest-idle connections and wait until a descriptor is freed:
    // descriptors, not just connections still tracked, must stay under the cap.
    // The pauses below are real time, not the edge's clock: they wait on the OS (descriptors, a
    // full backlog), which a manual clock never moves.
    if (edge.table.makeRoom() === "wait") {
      await Promise.race([edge.table.freed(), new Promise((r) => setTimeout(r, 100))]);
      continue;
    }
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (edge.closed || error instanceof Deno.errors.BadResource) break;
      edge.acceptErrors++;
      // Out of descriptors: free one now; the pause keeps a full backlog from spinning the loop.
      if (isOutOfDescriptors(error)) edge.table.evictOldestIdle();
      else edge.onError(`Accepting a connection failed: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
      continue;
    }
    serveOne(edge, conn);
  }
}

/** Serves one accepted connection, counting its requests; refuses it when every slot is busy. */
function serveOne(edge: Edge, conn: Deno.Conn): void {
  const { table, clock } = edge;
  const controller = new AbortController();
  const entry = table.admit(clock.now(), () => closeConnection(controller));
  if (!entry) {
    // Every connection is busy: the newcomer is refused at once rather than left waiting.
    try {
      conn.close();
    } catch {
      // Already gone.
    }
    return;
  }
  const counted: Handler = (request) => {
    if (request.headers.get("upgrade")?.toLowerCase() === "websocket") return upgradeRefused();
    table.begin(entry);
    let ended = false;
    const done = () => {
      if (ended) return;
      ended = true;
      table.end(entry, clock.now());
    };
    try {
      const response = edge.handler(request);
      if (response instanceof Promise) {
        return response.then((r) => busyUntilStreamEnds(r, done), (error) => {
          done();
          throw error;
        });
      }
      return busyUntilStreamEnds(response, done);
    } catch (error) {
      done();
      throw error;
    }
  };
  let served: Promise<void>;
  try {
    served = edge.serveConnection(conn, controller.signal, counted, edge.failed).finished;
  } catch (error) {
    // The peer may already be gone; nothing to serve.
    edge.onError(`Serving a connection failed: ${(error as Error).message}`);
    table.remove(entry);
    return;
  }
  const finished: Promise<void> = served.catch(() => {}).finally(() => {
    table.remove(entry);
    edge.open.delete(finished);
  });
  edge.open.add(finished);
}

/**
 * Calls `done` when the request is over: at once for a plain response, when its body ends for a
 * server-sent event stream (`text/event-stream`, e.g. `/admin/bundles/:id/logs?follow=1`). The
 * head timeout is for connections waiting for a request; an event stream may be quiet for long and
 * keeps its connection busy. Only event streams are wrapped, so other bodies keep Deno's fast path.
 *
 * @param response The handler's response.
 * @param done Marks the request as over (idempotent).
 * @returns The response to send.
 */
function busyUntilStreamEnds(response: Response, done: () => void): Response {
  const type = response.headers.get("content-type");
  const source = type?.startsWith("text/event-stream") ? response.body : null;
  if (!source) {
    done();
    return response;
  }
  const reader = source.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (!chunk.done) return controller.enqueue(chunk.value);
        controller.close();
      } catch (error) {
        controller.error(error);
      }
      done();
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  const { status, statusText, headers } = response;
  return new Response(body, { status, statusText, headers });
}

/**
 * The answer to a WebSocket upgrade on the owned edge. Deno's per-connection server force-closes
 * a connection once its HTTP exchange is over, so a socket upgraded there dies as it opens
 * (measured on Deno 2.9.6); a clear refusal is better than a socket that opens and drops.
 * `Deno.serve(engine.fetch)` serves WebSockets (README, "Streaming and WebSockets").
 */
function upgradeRefused(): Response {
  return Response.json({
    error: {
      code: "NOT_IMPLEMENTED",
      message:
        "WebSocket upgrades are not served by the engine's guarded edge: Deno's per-connection server closes upgraded connections; start the engine with --websockets (Deno.serve, no connection cap) or serve it with Deno.serve(engine.fetch)",
    },
  }, { status: 501 });
}

function fallbackServe(
  handler: Handler,
  options: EdgeServeOptions,
  onError: (message: string) => void,
  why: string,
): EdgeServer {
  onError(why);
  // Deno.serve rejects an internal promise on EMFILE; unhandled, that would end the process.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    onError(`Unhandled rejection kept from ending the engine: ${event.reason}`);
  });
  const server = Deno.serve({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 8000,
    onListen: () => {},
  }, handler);
  options.onListen?.(server.addr);
  return {
    addr: server.addr,
    mode: "deno-serve",
    counts: () => ({
      open: 0,
      busy: 0,
      timedOut: 0,
      evicted: 0,
      refused: 0,
      maxConnections: Infinity,
      acceptErrors: 0,
    }),
    shutdown: () => server.shutdown(),
  };
}
