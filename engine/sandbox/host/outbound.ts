/**
 * Requests a guest makes of the engine (calls to other bundles, event publishes), turned from
 * untrusted messages into engine records. The engine, not the guest, decides deadline and hops:
 * they come from the call the message was made in.
 *
 * @module
 */
import type { GuestMessage } from "../wire/protocol.ts";
import type { AdmittedCall } from "../../call/request.ts";
import type { OutboundPublish } from "./types.ts";
import { type TraceContext, traceIdOf } from "../../base/trace_context.ts";

/** The trace context of a call, if it has one. */
function contextOf(call: AdmittedCall | undefined): TraceContext | undefined {
  if (call?.traceparent === undefined) return undefined;
  return call.tracestate === undefined
    ? { traceparent: call.traceparent }
    : { traceparent: call.traceparent, tracestate: call.tracestate };
}

/**
 * The trace context a guest request runs under: the guest's own (a span the bundle made) when it
 * lies in the same trace as the call it was made in, otherwise the call's. A guest cannot move its
 * calls or logs into another request's trace.
 *
 * @param parent The call the message was made in.
 * @param message The guest message, with its own trace context if any.
 * @returns The trace context to use, if any.
 */
export function guestTrace(
  parent: AdmittedCall | undefined,
  message: { traceparent?: string; tracestate?: string },
): TraceContext | undefined {
  const own = message.traceparent;
  if (own === undefined) return contextOf(parent);
  if (!parent) return undefined;
  // Both are validated version-00 values.
  if (parent.traceparent !== undefined && traceIdOf(own) !== traceIdOf(parent.traceparent)) {
    return contextOf(parent);
  }
  // A span the bundle made carries no trace state of its own: the call's goes on with it.
  const tracestate = message.tracestate ?? parent.tracestate;
  return tracestate === undefined ? { traceparent: own } : { traceparent: own, tracestate };
}

/**
 * The call with the guest's own trace context in place of its own, when {@linkcode guestTrace}
 * allows it; otherwise the call unchanged.
 *
 * @param call The call the message was made in.
 * @param message The guest message, with its own trace context if any.
 * @returns The call to parent the request with.
 */
export function withGuestTrace(
  call: AdmittedCall | undefined,
  message: { traceparent?: string; tracestate?: string },
): AdmittedCall | undefined {
  if (!call) return call;
  const trace = guestTrace(call, message);
  if (trace?.traceparent === call.traceparent && trace?.tracestate === call.tracestate) return call;
  const traced: AdmittedCall = { ...call, traceparent: trace!.traceparent };
  if (trace!.tracestate === undefined) delete traced.tracestate;
  else traced.tracestate = trace!.tracestate;
  return traced;
}

/**
 * The event a guest asked to publish.
 *
 * @param message The validated `publish` message (payload as JSON text).
 * @param parent The call it was made in.
 * @returns The event to store.
 * @throws {TypeError} When the payload is not JSON.
 */
export function outboundPublish(
  message: Extract<GuestMessage, { type: "publish" }>,
  parent: AdmittedCall | undefined,
): OutboundPublish {
  let payload: unknown;
  try {
    payload = JSON.parse(message.data);
  } catch {
    throw new TypeError("Event payload is not JSON");
  }
  const event: OutboundPublish = { topic: message.topic, payload };
  const traced = withGuestTrace(parent, message);
  if (traced) event.parent = traced;
  return event;
}
