/**
 * The sandbox's own bound on log records, in both tiers: a bundle logging in a tight loop would
 * otherwise send the engine more messages than its channel budget allows and be killed for it
 * (see `../isolation/channel_limits.ts`). Records over {@linkcode LOG_GATE_PER_WINDOW} per 100 ms,
 * or per synchronous run of the bundle's code (whose records leave in one batch however long the
 * run takes), are dropped here, and the next record that passes is preceded by one that counts
 * them. The engine's own per-instance log rate applies after this.
 *
 * @module
 */

/** Log records a sandbox sends per 100 ms window; the rest are dropped and counted. */
export const LOG_GATE_PER_WINDOW = 500;
const WINDOW_MS = 100;

/** Counts and drops log records over the per-window bound. */
export class LogGate {
  readonly #now: () => number;
  #windowStart = -Infinity;
  #sent = 0;
  #burst = 0;
  #dropped = 0;

  /**
   * Creates a gate.
   *
   * @param now Clock, ms. @default {performance.now}
   */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /**
   * Decides about one log record.
   *
   * @returns `false` to drop it; otherwise the number of records dropped since the last one that
   * passed (0 when none), which the caller reports first.
   */
  admit(): number | false {
    const now = this.#now();
    if (now - this.#windowStart >= WINDOW_MS) {
      this.#windowStart = now;
      this.#sent = 0;
    }
    // Records of one synchronous run are sent together: the run ends before any microtask.
    if (this.#burst === 0) queueMicrotask(() => (this.#burst = 0));
    if (this.#sent >= LOG_GATE_PER_WINDOW || this.#burst >= LOG_GATE_PER_WINDOW) {
      this.#burst = Math.max(this.#burst, 1);
      this.#dropped++;
      return false;
    }
    this.#sent++;
    this.#burst++;
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }
}

/**
 * The record that reports dropped ones.
 *
 * @param dropped How many were dropped.
 * @returns A warning log message.
 */
export function droppedNote(dropped: number): { type: "log"; level: "warn"; message: string } {
  return {
    type: "log",
    level: "warn",
    message:
      `${dropped} log records dropped in the sandbox: over ${LOG_GATE_PER_WINDOW} per ${WINDOW_MS} ms`,
  };
}
