/**
 * Time for the event bus and the scheduler: {@linkcode systemClock} in production, and
 * {@linkcode ManualClock} in tests, which moves only when told to and fires its timers in order.
 *
 * @module
 */

/**
 * An opaque timer handle of a {@linkcode Clock}.
 *
 * @example Cancel a timer
 * ```ts
 * import { systemClock, type TimerHandle } from "@bundlehost/sdk";
 *
 * const handle: TimerHandle = systemClock.setTimeout(() => console.log("late"), 1_000);
 * systemClock.clearTimeout(handle);
 * ```
 */
export type TimerHandle = unknown;

/**
 * Where the bus and the scheduler read the time and set timers.
 *
 * @example Drive the event bus from a manual clock
 * ```ts
 * import { type Clock, createEngine, ManualClock } from "@bundlehost/sdk";
 *
 * const clock: Clock = new ManualClock(Date.UTC(2026, 0, 1));
 * await using engine = await createEngine({ events: { clock } });
 * ```
 */
export interface Clock {
  /** The current time, epoch ms. */
  now(): number;
  /** Runs `fn` once after `ms`. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The longest single wait; longer waits are re-armed (a timer cannot wait beyond 2^31 - 1 ms). */
export const MAX_TIMER_MS = 60 * 60 * 1000;

/**
 * The real clock: `Date.now` and the global timers.
 *
 * @example Read the time
 * ```ts
 * import { systemClock } from "@bundlehost/sdk";
 *
 * console.log(new Date(systemClock.now()).toISOString());
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock for tests: time stands still until {@linkcode ManualClock.advance} or
 * {@linkcode ManualClock.advanceTo} moves it, firing due timers in time order.
 *
 * @example Fire a timer without waiting
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * const clock = new ManualClock(Date.UTC(2026, 0, 1));
 * let fired = 0;
 * clock.setTimeout(() => fired++, 60_000);
 * await clock.advance(60_000);
 * console.log(fired); // 1
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, ManualTimer>();

  /**
   * Creates the clock.
   *
   * @param start Initial time, epoch ms.
   */
  constructor(start: number) {
    this.#now = start;
  }

  /** The current time, epoch ms. */
  now(): number {
    return this.#now;
  }

  /** Registers a timer due at `now() + ms`. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = ++this.#seq;
    this.#timers.set(handle, { at: this.#now + Math.max(0, ms), seq: handle, fn });
    return handle;
  }

  /** Cancels a timer. */
  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === "number") this.#timers.delete(handle);
  }

  /** Due time of the earliest pending timer, if any. */
  get nextTimer(): number | undefined {
    let next: number | undefined;
    for (const t of this.#timers.values()) if (next === undefined || t.at < next) next = t.at;
    return next;
  }

  /**
   * Moves time forward to `to`, firing every timer due on the way in time order (time stands at
   * each timer's due time while it runs). After each timer, `settle` is awaited, so async work a
   * timer starts (and the timers it sets) finish before time moves on.
   *
   * @param to Target time, epoch ms.
   * @param settle Awaited after each fired timer. @default {a macrotask turn}
   */
  async advanceTo(
    to: number,
    settle: () => Promise<unknown> = () => new Promise((r) => setTimeout(r, 0)),
  ): Promise<void> {
    for (;;) {
      let due: ManualTimer | undefined;
      for (const t of this.#timers.values()) {
        if (t.at <= to && (!due || t.at < due.at || (t.at === due.at && t.seq < due.seq))) due = t;
      }
      if (!due) break;
      this.#timers.delete(due.seq);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
      await settle();
    }
    this.#now = Math.max(this.#now, to);
  }

  /**
   * Moves time forward by `ms`; see {@linkcode ManualClock.advanceTo}.
   *
   * @param ms Milliseconds.
   * @param settle Awaited after each fired timer.
   */
  advance(ms: number, settle?: () => Promise<unknown>): Promise<void> {
    return this.advanceTo(this.#now + ms, settle);
  }
}
