/**
 * `ANY /b/:bundleId/*`: a bundle's own HTTP handler, under its prefix and confined to it
 * (`origin.ts`). Like `/rpc`, it is a hot route, so the plugin answers it without the router when
 * the path is plainly of that shape (see {@linkcode bundlePageTarget}); the router serves the same
 * handler for every other shape, so both give the same replies.
 *
 * @module
 */
import type { Engine } from "../../engine/engine.ts";
import { pathOf, withPath } from "../../engine/edge/http.ts";
import { readTraceContext } from "../../engine/base/trace_context.ts";
import { errorResponse } from "./errors.ts";
import { timeoutHeader } from "./call_headers.ts";
import { confineHeaders, confineResponse, isServiceWorkerScript } from "./origin.ts";

/** Answers one `/b/:bundleId/*` request; throws what the plugin's error reply turns into a status. */
export type BundlePageHandler = (request: Request, bundleId: string) => Promise<Response>;

/**
 * The `/b/:bundleId/*` handler of an engine.
 *
 * @param engine The engine.
 * @returns The handler.
 */
export function bundlePageHandler(engine: Engine): BundlePageHandler {
  return async (request, id) => {
    // Bundle pages share the engine's origin: see origin.ts for how a response is confined.
    if (isServiceWorkerScript(request)) {
      return confineResponse(
        errorResponse(403, "FORBIDDEN", "Service workers cannot be installed from /b/ paths"),
        `/b/${id}`,
      );
    }
    // The URL the bundle sees: the request's, without the prefix (cut where the id ends as
    // sent: an escaped id is longer than the decoded one).
    const prefix = `/b/${id}`;
    const path = pathOf(request.url);
    const rest = path.indexOf("/", 3);
    const url = withPath(request.url, rest < 0 ? "/" : path.slice(rest));
    const headers = request.headers;
    const timeoutMs = timeoutHeader(headers.get("x-timeout-ms") ?? undefined);
    const response = await engine.fetchBundle(id, request, {
      url,
      setHeaders: [["x-forwarded-prefix", prefix]],
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...readTraceContext(headers),
      // Aborts when the client disconnects: the bundle's ctx.signal aborts too.
      signal: request.signal,
      responseHeaders: (list) => confineHeaders(list, prefix),
    });
    // A WebSocket's 101 is the runtime's own response, confined here.
    return response.status === 101 ? confineResponse(response, prefix) : response;
  };
}

/**
 * The bundle id of a `/b/:bundleId/…` request the plugin may answer without the router:
 * any method but `HEAD` (the router answers `HEAD` as a `GET` without a body), an id with no
 * escape, and a `/` after it. `undefined` for any other shape (the router then answers it).
 *
 * @param method The request method.
 * @param path The request path.
 * @returns The bundle id, or `undefined`.
 */
export function bundlePageTarget(method: string, path: string): string | undefined {
  if (method === "HEAD" || !path.startsWith("/b/")) return undefined;
  const slash = path.indexOf("/", 3);
  if (slash <= 3) return undefined;
  const id = path.slice(3, slash);
  return id.includes("%") ? undefined : id;
}
