/**
 * What a call handler of the guest runtime needs of the runtime (`service_call.ts`,
 * `fetch_call.ts`): the channel to the engine, the call scope, the bundle's `ctx` and trace
 * context, and the body streams.
 *
 * @module
 */
import type { GuestMessage, WireError } from "../wire/protocol.ts";
import type { BundleContext } from "../../sdk/types.ts";
import type { TraceContext } from "../../base/trace_context.ts";
import type { CallScope } from "./call_scope.ts";
import type { GuestStreams } from "./guest_streams.ts";
import type { GuestTrace } from "./trace_context.ts";

/** Runs work in a call scope whose signal aborts at the deadline or on cancel. */
export type WithDeadline = <T>(
  id: number,
  deadline: number,
  work: (scope: CallScope) => Promise<T>,
  traced?: TraceContext,
) => Promise<T>;

/** The runtime's parts every call handler uses. */
export interface CallRuntime {
  /** Sends a message to the engine. */
  post(message: GuestMessage, transfer?: Transferable[]): void;
  /** Answers a call with an error. */
  replyError(id: number, error: WireError): void;
  /** Runs the call in its scope. */
  withDeadline: WithDeadline;
  /** The `ctx` of a call. */
  context(scope: CallScope): BundleContext;
  /** The bundle's trace context operations. */
  trace: GuestTrace;
  /** Body streams of requests, responses and results. */
  streams: GuestStreams;
}
