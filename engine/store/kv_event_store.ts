/**
 * The event store on Deno KV, in its own database file (`events.sqlite3` beside the registry's,
 * so a full or slow event store never blocks a release; keys under `["events", …]`): one record
 * per event (with a reference count), per pending delivery, per dead letter and per schedule mark,
 * plus a due-time index the dispatcher scans. Every change is one atomic commit; a read-then-write
 * change checks what it read and retries when another commit came first. The bytes it holds are
 * measured once when opened ({@linkcode KvEventStore.measure}) and kept up to date by every commit.
 *
 * @module
 */
import type {
  DeadLetterRecord,
  DeliveryRecord,
  EventRecord,
  EventStoreStats,
  ScheduleMark,
} from "./event_records.ts";
import {
  conflict,
  type DeadLetterPruning,
  deliveryOf,
  type EventStore,
  letterIdsToPrune,
  markConflict,
  recordBytes,
} from "./event_store.ts";

/** First key part of every event store record. */
export const EVENTS_ROOT = "events";
const ROOT = EVENTS_ROOT;
const EVENT = [ROOT, "event"];
const DELIVERY = [ROOT, "delivery"];
const DUE = [ROOT, "due"];
const DEAD = [ROOT, "dead"];
const MARK = [ROOT, "mark"];

