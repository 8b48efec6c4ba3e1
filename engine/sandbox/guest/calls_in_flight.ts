/**
 * The calls a sandbox is running: each one's {@linkcode CallScope} by message id, and which call
 * the code running now belongs to. The second is an `AsyncLocalStorage`, so a log line, an outbound
 * `fetch`, a call to another bundle or a storage request made anywhere below a call's handler (after
 * any number of awaits) is attributed to that call: its id, its trace context and its deadline.
 *
 * The state lives in a closure, where bundle code cannot reach it through a prototype.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { TraceContext } from "../../base/trace_context.ts";
import { CallScope } from "./call_scope.ts";
import type { WithDeadline } from "./call_runtime.ts";

/** The calls in flight in one sandbox. */
export interface CallsInFlight {
  /** Runs a call's work in its scope: its signal aborts at the deadline or on cancel. */
  withDeadline: WithDeadline;
  /** The message id of the call the running code belongs to, if any. */
  currentId(): number | undefined;
  /** The scope of the call the running code belongs to, if any. */
  current(): CallScope | undefined;
  /** Aborts a call's signal (the engine cancelled it); unknown ids are ignored. */
  abort(id: number, reason: DOMException): void;
}

/**
 * Makes the sandbox's table of calls in flight.
 *
 * @returns The table.
 */
export function callsInFlight(): CallsInFlight {
  const store = new AsyncLocalStorage<number>();
  const scopes = new Map<number, CallScope>();
  const currentId = () => store.getStore();
  return {
    async withDeadline<T>(
      id: number,
      deadline: number,
      work: (scope: CallScope) => Promise<T>,
      traced?: TraceContext,
    ): Promise<T> {
      const scope = new CallScope(deadline, traced);
      scopes.set(id, scope);
      try {
        return await store.run(id, () => work(scope));
      } finally {
        scope.dispose();
        scopes.delete(id);
      }
    },
    currentId,
    current() {
      const id = store.getStore();
      return id === undefined ? undefined : scopes.get(id);
    },
    abort(id, reason) {
      scopes.get(id)?.abort(reason);
    },
  };
}
