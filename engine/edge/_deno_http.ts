/**
 * The one place the engine touches a Deno-internal API: `serveHttpOnConnection`, which Deno's own
 * `node:http` polyfill uses to serve HTTP on one accepted connection. Owning the accept loop is
 * what gives the edge a connection cap, a head timeout and a way to survive EMFILE, none of which
 * `Deno.serve` offers (docs/architecture.md, "Platform facts"). If a Deno
 * release removes or reshapes it, {@linkcode connectionServer} returns `undefined` and the edge
 * falls back to `Deno.serve`; `engine/edge/serve_test.ts` fails so the change is noticed.
 *
 * @module
 */

/** The server `serveHttpOnConnection` returns for one connection. */
export interface ConnectionHttp {
  /** Settles when the connection has closed. */
  finished: Promise<void>;
}

/**
 * Serves HTTP on one accepted connection until it closes or `signal` aborts (graceful: a request
 * in flight still gets its response; an idle or half-sent connection closes at once).
 */
export type ServeConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: (request: Request) => Response | Promise<Response>,
  onError: (error: unknown) => Response | Promise<Response>,
) => ConnectionHttp;

type InternalServe = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: (request: Request) => Response | Promise<Response>,
  onError: (error: unknown) => Response | Promise<Response>,
  onListen: (scheme: string) => void,
) => ConnectionHttp;

let closing = false;
let guarded = false;

/**
 * Closes a connection served by {@linkcode ServeConnection} through its abort signal. Deno's abort
 * listener throws `BadResource` when the peer closed the socket first (a race the edge cannot
 * see); thrown from an event listener, that would end the process. The error is dropped here, and
 * only here: the listener runs synchronously inside `abort()`.
 *
 * @param controller The controller whose signal was given to the connection.
 */
export function closeConnection(controller: AbortController): void {
  if (!guarded) {
    guarded = true;
    globalThis.addEventListener("error", (event) => {
      if (closing && event.error instanceof Deno.errors.BadResource) event.preventDefault();
    });
  }
  closing = true;
  try {
    controller.abort();
  } finally {
    closing = false;
  }
}

/**
 * Deno's per-connection HTTP server, when this Deno build has it.
 *
 * @returns The function, or `undefined` when the internal API is missing or has another shape.
 */
export function connectionServer(): ServeConnection | undefined {
  const deno = Deno as unknown as Record<symbol | string, unknown>;
  const key = deno.internal;
  if (typeof key !== "symbol") return undefined;
  const internal = deno[key] as Record<string, unknown> | undefined;
  const serve = internal?.serveHttpOnConnection;
  if (typeof serve !== "function" || serve.length !== 5) return undefined;
  return (conn, signal, handler, onError) =>
    (serve as InternalServe)(conn, signal, handler, onError, () => {});
}
