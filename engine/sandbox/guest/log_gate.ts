/**
 * The sandbox's own bound on log records, in both tiers: a bundle logging in a tight loop would
 * otherwise send the engine more messages than its channel budget allows and be killed for it
 * (see `../host/channel_limits.ts`). Records over {@linkcode LOG_GATE_PER_WINDOW} per 100 ms,
 * or per synchronous run of the bundle's code (whose records leave in one batch however long the
 * run takes), are dropped here and reported in one note that the engine adds to the bundle's
 * dropped-line count (never printed). The engine's per-bundle log budget applies after this.
 *
 * @module
 */

/** Log records a sandbox sends per 100 ms window; the rest are dropped and counted. */
export const LOG_GATE_PER_WINDOW = 500;
const WINDOW_MS = 100;

/** Counts and drops log records over the per-window bound, and reports what it dropped. */
export class LogGate {
  readonly #report: (dropped: number) => void;
  readonly #now: () => number;
  readonly #schedule: (flush: () => void) => void;
  #windowStart = -Infinity;
  #sent = 0;
  #burst = 0;
  #dropped = 0;
  #flushing = false;

  /**
   * Creates a gate.
   *
   * @param report Called with the number of records dropped: before the next record that passes,
   * or one window after the drops began, so a flood's tail is reported too.
   * @param now Clock, ms. @default {performance.now}
   * @param schedule Runs `flush` later. @default {a 100 ms timer}
   */
  constructor(
    report: (dropped: number) => void,
    now: () => number = () => performance.now(),
    schedule: (flush: () => void) => void = (flush) => setTimeout(flush, WINDOW_MS),
  ) {
    this.#report = report;
    this.#now = now;
    this.#schedule = schedule;
  }

  /**
   * Decides about one log record.
   *
   * @returns Whether to send it.
   */
  admit(): boolean {
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
      if (!this.#flushing) {
        this.#flushing = true;
        this.#schedule(() => {
          this.#flushing = false;
          this.flush();
        });
      }
      return false;
    }
    this.#sent++;
    this.#burst++;
    this.flush();
    return true;
  }

  /** Reports the records dropped since the last report, if any. */
  flush(): void {
    if (this.#dropped === 0) return;
    const dropped = this.#dropped;
    this.#dropped = 0;
    this.#report(dropped);
  }
}

/**
 * The record that reports dropped ones.
 *
 * @param dropped How many were dropped.
 * @returns A warning log message.
 */
export function droppedNote(
  dropped: number,
): { type: "log"; level: "warn"; message: string; dropped: number } {
  return {
    type: "log",
    level: "warn",
    dropped,
    message:
      `${dropped} log records dropped in the sandbox: over ${LOG_GATE_PER_WINDOW} per ${WINDOW_MS} ms`,
  };
}
