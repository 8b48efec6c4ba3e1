/**
 * Whether the engine can reach NATS now, and the one wrapper every NATS call of cluster mode goes
 * through: a call made while the connection is down fails at once, a call that takes longer than
 * its bound fails, and either way the caller gets `UNAVAILABLE` (503 on the admin API) naming
 * the cause, never a client library error.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { BundlehostError } from "../base/errors.ts";
import { type Clock, systemClock, type TimerHandle } from "../base/clock.ts";

/** Longest one NATS request may take (the client's own timeout), ms. */
export const NATS_CALL_TIMEOUT_MS = 5_000;

/**
 * Longest one operation of cluster mode may take with its retries, ms: long enough for a
 * replicated stream to elect a new leader after a server died.
 */
export const CALL_BOUND_MS = 15_000;

/** Pause between two tries of an idempotent call, ms. */
const RETRY_PAUSE_MS = 250;

/**
 * How long a call made while the connection is down waits for it to come back, ms: losing one
 * server only moves the client to another, which takes a fraction of this.
 */
export const RECONNECT_GRACE_MS = 2_000;

/** Tracks the connection's state from its status events. */
export class Availability {
  #connected = true;
  #closed = false;
  readonly #clock: Clock;
  readonly #listeners = new Set<(event: "up" | "down") => void>();

  /**
   * Follows `nc`'s status events until it closes.
   *
   * @param nc The cluster connection.
   * @param clock Time of the call bounds.
   */
  constructor(nc: NatsConnection, clock: Clock = systemClock) {
    this.#clock = clock;
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect" || status.type === "staleConnection") {
          this.#set(false);
        } else if (status.type === "reconnect") this.#set(true);
      }
    })().catch(() => {});
    nc.closed().then(() => {
      this.#closed = true;
      this.#set(false);
    });
  }

  /** Whether NATS answers now (as far as the client knows). */
  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  /**
   * Calls `listener` on every change of reachability.
   *
   * @param listener Told `up` when the connection is back, `down` when it is lost.
   */
  onChange(listener: (event: "up" | "down") => void): void {
    this.#listeners.add(listener);
  }

  /** Waits up to `ms` for the connection to come back; whether it did. */
  #reconnected(ms: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const listener = (event: "up" | "down") => {
        if (event !== "up") return;
        this.#listeners.delete(listener);
        this.#clock.clearTimeout(timer);
        resolve(true);
      };
      const timer = this.#clock.setTimeout(
        () => {
          this.#listeners.delete(listener);
          resolve(this.connected);
        },
        ms,
        { unref: true },
      );
      this.#listeners.add(listener);
    });
  }

  #set(connected: boolean): void {
    if (connected === this.#connected) return;
    this.#connected = connected;
    for (const listener of this.#listeners) listener(connected ? "up" : "down");
  }

  /**
   * Runs one NATS call within the cluster-mode bound, mapping failures to `UNAVAILABLE`. An
   * idempotent call that fails (a server died, a stream is electing its leader) is tried again
   * until the bound.
   *
   * @param what What the call does, for the message ("read bundle hello").
   * @param call The call.
   * @param options `boundMs`: the whole bound; `retry`: whether the call may be tried again.
   * @returns The call's result.
   * @throws {BundlehostError} `UNAVAILABLE` when NATS is unreachable or too slow; errors the
   * call throws as `BundlehostError` pass through unchanged.
   */
  async run<T>(
    what: string,
    call: () => Promise<T>,
    options: { boundMs?: number; retry?: boolean } = {},
  ): Promise<T> {
    const boundMs = options.boundMs ?? CALL_BOUND_MS;
    const deadline = this.#clock.now() + boundMs;
    for (;;) {
      if (!this.connected && !(await this.#reconnected(RECONNECT_GRACE_MS))) {
        throw unavailable(what, "no NATS server is reachable");
      }
      try {
        return await this.#within(call, Math.max(1, deadline - this.#clock.now()));
      } catch (error) {
        if (error instanceof BundlehostError) throw error;
        const why = error === LATE
          ? `no answer within ${boundMs} ms`
          : error instanceof Error
          ? error.message
          : String(error);
        if (options.retry === false || this.#clock.now() + RETRY_PAUSE_MS >= deadline) {
          throw unavailable(what, why);
        }
      }
      await this.pause(RETRY_PAUSE_MS);
    }
  }

  /**
   * Waits, on the cluster clock.
   *
   * @param ms How long.
   */
  pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => this.#clock.setTimeout(resolve, ms, { unref: true }));
  }

  async #within<T>(call: () => Promise<T>, ms: number): Promise<T> {
    let timer: TimerHandle | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = this.#clock.setTimeout(() => reject(LATE), ms, { unref: true });
    });
    try {
      return await Promise.race([call(), late]);
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
  }
}

/** What a call that ran out of time rejects with. */
const LATE = Symbol("late");

/**
 * The `UNAVAILABLE` error of a NATS call that failed.
 *
 * @param what What the call did.
 * @param why Why it failed.
 * @returns The error.
 */
export function unavailable(what: string, why: string): BundlehostError {
  return new BundlehostError("UNAVAILABLE", `Cluster registry unavailable (${what}): ${why}`);
}
