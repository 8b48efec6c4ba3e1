/**
 * A `fetch` call in the sandbox: the engine's request as data becomes a `Request` for the bundle's
 * fetch handler (a streamed body and a WebSocket upgrade are the runtime's), and the handler's
 * `Response` goes back as a head with its first bytes, the rest as a body stream.
 *
 * @module
 */
import type { HostMessage, WireRequest } from "../wire/protocol.ts";
import { toWireError } from "../wire/wire_error.ts";
import type { BundleDefinition } from "../../sdk/types.ts";
import type { TraceContext } from "../../base/trace_context.ts";
import type { CallRuntime } from "./call_runtime.ts";
import type { CallScope } from "./call_scope.ts";
import { CallRequest } from "./call_request.ts";
import { MAX_RESPONSE_BYTES, readResponse, responseMessage } from "./fetch_response.ts";
import type { GuestSockets } from "./guest_socket.ts";
import { traceOf } from "./trace_context.ts";

/** What a fetch call needs of the runtime besides what every call does. */
export interface FetchCallRuntime extends CallRuntime {
  /** The loaded bundle's fetch handler, if it has one. */
  handler(): BundleDefinition["fetch"];
  /** WebSockets of upgraded requests. */
  sockets: GuestSockets;
}

/** Serves one `fetch` call (its message: id, the request as data, deadline, trace context). */
export type FetchCall = (msg: Extract<HostMessage, { type: "call" }>) => Promise<void>;

/**
 * A request's headers with the context the bundle runs in: its `traceparent` (the engine's span)
 * and `tracestate`. Every other header arrives as the caller sent it.
 */
function withTrace(headers: [string, string][], trace: TraceContext): [string, string][] {
  const kept = headers.filter(([name]) => {
    const lower = name.toLowerCase();
    return lower !== "traceparent" && lower !== "tracestate";
  });
  kept.push(["traceparent", trace.traceparent]);
  if (trace.tracestate !== undefined) kept.push(["tracestate", trace.tracestate]);
  return kept;
}

/**
 * Makes the runtime's `fetch` call handler.
 *
 * @param runtime What the handler needs of the runtime.
 * @returns The handler.
 */
export function makeFetchCall(runtime: FetchCallRuntime): FetchCall {
  const { streams, sockets, trace } = runtime;

  /** The request a fetch handler gets: a streamed body and an upgrade are the runtime's. */
  function requestOf(id: number, wire: WireRequest, scope: CallScope, traced?: TraceContext) {
    const headers = traced === undefined ? wire.headers : withTrace(wire.headers, traced);
    if (wire.upgrade) headers.push(["connection", "Upgrade"], ["upgrade", "websocket"]);
    const request = new CallRequest(wire.url, {
      method: wire.method,
      headers,
      body: wire.stream ? streams.requestBody(id) : wire.body,
    }, scope);
    if (wire.upgrade) sockets.allow(request, id);
    return request;
  }

  return async (msg) => {
    const { id, deadline } = msg;
    const wire = msg.input as WireRequest;
    const handler = runtime.handler();
    if (!handler) {
      runtime.replyError(id, {
        name: "NotFoundError",
        message: "Bundle has no fetch handler",
        code: "NOT_FOUND",
        source: "runtime",
      });
      return;
    }
    let scope: CallScope | undefined;
    try {
      // In the try: a realm whose string or regex methods the bundle broke fails this call only.
      const traced = traceOf(msg);
      const head = await runtime.withDeadline(id, deadline, async (s) => {
        scope = s;
        const request = requestOf(id, wire, s, traced);
        const ctx = runtime.context(s);
        const response = await trace.run(traced, () => handler(request, ctx));
        if (!(response instanceof Response)) {
          throw new TypeError("fetch handler must return a Response");
        }
        return await readResponse(response, sockets.accepted(response) !== undefined);
      }, traced);
      const { start } = head;
      const body = start.bytes;
      runtime.post(responseMessage(id, head), body ? [body.buffer] : undefined);
      if (start.rest) {
        void streams.sendBody(
          id,
          start.rest,
          body?.byteLength ?? 0,
          MAX_RESPONSE_BYTES,
          (why) => scope?.abort(new DOMException(why, "AbortError")),
        );
      }
    } catch (error) {
      runtime.replyError(id, toWireError(error));
    }
  };
}