type StoredEvent = Omit<EventRecord, "payload"> & { payload: Uint8Array; refs: number };
type Stored<T extends DeliveryRecord> = Omit<T, "progress"> & {
  progress?: { version: string; step: number; input: Uint8Array };
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();
// Payloads go to KV as UTF-8 JSON bytes: their size is then exactly what the bus checked.
const pack = (value: unknown) => encoder.encode(JSON.stringify(value ?? null));
const unpack = (bytes: Uint8Array): unknown => JSON.parse(decoder.decode(bytes));

function packDelivery<T extends DeliveryRecord>(d: T): Stored<T> {
  const { progress, ...rest } = d;
  return progress ? { ...rest, progress: { ...progress, input: pack(progress.input) } } : rest;
}

function unpackDelivery<T extends DeliveryRecord>(d: Stored<T>): T {
  const { progress, ...rest } = d;
  return (progress
    ? { ...rest, progress: { ...progress, input: unpack(progress.input) } }
    : rest) as T;
}

function unpackEvent(e: StoredEvent): EventRecord {
  const { refs: _refs, payload, ...rest } = e;
  return { ...rest, payload: unpack(payload) };
}

/**
 * The event store on Deno KV (keys under `["events", …]`).
 *
 * @example Events in their own Deno KV database
 * ```ts
 * import { KvEventStore } from "@bundlehost/sdk";
 *
 * const store = new KvEventStore(await Deno.openKv(":memory:"));
 * console.log(store.usedBytes()); // 0
 * ```
 */
export class KvEventStore implements EventStore {
  readonly #kv: Deno.Kv;
  #used = 0;

  /**
   * Uses an open KV database; call {@linkcode KvEventStore.measure} before relying on
   * {@linkcode KvEventStore.usedBytes}.
   *
   * @param kv Open database.
   */
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** Scans the stored events, deliveries and dead letters once to learn the bytes they hold. */
  async measure(): Promise<void> {
    let used = 0;
    for (const prefix of [EVENT, DELIVERY, DEAD]) {
      for await (const entry of this.#kv.list({ prefix })) used += recordBytes(entry.value);
    }
    this.#used = used;
  }

  /** Estimated bytes held; see {@linkcode EventStore.usedBytes}. */
  usedBytes(): number {
    return Math.max(0, this.#used);
  }

  /** Drops expired dead letters and the oldest beyond the cap; see {@linkcode EventStore.pruneDeadLetters}. */
  async pruneDeadLetters(options: DeadLetterPruning): Promise<number> {
    const letters: { id: string; bundle: string; topic: string; deadAt: number }[] = [];
    for await (const entry of this.#kv.list<Stored<DeadLetterRecord>>({ prefix: DEAD })) {
      const { id, bundle, topic, deadAt } = entry.value;
      letters.push({ id, bundle, topic, deadAt });
    }
    let dropped = 0;
    for (const id of letterIdsToPrune(letters, options)) {
      if (await this.deleteDeadLetter(id)) dropped++;
    }
    return dropped;
  }

  /** Stores an event and its deliveries atomically; see {@linkcode EventStore.enqueue}. */
  async enqueue(event: EventRecord, deliveries: DeliveryRecord[], mark?: ScheduleMark) {
    const op = this.#kv.atomic();
    if (mark) {
      const current = await this.#kv.get<number>([...MARK, mark.key]);
      if (current.value !== null && current.value >= mark.slot) throw markConflict(mark);
      op.check(current).set([...MARK, mark.key], mark.slot);
    }
    let bytes = 0;
    if (deliveries.length > 0) {
      const eventKey = [...EVENT, event.id];
      const stored: StoredEvent = {
        ...event,
        payload: pack(event.payload),
        refs: deliveries.length,
      };
      op.check({ key: eventKey, versionstamp: null }).set(eventKey, stored);
      bytes += recordBytes(stored);
      // Delivery ids extend the (checked, unique) event id, so they need no check of their own.
      for (const d of deliveries) {
        const packed = packDelivery(d);
        op.set([...DELIVERY, d.id], packed).set([...DUE, d.nextAttemptAt, d.id], d.id);
        bytes += recordBytes(packed);
      }
    }
    if (!(await op.commit()).ok) {
      throw mark ? markConflict(mark) : conflict(`Event ${event.id} already exists`);
    }
    this.#used += bytes;
  }

  /** An event, if still referenced. */
  async getEvent(id: string): Promise<EventRecord | undefined> {
    const entry = await this.#kv.get<StoredEvent>([...EVENT, id]);
    return entry.value === null ? undefined : unpackEvent(entry.value);
  }

  /** A pending delivery. */
  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    const entry = await this.#kv.get<Stored<DeliveryRecord>>([...DELIVERY, id]);
    return entry.value === null ? undefined : unpackDelivery(entry.value);
  }

  /** Deliveries due by `now`, soonest first. */
  async due(now: number, limit: number): Promise<DeliveryRecord[]> {
    const out: DeliveryRecord[] = [];
    const index = this.#kv.list<string>({ start: DUE, end: [...DUE, now + 1] }, { limit });
    for await (const entry of index) {
      const delivery = await this.getDelivery(entry.value);
      if (delivery) out.push(delivery);
    }
    return out;
  }

  /** Replaces a pending delivery; `false` when it is gone. */
  async update(delivery: DeliveryRecord): Promise<boolean> {
    for (;;) {
      const current = await this.#kv.get<Stored<DeliveryRecord>>([...DELIVERY, delivery.id]);
      if (current.value === null) return false;
      const packed = packDelivery(delivery);
      const op = this.#kv.atomic().check(current).set([...DELIVERY, delivery.id], packed);
      if (current.value.nextAttemptAt !== delivery.nextAttemptAt) {
        op.delete([...DUE, current.value.nextAttemptAt, delivery.id])
          .set([...DUE, delivery.nextAttemptAt, delivery.id], delivery.id);
      }
      if ((await op.commit()).ok) {
        this.#used += recordBytes(packed) - recordBytes(current.value);
        return true;
      }
    }
  }

  /** Makes claimed deliveries due at `now`. */
  async releaseClaims(now: number): Promise<number> {
    let released = 0;
    for await (const entry of this.#kv.list<Stored<DeliveryRecord>>({ prefix: DELIVERY })) {
      if (entry.value.claimedAt === undefined) continue;
      const { claimedAt: _claim, ...rest } = unpackDelivery(entry.value);
      if (await this.update({ ...rest, nextAttemptAt: now })) released++;
    }
    return released;
  }

  /** Removes a delivered delivery, and its event when nothing refers to it any more. */
  async ack(id: string): Promise<boolean> {
    for (;;) {
      const current = await this.#kv.get<Stored<DeliveryRecord>>([...DELIVERY, id]);
      if (current.value === null) return false;
      const op = this.#kv.atomic().check(current).delete([...DELIVERY, id])
        .delete([...DUE, current.value.nextAttemptAt, id]);
      const freed = await this.#release(op, current.value.eventId);
      if ((await op.commit()).ok) {
        this.#used -= freed + recordBytes(current.value);
        return true;
      }
    }
  }

  /** Drops one reference to an event inside `op`; returns the bytes freed if `op` commits. */
  async #release(op: Deno.AtomicOperation, eventId: string): Promise<number> {
    const event = await this.#kv.get<StoredEvent>([...EVENT, eventId]);
    op.check(event);
    if (event.value === null) return 0;
    if (event.value.refs > 1) {
      op.set(event.key, { ...event.value, refs: event.value.refs - 1 });
      return 0;
    }
    op.delete(event.key);
    return recordBytes(event.value);
  }

  /** Moves a pending delivery to the dead letters. */
  async deadLetter(
    id: string,
    failure: { error: string; at: number },
  ): Promise<DeadLetterRecord | undefined> {
    for (;;) {
      const current = await this.#kv.get<Stored<DeliveryRecord>>([...DELIVERY, id]);
      if (current.value === null) return undefined;
      const { claimedAt: _claim, ...rest } = unpackDelivery(current.value);
      const { error, at } = failure;
      const letter: DeadLetterRecord = { ...rest, lastError: error, error, deadAt: at };
      const packed = packDelivery(letter);
      const ok = await this.#kv.atomic().check(current).delete([...DELIVERY, id])
        .delete([...DUE, current.value.nextAttemptAt, id]).set([...DEAD, id], packed)
        .commit();
      if (ok.ok) {
        this.#used += recordBytes(packed) - recordBytes(current.value);
        return letter;
      }
    }
  }

  /** Dead letters in id order. */
  async deadLetters(
    options: { limit?: number; after?: string } = {},
  ): Promise<DeadLetterRecord[]> {
    const out: DeadLetterRecord[] = [];
    const limit = options.limit ?? 100;
    const selector = options.after === undefined
      ? { prefix: DEAD }
      : { prefix: DEAD, start: [...DEAD, options.after] };
    for await (const entry of this.#kv.list<Stored<DeadLetterRecord>>(selector)) {
      if (entry.value.id === options.after) continue;
      out.push(unpackDelivery(entry.value));
      if (out.length >= limit) break;
    }
    return out;
  }

  /** One dead letter. */
  async getDeadLetter(id: string): Promise<DeadLetterRecord | undefined> {
    const entry = await this.#kv.get<Stored<DeadLetterRecord>>([...DEAD, id]);
    return entry.value === null ? undefined : unpackDelivery(entry.value);
  }

  /** Moves a dead letter back to the pending deliveries. */
  async replay(id: string, at: number): Promise<DeliveryRecord | undefined> {
    for (;;) {
      const letter = await this.#kv.get<Stored<DeadLetterRecord>>([...DEAD, id]);
      if (letter.value === null) return undefined;
      const delivery = deliveryOf(unpackDelivery(letter.value), at);
      const packed = packDelivery(delivery);
      const ok = await this.#kv.atomic().check(letter).delete([...DEAD, id])
        .set([...DELIVERY, id], packed).set([...DUE, at, id], id).commit();
      if (ok.ok) {
        this.#used += recordBytes(packed) - recordBytes(letter.value);
        return delivery;
      }
    }
  }

  /** Deletes a dead letter, and its event when nothing refers to it any more. */
  async deleteDeadLetter(id: string): Promise<boolean> {
    for (;;) {
      const letter = await this.#kv.get<Stored<DeadLetterRecord>>([...DEAD, id]);
      if (letter.value === null) return false;
      const op = this.#kv.atomic().check(letter).delete([...DEAD, id]);
      const freed = await this.#release(op, letter.value.eventId);
      if ((await op.commit()).ok) {
        this.#used -= freed + recordBytes(letter.value);
        return true;
      }
    }
  }

  /** Counts, by scanning. */
  async stats(): Promise<EventStoreStats> {
    const stats: EventStoreStats = { events: 0, pending: 0, inFlight: 0, deadLetters: 0 };
    for await (const _ of this.#kv.list({ prefix: EVENT })) stats.events++;
    for await (const entry of this.#kv.list<Stored<DeliveryRecord>>({ prefix: DELIVERY })) {
      stats.pending++;
      if (entry.value.claimedAt !== undefined) stats.inFlight++;
    }
    for await (const _ of this.#kv.list({ prefix: DEAD })) stats.deadLetters++;
    return stats;
  }

  /** A schedule's mark. */
  async getMark(key: string): Promise<number | undefined> {
    return (await this.#kv.get<number>([...MARK, key])).value ?? undefined;
  }

  /** Raises a schedule's mark. */
  async raiseMark(key: string, slot: number): Promise<void> {
    for (;;) {
      const current = await this.#kv.get<number>([...MARK, key]);
      if (current.value !== null && current.value >= slot) return;
      if ((await this.#kv.atomic().check(current).set([...MARK, key], slot).commit()).ok) return;
    }
  }
}
