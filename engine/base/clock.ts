/**
 * The engine's one source of time: every engine part reads the time and arms its timers through
 * an injected {@linkcode Clock} (engine option `clock`, docs/architecture.md, "Time").
 * {@linkcode systemClock} is the real one; {@linkcode ManualClock} is for tests: it moves only when
 * told to and fires its timers in order, so timing logic is tested without sleeping.
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
 * Options of {@linkcode Clock.setTimeout}.
 *
 * @example A timer that does not keep the process alive
 * ```ts
 * import { systemClock, type TimerOptions } from "@bundlehost/sdk";
 *
 * const options: TimerOptions = { unref: true };
 * const handle = systemClock.setTimeout(() => console.log("later"), 60_000, options);
 * systemClock.clearTimeout(handle);
 * ```
 */
export interface TimerOptions {
  /** Whether the timer may not keep the process alive on its own (`Deno.unrefTimer`). @default {false} */
  unref?: boolean;
}

/**
 * Where engine code reads the time and sets timers.
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
  /** The current time, epoch ms (deadlines, timestamps). */
  now(): number;
  /** A reading for durations, ms from an arbitrary origin; never goes back, unlike `now()`. */
  monotonic(): number;
  /** Runs `fn` once after `ms`. */
  setTimeout(fn: () => void, ms: number, options?: TimerOptions): TimerHandle;
  /** Cancels a timer; unknown handles (and `undefined`) are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The longest single runtime timer; a longer wait is re-armed (none can wait beyond 2^31 - 1 ms). */
export const MAX_TIMER_MS = 60 * 60 * 1000;

type RuntimeTimer = ReturnType<typeof setTimeout>;

/** A wait longer than {@linkcode MAX_TIMER_MS}: the runtime timer it is at now. */
class LongWait {
  timer: RuntimeTimer | undefined;
}

function runtimeTimer(fn: () => void, ms: number, unref: boolean | undefined): RuntimeTimer {
  const timer = setTimeout(fn, ms);
  if (unref) Deno.unrefTimer(timer);
  return timer;
}

/**
 * The real clock: `Date.now`, `performance.now` and the global timers.
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
  monotonic: () => performance.now(),
  setTimeout: (fn, ms, options) => {
    if (!(ms > MAX_TIMER_MS)) return runtimeTimer(fn, Math.max(0, ms), options?.unref);
    const due = performance.now() + ms;
    const wait = new LongWait();
    const step = () => {
      const left = due - performance.now();
      wait.timer = left > MAX_TIMER_MS
        ? runtimeTimer(step, MAX_TIMER_MS, options?.unref)
        : runtimeTimer(fn, Math.max(0, left), options?.unref);
    };
    step();
    return wait;
  },
  clearTimeout: (handle) => {
    clearTimeout(handle instanceof LongWait ? handle.timer : handle as RuntimeTimer);
  },
};

/**
 * Waits `ms` on a clock.
 *
 * @param clock The clock.
 * @param ms Milliseconds.
 * @returns Settles after `ms` of the clock's time.
 *
 * @example Wait on a manual clock
 * ```ts
 * import { ManualClock, sleep } from "./clock.ts";
 * const clock = new ManualClock(0);
 * const slept = sleep(clock, 500);
 * await clock.advance(500);
 * await slept;
 * ```
 */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/** A repeating timer from {@linkcode every}. */
export interface Repeating {
  /** Stops it (idempotent). */
  stop(): void;
}

/**
 * Runs `fn` every `ms` on a clock until stopped; each run is timed from the end of the previous
 * one, so a slow run never piles up behind itself.
 *
 * @param clock The clock.
 * @param ms Period, ms.
 * @param fn What to run.
 * @param options Timer options of every run.
 * @returns The handle to stop it.
 *
 * @example Tick three times
 * ```ts
 * import { every, ManualClock } from "./clock.ts";
 * const clock = new ManualClock(0);
 * let ticks = 0;
 * const timer = every(clock, 1000, () => ticks++);
 * await clock.advance(3000);
 * timer.stop();
 * console.log(ticks); // 3
 * ```
 */
export function every(
  clock: Clock,
  ms: number,
  fn: () => void,
  options?: TimerOptions,
): Repeating {
  let stopped = false;
  let handle: TimerHandle;
  const run = () => {
    if (stopped) return;
    try {
      fn();
    } finally {
      if (!stopped) handle = clock.setTimeout(run, ms, options);
    }
  };
  handle = clock.setTimeout(run, ms, options);
  return {
    stop() {
      stopped = true;
      clock.clearTimeout(handle);
    },
  };
}

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
  readonly #start: number;
  #seq = 0;
  readonly #timers = new Map<number, ManualTimer>();

  /**
   * Creates the clock.
   *
   * @param start Initial time, epoch ms.
   */
  constructor(start: number) {
    this.#now = start;
    this.#start = start;
  }

  /** The current time, epoch ms. */
  now(): number {
    return this.#now;
  }

  /** Time since the clock was made, ms (it moves with {@linkcode ManualClock.now}). */
  monotonic(): number {
    return this.#now - this.#start;
  }

  /** Registers a timer due at `now() + ms` (options are ignored: nothing keeps a process alive). */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = ++this.#seq;
    this.#timers.set(handle, { at: this.#now + Math.max(0, ms), seq: handle, fn });
    return handle;
  }

  /** Cancels a timer. */
  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === "number") this.#timers.delete(handle);
  }

  /** Timers waiting. */
  get pending(): number {
    return this.#timers.size;
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
