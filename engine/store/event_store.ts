/**
 * Durable storage of the event bus: events, pending deliveries (an outbox scanned by due time),
 * dead letters and schedule marks. {@linkcode EventStore} is the interface every `Store` offers
 * as `store.events`; `KvEventStore` (`kv_event_store.ts`) and {@linkcode MemoryEventStore}
 * implement it and share the store conformance suite.
 *
 * An event is kept once, with a count of the deliveries and dead letters that still refer to it;
 * the last acknowledgement or dead-letter deletion removes it. Every operation is atomic. Each
 * store keeps a running estimate of the bytes it holds ({@linkcode EventStore.usedBytes}), which
 * the bus checks against its byte budget before it accepts a publish.
 *
 * @module
 */
import { BundlehostError } from "../base/errors.ts";
import type {
  DeadLetterRecord,
  DeliveryRecord,
  EventRecord,
  EventStoreStats,
  ScheduleMark,
} from "./event_records.ts";

/**
 * Durable event operations of a store.
 *
 * @example Count pending events
 * ```ts
 * import { type EventStore, MemoryStore } from "@bundlehost/sdk";
 *
 * const events: EventStore = new MemoryStore().events;
 * const stats = await events.stats();
 * console.log(stats);
 * ```
 */
export interface EventStore {
  /**
   * Stores an event and its deliveries, atomically and durably. With `mark`, the schedule's mark
   * advances to `mark.slot` in the same commit.
   *
   * @throws {BundlehostError} `CONFLICT` when the event id exists or the mark is already at or
   * past `mark.slot` (the slot was fired before): nothing is stored.
   */
  enqueue(event: EventRecord, deliveries: DeliveryRecord[], mark?: ScheduleMark): Promise<void>;
  /** An event still referenced by a delivery or dead letter. */
  getEvent(id: string): Promise<EventRecord | undefined>;
  /** A pending delivery. */
  getDelivery(id: string): Promise<DeliveryRecord | undefined>;
  /** Pending deliveries due by `now`, soonest first (ties by id), at most `limit`. */
  due(now: number, limit: number): Promise<DeliveryRecord[]>;
  /** Replaces a pending delivery (attempts, due time, claim, progress); `false` when it is gone. */
  update(delivery: DeliveryRecord): Promise<boolean>;
  /** Makes every claimed delivery due at `now` without its claim (start-up after a crash). */
  releaseClaims(now: number): Promise<number>;
  /** Removes a delivered delivery; `false` when it was already gone. */
  ack(id: string): Promise<boolean>;
  /** Moves a pending delivery to the dead letters; `undefined` when it is gone. */
  deadLetter(
    id: string,
    failure: { error: string; at: number },
  ): Promise<DeadLetterRecord | undefined>;
  /** Dead letters in id (publish) order, after the id `after`, at most `limit`. */
  deadLetters(options?: { limit?: number; after?: string }): Promise<DeadLetterRecord[]>;
  /** One dead letter. */
  getDeadLetter(id: string): Promise<DeadLetterRecord | undefined>;
  /**
   * Moves a dead letter back to the pending deliveries with no attempts, due at `at`.
   *
   * @returns The pending delivery, or `undefined` when there is no such dead letter.
   */
  replay(id: string, at: number): Promise<DeliveryRecord | undefined>;
  /** Deletes a dead letter for good; `false` when there is none. */
  deleteDeadLetter(id: string): Promise<boolean>;
  /** Counts (a scan). */
  stats(): Promise<EventStoreStats>;
  /** A schedule's mark (slot epoch ms), if any. */
  getMark(key: string): Promise<number | undefined>;
  /** Raises a schedule's mark to `slot`; a lower slot leaves it as it is. */
  raiseMark(key: string, slot: number): Promise<void>;
  /**
   * Bytes held by events, pending deliveries and dead letters (an estimate: their JSON size plus
   * a fixed overhead per record), kept up to date by every change.
   */
  usedBytes(): number;
  /**
   * Drops dead letters that died before `before`, and the oldest ones of each subscriber and
   * topic beyond `maxPerSubscriber`.
   *
   * @returns How many were dropped.
   */
  pruneDeadLetters(options: DeadLetterPruning): Promise<number>;
}

/**
 * What {@linkcode EventStore.pruneDeadLetters} drops.
 *
 * @example Drop dead letters older than a week
 * ```ts
 * import type { DeadLetterPruning, EventStore } from "@bundlehost/sdk";
 *
 * async function prune(store: EventStore): Promise<number> {
 *   const options: DeadLetterPruning = { before: Date.now() - 7 * 86_400_000, maxPerSubscriber: 1_000 };
 *   return await store.pruneDeadLetters(options);
 * }
 * ```
 */
export interface DeadLetterPruning {
  /** Dead letters whose `deadAt` is before this (epoch ms) expire. */
  before: number;
  /** Most dead letters kept per subscriber bundle and topic; the oldest go first. */
  maxPerSubscriber: number;
}

