/**
 * One timer for many deadlines. Calls carry deadlines; arming a runtime timer per call is costly
 * in Deno (each is a Node-compatible `Timeout` object and a timer op) and almost every call
 * finishes long before its deadline. Deadlines are kept in buckets of {@linkcode RESOLUTION_MS}
 * and one timer fires at the earliest bucket; scheduling and cancelling are O(1).
 *
 * @module
 */
import { type Clock, systemClock, type TimerHandle } from "./clock.ts";

/** Granularity of deadlines, ms: a deadline fires at most this much late. */
export const RESOLUTION_MS = 5;

/** A scheduled deadline; pass it to {@linkcode DeadlineScheduler.cancel}. */
export interface Deadline {
  /** Bucket the deadline sits in. */
  readonly bucket: number;
}

interface Entry extends Deadline {
  fire(): void;
}

/** Options of {@linkcode DeadlineScheduler}. */
export interface DeadlineSchedulerOptions {
  /** Where time is read and the timer armed. @default {systemClock} */
  clock?: Clock;
}

/**
 * Fires callbacks at (or just after) their deadlines with a single timer of its clock.
 *
 * @example Deadlines on a manual clock
 * ```ts
 * import { DeadlineScheduler } from "./deadlines.ts";
 * import { ManualClock } from "./clock.ts";
 * const clock = new ManualClock(0);
 * const scheduler = new DeadlineScheduler({ clock });
 * scheduler.schedule(100, () => console.log("due"));
 * await clock.advance(100); // logs "due"
 * ```
 */
export class DeadlineScheduler {
  readonly #buckets = new Map<number, Set<Entry>>();
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  #armedFor = Infinity;

  /**
   * Creates a scheduler with no deadlines.
   *
   * @param options The clock.
   */
  constructor(options: DeadlineSchedulerOptions = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Schedules `fire` at `at`.
   *
   * @param at Absolute time, epoch ms.
   * @param fire Callback; runs once unless cancelled first.
   * @returns A handle for {@linkcode DeadlineScheduler.cancel}.
   */
  schedule(at: number, fire: () => void): Deadline {
    const bucket = Math.ceil(at / RESOLUTION_MS) * RESOLUTION_MS;
    const entry: Entry = { bucket, fire };
    let set = this.#buckets.get(bucket);
    if (!set) {
      set = new Set();
      this.#buckets.set(bucket, set);
    }
    set.add(entry);
    if (bucket < this.#armedFor) this.#arm(bucket);
    return entry;
  }

  /**
   * Cancels a deadline (a no-op once it fired).
   *
   * @param deadline The handle.
   */
  cancel(deadline: Deadline): void {
    const set = this.#buckets.get(deadline.bucket);
    if (!set?.delete(deadline as Entry) || set.size > 0) return;
    this.#buckets.delete(deadline.bucket);
    if (this.#buckets.size === 0) this.#disarm();
  }

  /** Deadlines waiting. */
  get size(): number {
    let n = 0;
    for (const set of this.#buckets.values()) n += set.size;
    return n;
  }

  #arm(bucket: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#armedFor = bucket;
    this.#timer = this.#clock.setTimeout(() => this.#run(), bucket - this.#clock.now());
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #run(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const now = this.#clock.now();
    let next = Infinity;
    for (const [bucket, set] of this.#buckets) {
      if (bucket > now) {
        if (bucket < next) next = bucket;
        continue;
      }
      this.#buckets.delete(bucket);
      for (const entry of set) {
        try {
          entry.fire();
        } catch {
          // A deadline callback never breaks the others.
        }
      }
    }
    // Callbacks may have scheduled new deadlines (and armed the timer) meanwhile.
    for (const bucket of this.#buckets.keys()) if (bucket < next) next = bucket;
    if (next !== Infinity && next < this.#armedFor) this.#arm(next);
  }
}

/** The process-wide scheduler on {@linkcode systemClock} (the guest's and the engine's by default). */
export const deadlines: DeadlineScheduler = new DeadlineScheduler();

const byClock = new WeakMap<Clock, DeadlineScheduler>();

/**
 * The scheduler of a clock: one per clock, so every instance of an engine shares one timer;
 * {@linkcode deadlines} for {@linkcode systemClock}.
 *
 * @param clock The clock.
 * @returns Its scheduler.
 */
export function deadlinesFor(clock: Clock): DeadlineScheduler {
  if (clock === systemClock) return deadlines;
  let scheduler = byClock.get(clock);
  if (!scheduler) {
    scheduler = new DeadlineScheduler({ clock });
    byClock.set(clock, scheduler);
  }
  return scheduler;
}
