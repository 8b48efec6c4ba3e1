/**
 * `POST /rpc/:service/:method`: the body is the method's JSON input, the reply
 * `{"result": …}` with `x-bundle` (and `x-degraded` when a fallback served). It is the hottest
 * route, so the plugin also answers it without the router (see {@linkcode rpcTarget}).
 *
 * @module
 */
import type { Engine } from "../../engine/engine.ts";
import type { CallRequest } from "../../engine/call/request.ts";
import { errorResponse } from "./errors.ts";
import { readTraceContext } from "../../engine/base/trace_context.ts";
import { jsonBody, routeFromHeaders, timeoutHeader } from "./call_headers.ts";
import { resultStreamType } from "../../engine/sandbox/host/stream_table.ts";

/** Answers one `/rpc` call; throws what the plugin's error reply turns into a status. */
export type RpcHandler = (request: Request, service: string, method: string) => Promise<Response>;

/**
 * The `/rpc` handler of an engine.
 *
 * @param engine The engine.
 * @param maxBodyBytes Largest body accepted.
 * @returns The handler.
 */
export function rpcHandler(engine: Engine, maxBodyBytes: number): RpcHandler {
  return async (request, service, method) => {
    const input = await jsonBody(request, maxBodyBytes);
    const headers = request.headers;
    const route = routeFromHeaders(headers);
    const timeoutMs = timeoutHeader(headers.get("x-timeout-ms") ?? undefined);
    const trace = readTraceContext(headers);
    const call: CallRequest = {
      service,
      method,
      input,
      // Aborts when the client disconnects: the bundle stops working on an answer nobody reads.
      signal: request.signal,
    };
    if (route) call.route = route;
    if (timeoutMs !== undefined) call.timeoutMs = timeoutMs;
    if (trace !== undefined) {
      call.traceparent = trace.traceparent;
      if (trace.tracestate !== undefined) call.tracestate = trace.tracestate;
    }
    const outcome = await engine.invoke(call);
    if (outcome.result instanceof ReadableStream) return streamReply(outcome);
    let body: string;
    try {
      body = JSON.stringify({ result: outcome.result ?? null });
    } catch (error) {
      return errorResponse(
        502,
        "BUNDLE_ERROR",
        `Bundle ${outcome.bundle} returned a result that is not JSON: ${(error as Error).message}`,
      );
    }
    // A header list, not a Headers object: one less object per call.
    const reply: [string, string][] = [
      ["content-type", "application/json"],
      ["x-bundle", outcome.bundle],
    ];
    if (outcome.degraded) reply.push(["x-degraded", outcome.degraded]);
    return new Response(body, { status: 200, headers: reply });
  };
}

/**
 * A method's stream result, sent as produced (README, "Streaming and WebSockets"): the body is the
 * stream's bytes (`application/octet-stream`) or one JSON value per line (`application/x-ndjson`).
 */
function streamReply(outcome: { result: unknown; bundle: string; degraded?: string }): Response {
  const body = outcome.result as ReadableStream<Uint8Array>;
  const headers: [string, string][] = [
    ["content-type", resultStreamType(body) ?? "application/octet-stream"],
    ["x-bundle", outcome.bundle],
  ];
  if (outcome.degraded) headers.push(["x-degraded", outcome.degraded]);
  return new Response(body, { status: 200, headers });
}

/**
 * The service and method of a `POST /rpc/:service/:method` path, decoded as the router decodes
 * its parameters; `undefined` for any other shape (the router then answers it, 404 included).
 *
 * @param method The request method.
 * @param path The request path.
 * @returns The two segments, or `undefined`.
 */
export function rpcTarget(
  method: string,
  path: string,
): { service: string; method: string } | undefined {
  if (method !== "POST" || !path.startsWith("/rpc/")) return undefined;
  const slash = path.indexOf("/", 5);
  if (slash <= 5 || slash === path.length - 1 || path.indexOf("/", slash + 1) >= 0) {
    return undefined;
  }
  const service = decoded(path.slice(5, slash));
  const name = decoded(path.slice(slash + 1));
  return service === undefined || name === undefined ? undefined : { service, method: name };
}

function decoded(segment: string): string | undefined {
  if (!segment.includes("%")) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined; // The router decides what a malformed escape means.
  }
}