/** Estimated store overhead of one record (its key, index entry and framing), bytes. */
export const RECORD_OVERHEAD_BYTES = 128;

/**
 * The estimated size of a record as a store keeps it: its JSON, with byte arrays counted at their
 * length, plus {@linkcode RECORD_OVERHEAD_BYTES}.
 *
 * @param record A stored value.
 * @returns Bytes.
 */
export function recordBytes(record: unknown): number {
  let binary = 0;
  const json = JSON.stringify(record, (_key, value) => {
    if (value instanceof Uint8Array) {
      binary += value.byteLength;
      return 0;
    }
    return value;
  });
  return (json?.length ?? 0) + binary + RECORD_OVERHEAD_BYTES;
}

/**
 * Which dead letters a pruning drops, from a light list of all of them.
 *
 * @param letters Every dead letter's id, subscriber, topic and death time.
 * @param options Expiry time and cap.
 * @returns Ids to drop.
 */
export function letterIdsToPrune(
  letters: Iterable<{ id: string; bundle: string; topic: string; deadAt: number }>,
  options: DeadLetterPruning,
): string[] {
  const drop: string[] = [];
  const groups = new Map<string, { id: string; deadAt: number }[]>();
  for (const letter of letters) {
    if (letter.deadAt < options.before) {
      drop.push(letter.id);
      continue;
    }
    const key = `${letter.bundle}\u0000${letter.topic}`;
    const group = groups.get(key) ?? [];
    group.push({ id: letter.id, deadAt: letter.deadAt });
    groups.set(key, group);
  }
  for (const group of groups.values()) {
    if (group.length <= options.maxPerSubscriber) continue;
    group.sort((a, b) => a.deadAt - b.deadAt || (a.id < b.id ? -1 : 1));
    for (const { id } of group.slice(0, group.length - options.maxPerSubscriber)) drop.push(id);
  }
  return drop;
}

/** A `CONFLICT` error (a duplicate event id). */
export function conflict(message: string): BundlehostError {
  return new BundlehostError("CONFLICT", message);
}

/** The `CONFLICT` error of a schedule slot that fired already. */
export function markConflict(mark: ScheduleMark): BundlehostError {
  return conflict(`Schedule ${mark.key} already fired slot ${new Date(mark.slot).toISOString()}`);
}

/** A dead letter as a fresh pending delivery due at `at` (for a replay). */
export function deliveryOf(letter: DeadLetterRecord, at: number): DeliveryRecord {
  const { deadAt: _d, error: _e, claimedAt: _c, ...rest } = letter;
  return { ...rest, attempts: 0, nextAttemptAt: at };
}

/**
 * The event store in memory, for tests and throwaway engines.
 *
 * @example An event store for a test
 * ```ts
 * import { MemoryEventStore } from "@bundlehost/sdk";
 *
 * const store = new MemoryEventStore();
 * console.log(await store.due(Date.now(), 10)); // []
 * ```
 */
export class MemoryEventStore implements EventStore {
  readonly #events = new Map<string, { event: EventRecord; refs: number }>();
  readonly #deliveries = new Map<string, DeliveryRecord>();
  readonly #dead = new Map<string, DeadLetterRecord>();
  readonly #marks = new Map<string, number>();
  #used = 0;

