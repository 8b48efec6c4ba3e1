/**
 * The compare-and-set writes of one pending delivery in the cluster event bucket: a claim (on the
 * revision `due()` read), its checkpoints, a release, and the acknowledgement that deletes it.
 * A write NATS did not answer is tried again after a pause, and the key re-read: a try that timed
 * out may have been written after all. What a write whose outcome stays unknown leaves behind is
 * settled by `nats_event_claims.ts`.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { DeliveryRecord } from "../store/event_records.ts";
import {
  DELIVERY_KEY,
  keyToken,
  type MirroredDelivery,
  type StoredDelivery,
} from "./nats_event_mirror.ts";
import { type EventRecords, MAX_CAS_TRIES } from "./nats_event_records.ts";
import { isCasFailure, jsonBytes } from "./nats_kv.ts";

/** Further tries of a change NATS did not answer, each after {@linkcode RETRY_PAUSE_MS}. */
const UNAVAILABLE_RETRIES = 3;
/** Pause before such a try, ms. */
const RETRY_PAUSE_MS = 500;
/** Most revisions remembered for the deliveries `due()` handed out. */
const MAX_HANDED = 10_000;

/** What an update did: written, and whether a try of it went unanswered (it may land later). */
export interface UpdateOutcome {
  /** Whether the record is now what was written. */
  written: boolean;
  /** Whether NATS left a try unanswered, so a lost claim may still have been written. */
  doubt: boolean;
}

/** The writes of pending deliveries for one store. */
export class DeliveryWrites {
  readonly #records: EventRecords;
  readonly #owner: string;
  readonly #clock: Clock;
  readonly #orphaned: (owner: string) => boolean;
  /** Revisions of the deliveries `due()` returned, by id (oldest first, bounded). */
  readonly #handed = new Map<string, number>();

  /**
   * @param records The event bucket's writes.
   * @param owner The store's owner name, in its claims.
   * @param clock Time source of the pauses.
   * @param orphaned Whether an owner's heartbeat was found expired.
   */
  constructor(
    records: EventRecords,
    owner: string,
    clock: Clock,
    orphaned: (owner: string) => boolean,
  ) {
    this.#records = records;
    this.#owner = owner;
    this.#clock = clock;
    this.#orphaned = orphaned;
  }

  /** Remembers the revisions `due()` read: a claim must find its record there. */
  handed(due: { record: DeliveryRecord; revision: number }[]): void {
    for (const { record, revision } of due) {
      this.#handed.delete(record.id);
      this.#handed.set(record.id, revision);
    }
    for (const id of this.#handed.keys()) {
      if (this.#handed.size <= MAX_HANDED) break;
      this.#handed.delete(id);
    }
  }

  /**
   * Replaces a pending delivery by CAS (`record` without `owner`; a claim is stored with this
   * store's name).
   *
   * @throws {BundlehostError} `UNAVAILABLE` when NATS did not answer several tries.
   */
  async update(record: DeliveryRecord): Promise<UpdateOutcome> {
    const mirror = this.#records.mirror;
    const key = `${DELIVERY_KEY}.${keyToken(record.id)}`;
    const stored: StoredDelivery = record.claimedAt === undefined
      ? record
      : { ...record, owner: this.#owner };
    const value = jsonBytes(stored);
    const handed = this.#handed.get(record.id);
    this.#handed.delete(record.id);
    const landed = (d?: MirroredDelivery) =>
      d?.owner === stored.owner && JSON.stringify(d?.record) === JSON.stringify(record);
    let current = mirror.deliveries.get(key) ?? await this.#records.refresh(key);
    let unavailable = 0;
    const lost = () => ({ written: false, doubt: unavailable > 0 });
    for (let tries = 0; current && tries < MAX_CAS_TRIES; tries++) {
      // A claim, unless it is this store's own claim written again (a map checkpoint).
      const claiming = record.claimedAt !== undefined &&
        (current.owner !== this.#owner || record.claimedAt !== current.record.claimedAt);
      // Another engine's live claim is never taken over, however fresh this reading is, nor
      // released: a release is of this store's own claim (one whose write timed out may have
      // lost to that engine's).
      if (
        (claiming || record.claimedAt === undefined) && current.record.claimedAt !== undefined &&
        current.owner !== undefined && current.owner !== this.#owner &&
        !this.#orphaned(current.owner)
      ) return lost();
      // A claim holds only on the revision `due()` read: a newer one may be another's claim.
      const revision = claiming && tries === 0 && handed !== undefined ? handed : current.revision;
      try {
        const next = await this.#records.write(key, value, revision);
        mirror.apply(key, next, value);
        return { written: true, doubt: false };
      } catch (error) {
        if (!isCasFailure(error) && ++unavailable > UNAVAILABLE_RETRIES) throw error;
        if (!isCasFailure(error)) await this.#pause();
      }
      current = await this.#reread(key);
      // A try that timed out may have been written after all.
      if (landed(current)) return { written: true, doubt: false };
      // Someone else changed it since it was read: a claim made on that reading is lost.
      if (claiming && unavailable === 0) return lost();
    }
    return lost();
  }

  /**
   * Deletes a delivered delivery (`deleted`: `false` when it is gone or kept changing), and drops
   * its event reference (`released`: `false` when that is still to do).
   *
   * @throws {BundlehostError} `UNAVAILABLE` when NATS did not answer several tries.
   */
  async ack(id: string): Promise<{ deleted: boolean; released: boolean }> {
    const key = `${DELIVERY_KEY}.${keyToken(id)}`;
    let current = this.#records.mirror.deliveries.get(key) ?? await this.#records.refresh(key);
    const eventId = current?.record.eventId;
    let unavailable = 0;
    for (let tries = 0; current && tries < MAX_CAS_TRIES; tries++) {
      try {
        if (await this.#records.deleteAt(key, current.revision)) {
          return {
            deleted: true,
            released: await this.#records.release(current.record.eventId, id),
          };
        }
      } catch (error) {
        if (++unavailable > UNAVAILABLE_RETRIES) throw error;
        await this.#pause();
      }
      current = await this.#reread(key);
    }
    // Gone after a try NATS did not answer: that try deleted it.
    if (!current && unavailable > 0 && eventId !== undefined) {
      return { deleted: true, released: await this.#records.release(eventId, id) };
    }
    return { deleted: false, released: false };
  }

  /** Reads a key again after a failed write, trying again while NATS does not answer. */
  async #reread(key: string): Promise<MirroredDelivery | undefined> {
    for (let failures = 0;; failures++) {
      try {
        return await this.#records.refresh(key);
      } catch (error) {
        if (failures >= UNAVAILABLE_RETRIES) throw error;
        await this.#pause();
      }
    }
  }

  /** Waits before trying again a change NATS did not answer (a leader election, a reconnect). */
  #pause(): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimeout(resolve, RETRY_PAUSE_MS));
  }
}
