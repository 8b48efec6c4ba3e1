/**
 * Requests a guest makes of the engine (calls to other bundles, event publishes), turned from
 * untrusted messages into engine records. The engine, not the guest, decides deadline and hops:
 * they come from the call the message was made in.
 *
 * @module
 */
import type { GuestMessage } from "../wire/protocol.ts";
import type { CallRecord, OutboundCall, OutboundPublish } from "./types.ts";

/**
 * The call record with the guest's own trace context (a span the bundle made) in place of the
 * call's, when the guest's lies in the same trace; otherwise the record unchanged. A guest cannot
 * move its calls or logs into another request's trace.
 *
 * @param record The engine's record of the call the message was made in.
 * @param message The guest message, with its own trace context if any.
 * @returns The record to parent the request with.
 */
export function withGuestTrace(
  record: CallRecord | undefined,
  message: { traceparent?: string },
): CallRecord | undefined {
  const own = message.traceparent;
  if (!record || own === undefined || own === record.traceparent) return record;
  // Both are validated W3C values: "vv-<trace id>-<span id>-ff"; the trace id is chars 3..35.
  if (record.traceparent !== undefined && own.slice(3, 35) !== record.traceparent.slice(3, 35)) {
    return record;
  }
  return { ...record, traceparent: own };
}

/**
 * The broker call a guest asked for.
 *
 * @param message The validated `broker-call` message.
 * @param parent The engine's record of the call it was made in, if any.
 * @returns The call to route.
 */
export function outboundCall(
  message: Extract<GuestMessage, { type: "broker-call" }>,
  parent: CallRecord | undefined,
): OutboundCall {
  const call: OutboundCall = {
    service: message.service,
    method: message.method,
    input: message.input,
  };
  if (message.route !== undefined) call.route = message.route;
  if (message.timeoutMs !== undefined) call.timeoutMs = message.timeoutMs;
  const traced = withGuestTrace(parent, message);
  if (traced) call.parent = traced;
  return call;
}

/**
 * The event a guest asked to publish.
 *
 * @param message The validated `publish` message (payload as JSON text).
 * @param parent The engine's record of the call it was made in, if any.
 * @returns The event to store.
 * @throws {TypeError} When the payload is not JSON.
 */
export function outboundPublish(
  message: Extract<GuestMessage, { type: "publish" }>,
  parent: CallRecord | undefined,
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