  /** Stores an event and its deliveries atomically; see {@linkcode EventStore.enqueue}. */
  enqueue(event: EventRecord, deliveries: DeliveryRecord[], mark?: ScheduleMark): Promise<void> {
    if (mark && (this.#marks.get(mark.key) ?? -Infinity) >= mark.slot) {
      return Promise.reject(markConflict(mark));
    }
    if (deliveries.length > 0 && this.#events.has(event.id)) {
      return Promise.reject(conflict(`Event ${event.id} already exists`));
    }
    if (mark) this.#marks.set(mark.key, mark.slot);
    if (deliveries.length > 0) {
      this.#events.set(event.id, { event: structuredClone(event), refs: deliveries.length });
      this.#used += recordBytes(event);
      for (const d of deliveries) {
        this.#deliveries.set(d.id, structuredClone(d));
        this.#used += recordBytes(d);
      }
    }
    return Promise.resolve();
  }

  /** An event, if still referenced. */
  getEvent(id: string): Promise<EventRecord | undefined> {
    return Promise.resolve(structuredClone(this.#events.get(id)?.event));
  }

  /** A pending delivery. */
  getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    return Promise.resolve(structuredClone(this.#deliveries.get(id)));
  }

  /** Deliveries due by `now`, soonest first. */
  due(now: number, limit: number): Promise<DeliveryRecord[]> {
    const due = [...this.#deliveries.values()].filter((d) => d.nextAttemptAt <= now)
      .sort((a, b) =>
        a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
      );
    return Promise.resolve(structuredClone(due.slice(0, limit)));
  }

  /** Replaces a pending delivery; `false` when it is gone. */
  update(delivery: DeliveryRecord): Promise<boolean> {
    const old = this.#deliveries.get(delivery.id);
    if (!old) return Promise.resolve(false);
    this.#deliveries.set(delivery.id, structuredClone(delivery));
    this.#used += recordBytes(delivery) - recordBytes(old);
    return Promise.resolve(true);
  }

  /** Makes claimed deliveries due at `now`. */
  releaseClaims(now: number): Promise<number> {
    let released = 0;
    for (const [id, d] of this.#deliveries) {
      if (d.claimedAt === undefined) continue;
      const { claimedAt: _claim, ...rest } = d;
      const freed = { ...rest, nextAttemptAt: now };
      this.#deliveries.set(id, freed);
      this.#used += recordBytes(freed) - recordBytes(d);
      released++;
    }
    return Promise.resolve(released);
  }

  /** Removes a delivered delivery, and its event when nothing refers to it any more. */
  ack(id: string): Promise<boolean> {
    const delivery = this.#deliveries.get(id);
    if (!delivery) return Promise.resolve(false);
    this.#deliveries.delete(id);
    this.#used -= recordBytes(delivery);
    this.#release(delivery.eventId);
    return Promise.resolve(true);
  }

  #release(eventId: string): void {
    const entry = this.#events.get(eventId);
    if (!entry) return;
    if (entry.refs <= 1) {
      this.#events.delete(eventId);
      this.#used -= recordBytes(entry.event);
    } else entry.refs--;
  }

  /** Moves a pending delivery to the dead letters. */
  deadLetter(
    id: string,
    failure: { error: string; at: number },
  ): Promise<DeadLetterRecord | undefined> {
    const delivery = this.#deliveries.get(id);
    if (!delivery) return Promise.resolve(undefined);
    const { claimedAt: _claim, ...rest } = delivery;
    const { error, at } = failure;
    const letter: DeadLetterRecord = { ...rest, lastError: error, error, deadAt: at };
    this.#deliveries.delete(id);
    this.#dead.set(id, letter);
    this.#used += recordBytes(letter) - recordBytes(delivery);
    return Promise.resolve(structuredClone(letter));
  }

  /** Dead letters in id order. */
  deadLetters(options: { limit?: number; after?: string } = {}): Promise<DeadLetterRecord[]> {
    const after = options.after;
    const ids = [...this.#dead.keys()].filter((id) => after === undefined || id > after).sort();
    const out = ids.slice(0, options.limit ?? 100).map((id) => this.#dead.get(id)!);
    return Promise.resolve(structuredClone(out));
  }

  /** One dead letter. */
  getDeadLetter(id: string): Promise<DeadLetterRecord | undefined> {
    return Promise.resolve(structuredClone(this.#dead.get(id)));
  }

  /** Moves a dead letter back to the pending deliveries. */
  replay(id: string, at: number): Promise<DeliveryRecord | undefined> {
    const letter = this.#dead.get(id);
    if (!letter) return Promise.resolve(undefined);
    const delivery = deliveryOf(letter, at);
    this.#dead.delete(id);
    this.#deliveries.set(id, delivery);
    this.#used += recordBytes(delivery) - recordBytes(letter);
    return Promise.resolve(structuredClone(delivery));
  }

  /** Deletes a dead letter, and its event when nothing refers to it any more. */
  deleteDeadLetter(id: string): Promise<boolean> {
    const letter = this.#dead.get(id);
    if (!letter) return Promise.resolve(false);
    this.#dead.delete(id);
    this.#used -= recordBytes(letter);
    this.#release(letter.eventId);
    return Promise.resolve(true);
  }

  /** Counts. */
  stats(): Promise<EventStoreStats> {
    let inFlight = 0;
    for (const d of this.#deliveries.values()) if (d.claimedAt !== undefined) inFlight++;
    return Promise.resolve({
      events: this.#events.size,
      pending: this.#deliveries.size,
      inFlight,
      deadLetters: this.#dead.size,
    });
  }

  /** A schedule's mark. */
  getMark(key: string): Promise<number | undefined> {
    return Promise.resolve(this.#marks.get(key));
  }

  /** Raises a schedule's mark. */
  raiseMark(key: string, slot: number): Promise<void> {
    if ((this.#marks.get(key) ?? -Infinity) < slot) this.#marks.set(key, slot);
    return Promise.resolve();
  }

  /** Estimated bytes held; see {@linkcode EventStore.usedBytes}. */
  usedBytes(): number {
    return Math.max(0, this.#used);
  }

  /** Drops expired dead letters and the oldest beyond the cap; see {@linkcode EventStore.pruneDeadLetters}. */
  async pruneDeadLetters(options: DeadLetterPruning): Promise<number> {
    let dropped = 0;
    for (const id of letterIdsToPrune(this.#dead.values(), options)) {
      if (await this.deleteDeadLetter(id)) dropped++;
    }
    return dropped;
  }
}
