/**
 * The records of the cluster event bucket as compare-and-set writes (each under its revision's
 * lock, see `withRevisionLock`), the reference count of events, and the dead letters: the part
 * of `NatsEventStore` that needs no claims, heartbeats or watch.
 *
 * @module
 */
import type { KV, KvEntry } from "@nats-io/kv";
import type { DeadLetterRecord, DeliveryRecord, EventRecord } from "../store/event_records.ts";
import { type DeadLetterPruning, deliveryOf, letterIdsToPrune } from "../store/event_store.ts";
import {
  DEAD_KEY,
  DELIVERY_KEY,
  EVENT_KEY,
  type EventMirror,
  keyToken,
  type MirroredDelivery,
} from "./nats_event_mirror.ts";
import { isCasFailure, jsonBytes, liveEntry, natsCall, withRevisionLock } from "./nats_kv.ts";

const decoder = new TextDecoder();

/** A stored JSON value. */
export const parse = <T>(entry: KvEntry): T => JSON.parse(decoder.decode(entry.value)) as T;

/** An event as stored: the record and the ids of the deliveries and dead letters holding it. */
export type StoredEvent = EventRecord & { holders: string[] };

/** Further tries of a release that failed for want of NATS (it is idempotent). */
const RELEASE_RETRIES = 2;

/** CAS retries before a change gives up (another engine keeps changing the record). */
export const MAX_CAS_TRIES = 16;

/** Compare-and-set writes, event references and dead letters of one event bucket. */
export class EventRecords {
  /** The event bucket. */
  readonly kv: KV;
  /** The revision lock bucket. */
  readonly locks: KV;
  /** This engine's mirror of the event bucket. */
  readonly mirror: EventMirror;
  /** The store's owner name, on the revision locks it takes. */
  readonly holder: string;

  /**
   * @param kv The event bucket.
   * @param locks The revision lock bucket.
   * @param mirror The mirror every write is applied to.
   * @param holder The store's owner name.
   */
  constructor(kv: KV, locks: KV, mirror: EventMirror, holder: string) {
    this.kv = kv;
    this.locks = locks;
    this.mirror = mirror;
    this.holder = holder;
  }

  /** Reads a key from NATS into the mirror; returns the pending delivery there, if any. */
  async refresh(key: string): Promise<MirroredDelivery | undefined> {
    const entry = await natsCall(`reading ${key}`, () => this.kv.get(key));
    if (entry === null) this.mirror.apply(key, this.mirror.revision(key) + 0.5, null);
    else this.mirror.apply(key, entry.revision, entry.operation === "PUT" ? entry.value : null);
    return this.mirror.deliveries.get(key);
  }

  /**
   * Writes `key` by compare-and-set: created when `revision` is `undefined`, else replaced if it
   * is still at `revision` (under that revision's lock).
   *
   * @throws {CasLost} Or a NATS "wrong last sequence" error, when another write came first.
   */
  write(key: string, value: Uint8Array, revision?: number): Promise<number> {
    if (revision === undefined) {
      return natsCall(`creating ${key}`, () => this.kv.create(key, value));
    }
    return withRevisionLock(
      this.locks,
      this.holder,
      key,
      revision,
      () => natsCall(`updating ${key}`, () => this.kv.update(key, value, revision)),
    );
  }

  /** Deletes `key` if it is still at `revision`; `false` when it changed. */
  async deleteAt(key: string, revision: number): Promise<boolean> {
    try {
      await withRevisionLock(
        this.locks,
        this.holder,
        key,
        revision,
        () => natsCall(`deleting ${key}`, () => this.kv.delete(key, { previousSeq: revision })),
      );
    } catch (error) {
      if (isCasFailure(error)) return false;
      throw error;
    }
    this.mirror.apply(key, revision + 0.5, null);
    return true;
  }

  /**
   * Drops delivery `holder`'s reference to an event (CAS), deleting the event with the last. The
   * event names the deliveries that hold it, so a release tried again (after a timeout that may
   * have hidden a success) never drops another delivery's reference.
   *
   * @param eventId The event.
   * @param holder The delivery (or dead letter) id that no longer needs it.
   * @returns Whether the reference is gone; `false` when the event kept changing, or its revision
   *   lock was held by a write NATS did not answer (try again later).
   */
  async release(eventId: string, holder: string): Promise<boolean> {
    for (let failures = 0;; failures++) {
      try {
        return await this.#release(eventId, holder);
      } catch (error) {
        if (failures >= RELEASE_RETRIES) throw error;
      }
    }
  }

