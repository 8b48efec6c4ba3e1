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

/** Longest any single NATS call of cluster mode may take, ms. */
export const NATS_CALL_TIMEOUT_MS = 5_000;

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

  #set(connected: boolean): void {
    if (connected === this.#connected) return;
    this.#connected = connected;
    for (const listener of this.#listeners) listener(connected ? "up" : "down");
  }

  /**
   * Runs one NATS call with the cluster-mode bound, mapping failures to `UNAVAILABLE`.
   *
   * @param what What the call does, for the message ("read bundle hello").
   * @param call The call.
   * @param timeoutMs Its bound.
   * @returns The call's result.
   * @throws {BundlehostError} `UNAVAILABLE` when NATS is unreachable or too slow; errors the
   * call throws as `BundlehostError` pass through unchanged.
   */
  async run<T>(what: string, call: () => Promise<T>, timeoutMs = NATS_CALL_TIMEOUT_MS): Promise<T> {
    if (!this.connected) throw unavailable(what, "no NATS server is reachable");
    let timer: TimerHandle | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = this.#clock.setTimeout(
        () => reject(unavailable(what, `no answer within ${timeoutMs} ms`)),
        timeoutMs,
        { unref: true },
      );
    });
    try {
      return await Promise.race([call(), late]);
    } catch (error) {
      if (error instanceof BundlehostError) throw error;
      throw unavailable(what, error instanceof Error ? error.message : String(error));
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
  }
}

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
