/**
 * The dispatcher of the event bus: a timer-driven scan of the store's outbox for due deliveries,
 * at most `concurrency` attempts at once, and what happens after each attempt (acknowledge, retry
 * with backoff, or dead-letter).
 *
 * @module
 */
import { BundlehostError } from "../base/errors.ts";
import type { EventStore } from "../store/event_store.ts";
import type { Clock, TimerHandle } from "../base/clock.ts";
import { attemptDelivery, type DeliveryHost, PermanentDeliveryError } from "./delivery.ts";
import { DeliveryEvent } from "./types.ts";
import type { DeliveryRecord } from "../store/event_records.ts";

/** Most steps of an event map (the manifest schema's limit). */
const MAX_MAP_STEPS = 32;
/** Longest failure reason kept, characters. */
const MAX_REASON = 4096;

/** Options of {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /** Wait after the first failed attempt (before jitter), ms. */
  backoffMs: number;
  /** Longest wait, ms. */
  maxBackoffMs: number;
  /** Source of randomness in [0, 1). @default {Math.random} */
  random?: () => number;
}

/**
 * The wait before attempt `attempt + 1`: `backoffMs · 2^(attempt-1)`, capped at `maxBackoffMs`,
 * then jittered to between half and all of it (so retries of many deliveries spread out).
 *
 * @param attempt The attempt that failed, from 1.
 * @param options Base backoff, cap, randomness.
 * @returns Milliseconds.
 *
 * @example The wait after a second failure, with a 1 s base
 * ```ts
 * import { backoffDelay } from "./dispatcher.ts";
 * const ms = backoffDelay(2, { backoffMs: 1_000, maxBackoffMs: 60_000 }); // 1000..2000
 * ```
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const { backoffMs, maxBackoffMs, random = Math.random } = options;
  const ceiling = Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** An error as one line for logs and dead letters. */
