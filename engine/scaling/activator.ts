/**
 * The activator (Knative's name): a bounded buffer of calls waiting for an instance while a
 * revision has none serving (scaled to zero, or every instance lost and being replaced). Each
 * waiting call keeps its own deadline; beyond the bound a call is refused at once.
 *
 * @module
 */
import { UnavailableError } from "../base/errors.ts";
import { type Clock, systemClock, type TimerHandle } from "../base/clock.ts";
import type { Instance } from "../sandbox/host/instance.ts";

interface Waiter {
  resolve(instance: Instance): void;
  reject(error: unknown): void;
  timer: TimerHandle;
}

/** Calls waiting for an instance of one revision. */
export class Activator {
  readonly #label: string;
  readonly #max: number;
  readonly #clock: Clock;
  #waiters: Waiter[] = [];

  /**
   * Creates an empty buffer.
   *
   * @param label `id@version`, for messages.
   * @param max Most calls waiting at once (`scaling.maxBuffered`).
   * @param clock Time of the deadlines. @default {systemClock}
   */
  constructor(label: string, max: number, clock: Clock = systemClock) {
    this.#label = label;
    this.#max = max;
    this.#clock = clock;
  }

  /** Calls waiting. */
  get size(): number {
    return this.#waiters.length;
  }

  /**
   * Waits for an instance until the deadline.
   *
   * @param deadline Absolute deadline, epoch ms.
   * @returns The instance handed to this call.
   * @throws {UnavailableError} When the buffer is full, or at the deadline.
   */
  wait(deadline: number): Promise<Instance> {
    if (this.#waiters.length >= this.#max) {
      return Promise.reject(
        new UnavailableError(
          `Bundle ${this.#label} has no ready instance and ${this.#max} calls already wait for one (scaling.maxBuffered)`,
        ),
      );
    }
    return new Promise<Instance>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: this.#clock.setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(new UnavailableError(`Bundle ${this.#label} has no ready instance`));
        }, deadline - this.#clock.now()),
      };
      this.#waiters.push(waiter);
    });
  }

  /**
   * Hands instances to waiting calls, oldest first, while `pick` returns one.
   *
   * @param pick Chooses the instance for the next waiting call.
   */
  serve(pick: () => Instance | undefined): void {
    while (this.#waiters.length > 0) {
      const instance = pick();
      if (!instance) return;
      const waiter = this.#waiters.shift()!;
      this.#clock.clearTimeout(waiter.timer);
      waiter.resolve(instance);
    }
  }

  /**
   * Fails every waiting call.
   *
   * @param reason A message (becomes an {@linkcode UnavailableError}) or the error itself.
   */
  rejectAll(reason: string | Error): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    const error = typeof reason === "string" ? new UnavailableError(reason) : reason;
    for (const waiter of waiters) {
      this.#clock.clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }
}
