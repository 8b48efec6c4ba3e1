/**
 * A bundle's outbound `fetch`, bounded in time and reported to the engine. A fetch made during a
 * call aborts when the call's deadline passes (or its caller cancels); one made outside any call
 * (a timer, a hook) aborts after {@linkcode DEFAULT_OUTBOUND_TIMEOUT_MS}. Either way the bundle
 * gets a `TimeoutError` naming the host and the reason. Every fetch that settles is reported as an
 * `outbound` message (host name, status, time to headers); the engine folds the host into a label
 * from the bundle's own `net` grants, so a bundle cannot grow the metric's series.
 *
 * @module
 */
import { type Deadline, deadlines } from "../../base/deadlines.ts";
import type { GuestMessage } from "../wire/protocol.ts";

/** How long a fetch made outside any call may take, whole exchange, ms. */
export const DEFAULT_OUTBOUND_TIMEOUT_MS = 30_000;

/** The platform fetch (with the trace context already added) this wraps. */
export type FetchFunction = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/**
 * Wraps a fetch with the deadline and the report.
 *
 * @param next The fetch to call.
 * @param post Sends a message to the engine.
 * @param callSignal The signal of the call being served (aborted at its deadline), if any.
 * @param defaultTimeoutMs The bound outside a call, ms.
 * @returns The wrapped fetch.
 */
export function boundFetch(
  next: FetchFunction,
  post: (message: GuestMessage) => void,
  callSignal: () => AbortSignal | undefined,
  defaultTimeoutMs = DEFAULT_OUTBOUND_TIMEOUT_MS,
): FetchFunction {
  return function fetch(input, init) {
    let host: string;
    try {
      host = new URL(input instanceof Request ? input.url : String(input)).hostname;
    } catch {
      // Not a URL: the platform's own error says so.
      return next(input, init);
    }
    const own = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    let limit = callSignal();
    let timer: Deadline | undefined;
    let why = "the call's deadline passed";
    if (limit === undefined) {
      const controller = new AbortController();
      why = `no answer within ${defaultTimeoutMs} ms (the bound outside a call)`;
      timer = deadlines.schedule(
        Date.now() + defaultTimeoutMs,
        () => controller.abort(new DOMException(why, "TimeoutError")),
      );
      limit = controller.signal;
    }
    const bound = limit;
    const signal = own ? AbortSignal.any([own, bound]) : bound;
    const started = performance.now();
    const report = (status: number, failure?: "timeout" | "error") => {
      const message: GuestMessage = {
        type: "outbound",
        host,
        status,
        durationMs: performance.now() - started,
      };
      if (failure !== undefined) message.failure = failure;
      try {
        post(message);
      } catch {
        // A report never fails the bundle's fetch.
      }
    };
    return next(input, { ...init, signal }).then((response) => {
      // The bound covers the body too: outside a call its timer stays until it fires (an
      // abort after the body was read does nothing).
      report(response.status);
      return response;
    }, (error) => {
      if (timer) deadlines.cancel(timer);
      if (bound.aborted && !own?.aborted) {
        report(0, "timeout");
        throw new DOMException(`fetch to ${host} was aborted: ${why}`, "TimeoutError");
      }
      report(0, "error");
      throw error;
    });
  };
}
