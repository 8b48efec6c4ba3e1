/**
 * The cancellation scope of one call inside a sandbox. `ctx.signal` is created only when the
 * bundle reads it: most methods never do, and an AbortController plus a deadline timer per call
 * was a fifth of the guest's time per call. A deadline or cancel that arrives first is
 * remembered, so a signal read later is already aborted. The request a fetch handler gets reads
 * its `signal` from here too (`call_request.ts`), so a handler that never reads it costs nothing.
 *
 * @module
 */
import { type Deadline, deadlines } from "../../base/deadlines.ts";
import type { TraceContext } from "../../base/trace_context.ts";

/** One call's lazily created abort signal. */
export class CallScope {
  /** The call's absolute deadline, epoch ms. */
  readonly deadline: number;
  /** The call's trace context, if it is traced. */
  readonly trace: TraceContext | undefined;
  #controller?: AbortController;
  #reason?: DOMException;
  #timer?: Deadline;
  #disposed = false;

  /**
   * Creates the scope; nothing is allocated until {@linkcode CallScope.signal} is read.
   *
   * @param deadline Absolute deadline, epoch ms.
   * @param trace The call's trace context, if it is traced.
   */
  constructor(deadline: number, trace?: TraceContext) {
    this.deadline = deadline;
    this.trace = trace;
  }

  /** The call's abort signal: aborted at the deadline or on cancel. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      // Read after the call returned (a streamed body's pull), the deadline no longer applies, as
      // it does not to a signal made during the call (`dispose` cancelled its timer).
      if (this.#reason) this.#controller.abort(this.#reason);
      else if (this.#disposed) return this.#controller.signal;
      else if (this.deadline <= Date.now()) this.#expire();
      else this.#timer = deadlines.schedule(this.deadline, () => this.#expire());
    }
    return this.#controller.signal;
  }

  /**
   * Aborts the call (the caller cancelled it).
   *
   * @param reason Why.
   */
  abort(reason: DOMException): void {
    this.#reason ??= reason;
    this.#controller?.abort(this.#reason);
  }

  /** Releases the deadline timer once the call is over. */
  dispose(): void {
    this.#disposed = true;
    if (this.#timer) deadlines.cancel(this.#timer);
  }

  #expire(): void {
    this.abort(new DOMException("Call deadline exceeded", "TimeoutError"));
  }
}
