/**
 * What a guest request made outside any call (a timer, `onStart`, a raw message) inherits: the
 * hops and trace of the deepest call the instance served lately. The deepest, not the last, so
 * calls at hop 0 (which anyone can make over HTTP) cannot reset the count of a loop.
 *
 * @module
 */
import { type Clock, systemClock } from "../../base/clock.ts";
import type { AdmittedCall } from "../../call/request.ts";

/** Hops and trace a detached guest request inherits. */
export interface Inherited {
  /** Hops of the deepest recent call. */
  hops: number;
  /** Its trace context, if any. */
  traceparent?: string;
  /** The `tracestate` that goes with it. */
  tracestate?: string;
}

/** How long a call's hop count is remembered, ms: one or two windows of this length. */
export const HOP_WINDOW_MS = 5_000;

/**
 * The deepest call of the current and the previous window.
 *
 * @example Remember two calls
 * ```ts
 * import { HopMemory } from "./hop_memory.ts";
 * const memory = new HopMemory();
 * const call = { service: "S", method: "m", input: null, deadline: 0 };
 * memory.remember({ ...call, hops: 5 });
 * memory.remember({ ...call, hops: 0 });
 * console.log(memory.inherited().hops); // 5
 * ```
 */
export class HopMemory {
  #at: number;
  #current: Inherited = { hops: 0 };
  #previous: Inherited = { hops: 0 };
  readonly #clock: Clock;

  /**
   * Creates an empty memory.
   *
   * @param clock Time source. @default {systemClock}
   */
  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
    this.#at = clock.now();
  }

  /** The deepest call of the last one or two windows. */
  inherited(): Inherited {
    const now = this.#clock.now();
    if (now - this.#at >= HOP_WINDOW_MS) {
      this.#previous = now - this.#at >= 2 * HOP_WINDOW_MS ? { hops: 0 } : this.#current;
      this.#current = { hops: 0 };
      this.#at = now;
    }
    return this.#current.hops >= this.#previous.hops ? this.#current : this.#previous;
  }

  /**
   * Notes a call sent to the instance.
   *
   * @param record The call.
   */
  remember(record: AdmittedCall): void {
    this.inherited();
    if (record.detached || record.hops < this.#current.hops) return;
    const current: Inherited = { hops: record.hops };
    if (record.traceparent !== undefined) {
      current.traceparent = record.traceparent;
      if (record.tracestate !== undefined) current.tracestate = record.tracestate;
    }
    this.#current = current;
  }
}
