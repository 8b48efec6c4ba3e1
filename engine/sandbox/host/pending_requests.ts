/**
 * The requests the engine has sent to one sandbox and still waits for: calls, fetches, hooks and
 * pings, each with its message id, its deadline on the shared scheduler (`base/deadlines.ts`) and
 * its caller's cancellation. It keeps the count of calls in flight right whichever way a request
 * ends: answered, cancelled, timed out, undeliverable, or failed with its instance.
 *
 * What a timeout or a cancellation then tells the sandbox (a `cancel` message) and what the
 * instance does about a timed-out call (probe its liveness) belong to the instance: the table
 * calls back.
 *
 * @module
 */
import { CallTimeoutError } from "../../base/errors.ts";
import type { DeadlineScheduler } from "../../base/deadlines.ts";
import type { Deadline } from "../../base/deadlines.ts";
import type { AdmittedCall } from "../../call/request.ts";
import type { HostMessage } from "../wire/protocol.ts";

/** What a pending request is. */
export type PendingKind = "call" | "fetch" | "hook" | "ping";

/** One request sent and not yet settled. */
export interface Pending {
  /** Settles its promise with the answer. */
  resolve(value: unknown): void;
  /** Settles its promise with a failure. */
  reject(error: unknown): void;
  /** Its deadline on the scheduler. */
  timer: Deadline;
  /** When the answer is due, epoch ms: an answer that arrives later is a timeout. */
  deadline: number;
  /** The call it serves (calls and fetches only): the parent of the bundle's own requests. */
  call?: AdmittedCall;
  /** What it is. */
  kind: PendingKind;
  /** What errors call it: `Service.method`, `fetch GET`, a hook's name. */
  label: string;
  /** Removes the caller's abort listener, when there is one. */
  unlisten?: () => void;
}

/** What the table needs of its instance. */
export interface PendingHooks {
  /** Why a request cannot be sent now (its instance ended, its caller gave up), if it cannot. */
  refused(label: string, call: AdmittedCall | undefined): Error | undefined;
  /** Sends a request's message; `undeliverable` runs when the message could not be cloned. */
  send(
    message: HostMessage,
    transfer: Transferable[] | undefined,
    undeliverable: (error: unknown) => void,
  ): void;
  /** The caller gave up on this request: fail it (it is already out of the table). */
  cancelled(id: number, pending: Pending): void;
  /** This request's deadline passed: fail it (it is already out of the table). */
  expired(id: number, pending: Pending): void;
}

/** The pending requests of one instance. */
export class PendingRequests {
  readonly #byId = new Map<number, Pending>();
  readonly #deadlines: DeadlineScheduler;
  readonly #hooks: PendingHooks;
  #inflight = 0;
  #nextId = 1;

  /**
   * Creates an empty table.
   *
   * @param deadlines Where deadlines are scheduled.
   * @param hooks Sends messages and fails cancelled and expired requests.
   */
  constructor(deadlines: DeadlineScheduler, hooks: PendingHooks) {
    this.#deadlines = deadlines;
    this.#hooks = hooks;
  }

  /** Requests pending, pings and hooks included. */
  get size(): number {
    return this.#byId.size;
  }

  /** Calls and fetches in flight (hooks and pings excluded). */
  get inflight(): number {
    return this.#inflight;
  }

  /**
   * What the request with this id is, while it is pending.
   *
   * @param id A message id.
   * @returns Its kind, or `undefined` when none is pending under it.
   */
  kindOf(id: number): PendingKind | undefined {
    return this.#byId.get(id)?.kind;
  }

  /**
   * The call a pending request serves.
   *
   * @param id A message id.
   * @returns The call, or `undefined` (no such request, or a hook or ping).
   */
  callOf(id: number): AdmittedCall | undefined {
    return this.#byId.get(id)?.call;
  }

  /**
   * Sends a request and waits for its answer, its deadline or its caller's cancellation.
   *
   * @param kind What it is.
   * @param label What errors call it.
   * @param deadline When the answer is due, epoch ms.
   * @param call The call it serves; its `signal` cancels it.
   * @param build The message, given the request's id.
   * @param transfer Buffers moved with the message.
   * @returns The answer, as {@linkcode PendingRequests.take} settles it; a request the instance
   * refuses (`refused`) fails at once and is not sent.
   */
  open(
    kind: PendingKind,
    label: string,
    deadline: number,
    call: AdmittedCall | undefined,
    build: (id: number) => HostMessage,
    transfer?: Transferable[],
  ): Promise<unknown> {
    const refusal = this.#hooks.refused(label, call);
    if (refusal) return Promise.reject(refusal);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = this.#deadlines.schedule(deadline, () => this.#expire(id));
      const pending: Pending = { resolve, reject, timer, deadline, kind, label };
      if (call) pending.call = call;
      const signal = call?.signal;
      if (signal) {
        const onAbort = () => this.#cancel(id);
        signal.addEventListener("abort", onAbort, { once: true });
        pending.unlisten = () => signal.removeEventListener("abort", onAbort);
      }
      this.#byId.set(id, pending);
      if (kind === "call" || kind === "fetch") this.#inflight++;
      const undeliverable = (error: unknown) => {
        if (!this.take(id)) return;
        reject(new TypeError(`Cannot send to bundle: ${(error as Error).message}`));
      };
      try {
        this.#hooks.send(build(id), transfer, undeliverable);
      } catch (error) {
        this.take(id);
        reject(new TypeError(`Cannot send to bundle: ${(error as Error).message}`));
      }
    });
  }

  /**
   * Removes a pending request (and its deadline and abort listener); the caller settles it.
   *
   * @param id A message id.
   * @returns The request, or `undefined` when none is pending under `id`.
   */
  take(id: number): Pending | undefined {
    const pending = this.#byId.get(id);
    if (!pending) return undefined;
    this.#byId.delete(id);
    this.#deadlines.cancel(pending.timer);
    pending.unlisten?.();
    if (pending.kind === "call" || pending.kind === "fetch") this.#inflight--;
    return pending;
  }

  /**
   * Fails every pending request with `error` (its instance ended).
   *
   * @param error What each caller gets.
   */
  failAll(error: unknown): void {
    for (const id of [...this.#byId.keys()]) this.take(id)!.reject(error);
  }

  #cancel(id: number): void {
    const pending = this.take(id);
    if (pending) this.#hooks.cancelled(id, pending);
  }

  #expire(id: number): void {
    const pending = this.take(id);
    if (!pending) return;
    if (pending.kind === "ping") {
      pending.reject(new CallTimeoutError("Heartbeat timed out"));
      return;
    }
    this.#hooks.expired(id, pending);
  }
}
