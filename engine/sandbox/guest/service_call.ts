/**
 * A service call in the sandbox: the named method of the loaded bundle runs in its call scope and
 * its result goes back as a reply, or, when it is a `ReadableStream`, as its first bytes in the
 * reply and the rest as a body stream.
 *
 * @module
 */
import type { HostMessage } from "../wire/protocol.ts";
import { toWireError } from "../wire/wire_error.ts";
import type { ServiceEntry } from "./bundle_definition.ts";
import type { CallRuntime } from "./call_runtime.ts";
import { MAX_RESPONSE_BYTES } from "./fetch_response.ts";
import { encodeResultStream, startBody } from "./guest_streams.ts";
import { traceOf } from "./trace_context.ts";

/** What a service call needs of the runtime besides what every call does. */
export interface ServiceCallRuntime extends CallRuntime {
  /** The loaded bundle's services by name. */
  services: ReadonlyMap<string, ServiceEntry>;
  /** Answers a call with a value. */
  replyValue(id: number, value: unknown): void;
}

/** Serves one service call. */
export type ServiceCall = (msg: Extract<HostMessage, { type: "call" }>) => Promise<void>;

/**
 * Makes the runtime's service call handler.
 *
 * @param runtime What the handler needs of the runtime.
 * @returns The handler.
 */
export function makeServiceCall(runtime: ServiceCallRuntime): ServiceCall {
  const { services, trace, streams } = runtime;

  /** A method's stream result: its first bytes in the reply, the rest as a body stream. */
  async function replyStream(id: number, value: ReadableStream<unknown>): Promise<void> {
    const { body, contentType } = await encodeResultStream(value);
    const start = await startBody(body, MAX_RESPONSE_BYTES);
    const bytes = start.bytes ?? new Uint8Array(0);
    runtime.post({ type: "reply", id, ok: true, value: bytes, stream: contentType }, [
      bytes.buffer,
    ]);
    if (start.rest) {
      void streams.sendBody(id, start.rest, bytes.byteLength, MAX_RESPONSE_BYTES, () => {});
    } else runtime.post({ type: "stream-end", stream: id });
  }

  return async (msg) => {
    const entry = services.get(msg.service);
    const method = entry?.methods.get(msg.method);
    if (!entry || !method) {
      runtime.replyError(msg.id, {
        name: "NotFoundError",
        message: entry
          ? `Service ${msg.service} has no method "${msg.method}"`
          : `Bundle does not implement service ${msg.service}`,
        code: "NOT_FOUND",
        source: "runtime",
      });
      return;
    }
    try {
      // In the try: a realm whose string or regex methods the bundle broke fails this call only.
      const traced = traceOf(msg);
      const value = await runtime.withDeadline(msg.id, msg.deadline, async (scope) => {
        const ctx = runtime.context(scope);
        return await trace.run(traced, () => method.call(entry.target, msg.input, ctx));
      }, traced);
      if (value instanceof ReadableStream) await replyStream(msg.id, value);
      else runtime.replyValue(msg.id, value);
    } catch (error) {
      runtime.replyError(msg.id, toWireError(error));
    }
  };
}