export function describe(error: unknown): string {
  const text = error instanceof BundlehostError
    ? `${error.code}: ${error.message}`
    : error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
  // Kept in delivery records, which must stay well inside a KV value.
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON)}…` : text;
}

/** What the dispatcher needs. */
export interface DispatcherInit {
  /** The engine side: deliveries, `delivery` events, log. */
  host: DeliveryHost & {
    events: EventTarget;
    log(level: "debug" | "info" | "warn" | "error", message: string): void;
  };
  /** The outbox. */
  store: EventStore;
  /** Time source. */
  clock: Clock;
  /** Base backoff, ms. */
  backoffMs: number;
  /** Longest backoff, ms. */
  maxBackoffMs: number;
  /** Attempts at once. */
  concurrency: number;
  /** Rescan period, ms. */
  pollMs: number;
}

/** Scans for due deliveries and runs their attempts. */
export class Dispatcher {
  /** Outcomes since start. */
  readonly counters = { delivered: 0, retried: 0, deadLettered: 0 };
  readonly #init: DispatcherInit;
  readonly #inflight = new Map<string, Promise<void>>();
  #timer?: { handle: TimerHandle; at: number };
  #wakes: number[] = [];
  /** The scan in progress (or the last one). */
  #scan: Promise<void> = Promise.resolve();
  #scanning = false;
  #rescan = false;
  #running = false;

  /**
   * Creates a stopped dispatcher.
   *
   * @param init Host, store, clock, limits.
   */
  constructor(init: DispatcherInit) {
    this.#init = init;
  }

  /** Starts scanning, now and then every `pollMs` and whenever woken. */
  start(): void {
    this.#running = true;
    this.wake(this.#init.clock.now());
  }

  /** Starts no more attempts (those in flight go on). */
  stop(): void {
    this.#running = false;
    if (this.#timer) this.#init.clock.clearTimeout(this.#timer.handle);
    this.#timer = undefined;
    this.#wakes = [];
  }

  /** Whether no scan and no attempt is running. */
  get quiet(): boolean {
    return this.#inflight.size === 0 && !this.#scanning;
  }

  /** Resolves when no scan and no attempt is running. */
  async idle(): Promise<void> {
    while (!this.quiet) {
      await this.#scan;
      await Promise.all(this.#inflight.values());
    }
  }

  /**
   * Asks for a scan at `at`. Every wanted time is kept until it passes, so an earlier wake never
   * hides a later one (a retry's due time); the timer is armed for the earliest.
   */
  wake(at: number): void {
    if (!this.#running) return;
    this.#wakes.push(at);
    this.#arm();
  }

  #arm(): void {
    if (!this.#running || this.#wakes.length === 0) return;
    const next = Math.min(...this.#wakes);
    if (this.#timer && this.#timer.at <= next) return;
    if (this.#timer) this.#init.clock.clearTimeout(this.#timer.handle);
    const handle = this.#init.clock.setTimeout(() => {
      this.#timer = undefined;
      const now = this.#init.clock.now();
      this.#wakes = this.#wakes.filter((w) => w > now);
      if (this.#scanning) {
        this.#rescan = true;
        return;
      }
      this.#scanning = true;
      this.#scan = this.#scanDue().finally(() => {
        this.#scanning = false;
        // The poll finds deliveries no wake asked for (retries stored before a restart).
        const poll = this.#init.clock.now() + this.#init.pollMs;
        if (this.#wakes.every((w) => w > poll)) this.#wakes.push(poll);
        this.#arm();
      });
    }, Math.max(0, next - this.#init.clock.now()));
    this.#timer = { handle, at: next };
  }

  async #scanDue(): Promise<void> {
    try {
      do {
        this.#rescan = false;
        const free = this.#init.concurrency - this.#inflight.size;
        if (!this.#running || free <= 0) break;
        const due = await this.#init.store.due(this.#init.clock.now(), free + this.#inflight.size);
        for (const delivery of due) {
          if (!this.#running || this.#inflight.size >= this.#init.concurrency) break;
          if (this.#inflight.has(delivery.id)) continue;
          const run = this.#attempt(delivery).finally(() => {
            this.#inflight.delete(delivery.id);
            this.wake(this.#init.clock.now());
          });
          this.#inflight.set(delivery.id, run);
        }
      } while (this.#rescan);
    } catch (error) {
      this.#init.host.log(
        "error",
        `Events: scanning for due deliveries failed: ${describe(error)}`,
      );
    }
  }

  async #attempt(pending: DeliveryRecord): Promise<void> {
    const started = this.#init.clock.now();
    let delivery: DeliveryRecord = {
      ...pending,
      attempts: pending.attempts + 1,
      claimedAt: started,
      // A lease: due again only if this attempt never reports back while the engine runs on (a
      // restart retries claimed deliveries at once). Long enough for a map's every step.
      nextAttemptAt: started + pending.timeoutMs * (MAX_MAP_STEPS + 1) + this.#init.maxBackoffMs,
    };
    try {
      if (!(await this.#init.store.update(delivery))) return;
      const event = await this.#init.store.getEvent(delivery.eventId);
      if (!event) throw new Error(`Event ${delivery.eventId} of delivery ${delivery.id} is gone`);
      const served = await attemptDelivery(this.#init.host, {
        delivery,
        event,
        checkpoint: async (progress) => {
          delivery = { ...delivery, progress };
          await this.#init.store.update(delivery);
        },
      });
      await this.#init.store.ack(delivery.id);
      this.counters.delivered++;
      this.#init.host.events.dispatchEvent(new DeliveryEvent(delivery, "delivered", served));
    } catch (error) {
      await this.#failed(delivery, error).catch((storeError) => {
        this.#init.host.log(
          "error",
          `Events: recording the failure of delivery ${delivery.id} failed: ${
            describe(storeError)
          }`,
        );
      });
    }
  }

  async #failed(delivery: DeliveryRecord, error: unknown): Promise<void> {
    const reason = describe(error);
    const now = this.#init.clock.now();
    const target = `${delivery.topic} → ${delivery.bundle} ${delivery.handler}`;
    const permanent = error instanceof PermanentDeliveryError;
    if (permanent || delivery.attempts >= delivery.maxAttempts) {
      const letter = await this.#init.store.deadLetter(delivery.id, { error: reason, at: now });
      if (!letter) return;
      this.counters.deadLettered++;
      this.#init.host.log(
        "error",
        `Events: delivery ${delivery.id} (${target}) dead-lettered after ${delivery.attempts} attempts: ${reason}`,
      );
      this.#init.host.events.dispatchEvent(new DeliveryEvent(letter, "dead", { error: reason }));
      return;
    }
    const delayMs = backoffDelay(delivery.attempts, this.#init);
    const { claimedAt: _claim, ...rest } = delivery;
    const next: DeliveryRecord = { ...rest, nextAttemptAt: now + delayMs, lastError: reason };
    if (!(await this.#init.store.update(next))) return;
    this.counters.retried++;
    this.#init.host.log(
      "warn",
      `Events: delivery ${delivery.id} (${target}) attempt ${delivery.attempts} failed, retrying in ${delayMs} ms: ${reason}`,
    );
    this.#init.host.events.dispatchEvent(
      new DeliveryEvent(next, "retry", { error: reason, delayMs }),
    );
    this.wake(next.nextAttemptAt);
  }
}