  async #release(eventId: string, holder: string): Promise<boolean> {
    const key = `${EVENT_KEY}.${keyToken(eventId)}`;
    for (let tries = 0; tries < MAX_CAS_TRIES; tries++) {
      const entry = await liveEntry(this.kv, key);
      if (!entry) return true;
      const stored = parse<StoredEvent>(entry);
      if (!stored.holders.includes(holder)) return true;
      const holders = stored.holders.filter((h) => h !== holder);
      if (holders.length === 0) {
        if (await this.deleteAt(key, entry.revision)) return true;
        continue;
      }
      const value = jsonBytes({ ...stored, holders });
      try {
        const revision = await this.write(key, value, entry.revision);
        this.mirror.apply(key, revision, value);
        return true;
      } catch (error) {
        if (!isCasFailure(error)) throw error;
      }
    }
    return false;
  }

  /** Moves a pending delivery to the dead letters. */
  async deadLetter(
    id: string,
    failure: { error: string; at: number },
  ): Promise<DeadLetterRecord | undefined> {
    const key = `${DELIVERY_KEY}.${keyToken(id)}`;
    const deadKey = `${DEAD_KEY}.${keyToken(id)}`;
    let current = this.mirror.deliveries.get(key) ?? await this.refresh(key);
    for (let tries = 0; current && tries < MAX_CAS_TRIES; tries++) {
      const { claimedAt: _claim, ...rest } = current.record;
      const { error, at } = failure;
      const letter: DeadLetterRecord = { ...rest, lastError: error, error, deadAt: at };
      const value = jsonBytes(letter);
      // The letter first: a crash between the two writes leaves both, never neither.
      const revision = await natsCall("storing a dead letter", () => this.kv.put(deadKey, value));
      if (await this.deleteAt(key, current.revision)) {
        this.mirror.apply(deadKey, revision, value);
        return letter;
      }
      await this.deleteAt(deadKey, revision);
      current = await this.refresh(key);
    }
    return undefined;
  }

  /** Dead letters in id order. */
  async deadLetters(
    options: { limit?: number; after?: string } = {},
  ): Promise<DeadLetterRecord[]> {
    const { after, limit = 100 } = options;
    const ids = [...this.mirror.dead.values()].map((l) => l.id)
      .filter((id) => after === undefined || id > after).sort().slice(0, limit);
    const letters = await Promise.all(ids.map((id) => this.getDeadLetter(id)));
    return letters.filter((l): l is DeadLetterRecord => l !== undefined);
  }

  /** One dead letter. */
  async getDeadLetter(id: string): Promise<DeadLetterRecord | undefined> {
    const entry = await liveEntry(this.kv, `${DEAD_KEY}.${keyToken(id)}`);
    return entry ? parse<DeadLetterRecord>(entry) : undefined;
  }

  /** Moves a dead letter back to the pending deliveries; one engine wins a racing replay. */
  async replay(id: string, at: number): Promise<DeliveryRecord | undefined> {
    const key = `${DELIVERY_KEY}.${keyToken(id)}`;
    const deadKey = `${DEAD_KEY}.${keyToken(id)}`;
    const entry = await liveEntry(this.kv, deadKey);
    if (!entry) return undefined;
    const delivery = deliveryOf(parse<DeadLetterRecord>(entry), at);
    const value = jsonBytes(delivery);
    let revision: number;
    try {
      revision = await natsCall("replaying a dead letter", () => this.kv.create(key, value));
    } catch (error) {
      if (isCasFailure(error)) return undefined;
      throw error;
    }
    if (!(await this.deleteAt(deadKey, entry.revision))) {
      await this.deleteAt(key, revision);
      return undefined;
    }
    this.mirror.apply(key, revision, value);
    return delivery;
  }

  /** Deletes a dead letter, and its event when nothing refers to it any more. */
  async deleteDeadLetter(id: string): Promise<boolean> {
    const deadKey = `${DEAD_KEY}.${keyToken(id)}`;
    for (let tries = 0; tries < MAX_CAS_TRIES; tries++) {
      const entry = await liveEntry(this.kv, deadKey);
      if (!entry) return false;
      if (await this.deleteAt(deadKey, entry.revision)) {
        await this.release(parse<DeadLetterRecord>(entry).eventId, id);
        return true;
      }
    }
    return false;
  }

  /** Drops expired dead letters and the oldest beyond the cap; see {@linkcode EventStore.pruneDeadLetters}. */
  async pruneDeadLetters(options: DeadLetterPruning): Promise<number> {
    let dropped = 0;
    for (const id of letterIdsToPrune(this.mirror.dead.values(), options)) {
      if (await this.deleteDeadLetter(id)) dropped++;
    }
    return dropped;
  }
}
