/**
 * Requests a sandbox sends to the engine (broker calls, event publishes) and the replies that
 * settle them: one table of pending promises, keyed by a request id the sandbox chooses.
 *
 * @module
 */
import type { TraceContext } from "../../base/trace_context.ts";
import type { WireError } from "../wire/protocol.ts";

/** Error raised inside a bundle when a request to the engine fails; keeps the remote name and code. */
export class BrokerCallError extends Error {
  /** Stable code from the engine (e.g. `"TIMEOUT"`, `"NOT_FOUND"`). */
  readonly code: string | undefined;

  /**
   * Creates the error.
   *
   * @param name Error name as reported.
   * @param message Error message.
   * @param code Stable code.
   */
  constructor(name: string, message: string, code?: string) {
    super(message);
    this.name = name;
    this.code = code;
  }
}

/** A reply from the engine to one request. */
export type Reply = { id: number; ok: true; value: unknown } | {
  id: number;
  ok: false;
  error: WireError;
};

/** What every request carries about where it was made. */
export interface RequestOrigin {
  /** The engine call being served when the request was made. */
  callId?: number;
  /** The sandbox's active W3C trace context. */
  traceparent?: string;
  /** The `tracestate` that goes with it. */
  tracestate?: string;
}

/** Pending requests of one kind. */
export class ReplyTable {
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  readonly #currentCall: () => number | undefined;
  readonly #currentTrace: () => TraceContext | undefined;
  #nextId = 1;

  /**
   * Creates an empty table.
   *
   * @param currentCall Id of the engine call being served, if any.
   * @param currentTrace The active W3C trace context, if any.
   */
  constructor(
    currentCall: () => number | undefined,
    currentTrace: () => TraceContext | undefined,
  ) {
    this.#currentCall = currentCall;
    this.#currentTrace = currentTrace;
  }

  /**
   * Sends a request and waits for its reply.
   *
   * @param send Posts the request for the given id and origin; a throw rejects at once.
   * @returns The reply's value.
   * @throws {BrokerCallError} When the engine answers with an error.
   */
  request<T>(send: (id: number, origin: RequestOrigin) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const origin: RequestOrigin = {};
      const callId = this.#currentCall();
      if (callId !== undefined) origin.callId = callId;
      const trace = this.#currentTrace();
      if (trace !== undefined) {
        origin.traceparent = trace.traceparent;
        if (trace.tracestate !== undefined) origin.tracestate = trace.tracestate;
      }
      try {
        send(id, origin);
      } catch (error) {
        this.#pending.delete(id);
        reject(error);
      }
    });
  }

  /**
   * Settles the request a reply answers (replies to unknown ids are ignored).
   *
   * @param reply The engine's reply.
   */
  settle(reply: Reply): void {
    const waiter = this.#pending.get(reply.id);
    if (!waiter) return;
    this.#pending.delete(reply.id);
    if (reply.ok) waiter.resolve(reply.value);
    else {waiter.reject(
        new BrokerCallError(reply.error.name, reply.error.message, reply.error.code),
      );}
  }
}
