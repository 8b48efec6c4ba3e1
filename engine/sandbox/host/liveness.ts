/**
 * Whether a sandbox still answers: heartbeats while it runs, and a probe right after one of its
 * calls timed out, since a timeout may mean a busy loop (docs/architecture.md, "Platform facts":
 * a worker that called `Deno.exit()` is found by its missing heartbeat). A sandbox
 * that misses the heartbeats for `unresponsiveMs`, or does not answer the probe within `probeMs`,
 * is killed as unresponsive.
 *
 * @module
 */
import { type Clock, every, type Repeating } from "../../base/clock.ts";

/** The instance a {@linkcode Liveness} watches. */
export interface LivenessTarget {
  /** Asks the sandbox for a heartbeat reply; rejects when none comes within `timeoutMs`. */
  ping(timeoutMs: number): Promise<unknown>;
  /** Whether the instance has ended already. */
  dead(): boolean;
  /** Ends the instance as unresponsive, saying why. */
  unresponsive(reason: string): void;
}

/** Timings of a {@linkcode Liveness}. */
export interface LivenessOptions {
  /** Heartbeat period, ms. @default {2000} */
  heartbeatMs?: number;
  /** No heartbeat reply for this long and the instance is declared unresponsive, ms. @default {5000} */
  unresponsiveMs?: number;
  /** After a call times out, the instance must answer a ping within this long, ms. @default {1000} */
  probeMs?: number;
  /** The tier's own bound on the probe, when a probe is cheap there (the smaller one applies). */
  tierProbeMs?: number;
}

/** Heartbeats and probes of one instance. */
export class Liveness {
  readonly #clock: Clock;
  readonly #target: LivenessTarget;
  readonly #options: LivenessOptions;
  #heartbeat?: Repeating;
  #lastPong: number;

  /**
   * Watches an instance; heartbeats begin with {@linkcode Liveness.start}.
   *
   * @param clock Time of the heartbeats.
   * @param target The instance.
   * @param options Timings.
   */
  constructor(clock: Clock, target: LivenessTarget, options: LivenessOptions) {
    this.#clock = clock;
    this.#target = target;
    this.#options = options;
    this.#lastPong = clock.now();
  }

  /** Starts periodic heartbeats (again, when they ran). */
  start(): void {
    const period = this.#options.heartbeatMs ?? 2000;
    const limit = this.#options.unresponsiveMs ?? 5000;
    this.#lastPong = this.#clock.now();
    this.#heartbeat?.stop();
    this.#heartbeat = every(this.#clock, period, () => {
      if (this.#target.dead()) return;
      if (this.#clock.now() - this.#lastPong > limit) {
        this.#target.unresponsive(`unresponsive: no heartbeat reply for ${limit} ms`);
        return;
      }
      this.#target.ping(limit).catch(() => {});
    });
  }

  /** A heartbeat reply came. */
  pong(): void {
    this.#lastPong = this.#clock.now();
  }

  /** A call timed out: the instance must prove it is alive, or be evicted. */
  probe(): void {
    const probeMs = Math.min(this.#options.probeMs ?? 1000, this.#options.tierProbeMs ?? Infinity);
    this.#target.ping(probeMs).catch(() => {
      if (this.#target.dead()) return;
      this.#target.unresponsive(
        `unresponsive: no reply to a liveness probe within ${probeMs} ms after a call timed out`,
      );
    });
  }

  /** Stops the heartbeats. */
  stop(): void {
    this.#heartbeat?.stop();
  }
}
