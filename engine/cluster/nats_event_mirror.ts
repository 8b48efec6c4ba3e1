/**
 * The in-memory mirror of the cluster event bucket that each engine's `NatsEventStore` keeps: every
 * pending delivery (whole, so `due()` is answered without a round trip), and the id, subscriber
 * and size of every event and dead letter (for stats, byte accounting and pruning). A KV watch
 * feeds it with every engine's changes; the store applies its own writes at once, so it reads what
 * it wrote. Each key remembers the last revision applied, so a late watch entry never undoes a
 * newer local write.
 *
 * Keys (one bucket, NATS subject tokens): `e.<event>`, `d.<delivery>`, `x.<dead letter>`,
 * `m.<schedule>`; ids are escaped by {@linkcode keyToken}.
 *
 * @module
 */
import type { DeliveryRecord } from "../store/event_records.ts";
import { RECORD_OVERHEAD_BYTES } from "../store/event_store.ts";

/** Key prefix of an event record. */
export const EVENT_KEY = "e";
/** Key prefix of a pending delivery. */
export const DELIVERY_KEY = "d";
/** Key prefix of a dead letter. */
export const DEAD_KEY = "x";
/** Key prefix of a schedule mark. */
export const MARK_KEY = "m";

/**
 * An id as one NATS subject token: letters, digits and `-` stay, every other UTF-16 unit becomes
 * `_` and four hex digits (so `.`, `*`, `>`, `~` and spaces can never change the key's meaning).
 *
 * @example A delivery id as a key
 * ```ts
 * import { keyToken } from "./nats_event_mirror.ts";
 * console.log(`d.${keyToken("0001-ab~2")}`); // d.0001-ab_007e2
 * ```
 *
 * @param id Any string.
 * @returns The escaped token (never empty).
 */
export function keyToken(id: string): string {
  let out = "";
  for (let i = 0; i < id.length; i++) {
    const c = id[i]!;
    out += /[A-Za-z0-9-]/.test(c) ? c : `_${id.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return out === "" ? "_" : out;
}

/** A pending delivery as stored: the record plus the store that holds its claim. */
export type StoredDelivery = DeliveryRecord & { owner?: string };

/** A pending delivery in the mirror. */
export interface MirroredDelivery {
  /** The record, without `owner`. */
  record: DeliveryRecord;
  /** The store (engine) whose claim it carries, when claimed. */
  owner?: string;
  /** Revision of the stored value. */
  revision: number;
}

/** What the mirror keeps of a dead letter. */
export interface MirroredLetter {
  /** Dead letter id. */
  id: string;
  /** Subscriber bundle. */
  bundle: string;
  /** Topic. */
  topic: string;
  /** When it died, epoch ms. */
  deadAt: number;
}

/** Most tombstones kept before those the watch has passed are forgotten. */
const MAX_TOMBSTONES = 4_096;

const decoder = new TextDecoder();

/** The mirror of one event bucket. */
export class EventMirror {
  /** Pending deliveries by key. */
  readonly deliveries = new Map<string, MirroredDelivery>();
  /** Dead letters by key. */
  readonly dead = new Map<string, MirroredLetter>();
  /** Event keys. */
  readonly events = new Set<string>();
  readonly #revisions = new Map<string, number>();
  readonly #bytes = new Map<string, number>();
  readonly #tombstones = new Set<string>();
  #used = 0;
  #watched = 0;

  /** Bytes held (values plus a fixed overhead per record). */
  get usedBytes(): number {
    return Math.max(0, this.#used);
  }

  /** The highest revision the watch delivered. */
  get watched(): number {
    return this.#watched;
  }

  /** The revision last applied for `key` (0 when never seen). */
  revision(key: string): number {
    return this.#revisions.get(key) ?? 0;
  }

  /**
   * Applies a stored value (`null`: deleted) at `revision`; older than what was applied is ignored.
   *
   * @param key Bucket key.
   * @param revision Its revision (stream sequence); a local delete passes the deleted revision
   *   plus a half, which sits between it and the delete marker's real revision.
   * @param value The stored JSON bytes, or `null`.
   * @param fromWatch Whether the watch delivered it (watch entries arrive in revision order).
   */
  apply(key: string, revision: number, value: Uint8Array | null, fromWatch = false): void {
    if (fromWatch) this.#watched = Math.max(this.#watched, revision);
    if (revision <= this.revision(key)) return;
    this.#revisions.set(key, revision);
    this.#used -= this.#bytes.get(key) ?? 0;
    this.#bytes.delete(key);
    this.deliveries.delete(key);
    this.dead.delete(key);
    this.events.delete(key);
    if (value === null) {
      this.#tombstones.add(key);
      this.#forget();
      return;
    }
    this.#tombstones.delete(key);
    const kind = key.slice(0, key.indexOf("."));
    if (kind === MARK_KEY) return;
    this.#bytes.set(key, value.byteLength + RECORD_OVERHEAD_BYTES);
    this.#used += value.byteLength + RECORD_OVERHEAD_BYTES;
    if (kind === EVENT_KEY) this.events.add(key);
    else if (kind === DELIVERY_KEY) {
      const { owner, ...record } = JSON.parse(decoder.decode(value)) as StoredDelivery;
      this.deliveries.set(key, { record, owner, revision });
    } else if (kind === DEAD_KEY) {
      const { id, bundle, topic, deadAt } = JSON.parse(decoder.decode(value)) as MirroredLetter;
      this.dead.set(key, { id, bundle, topic, deadAt });
    }
  }

  /** Drops tombstones the watch has passed (no late entry can come for them any more). */
  #forget(): void {
    if (this.#tombstones.size <= MAX_TOMBSTONES) return;
    for (const key of this.#tombstones) {
      if (this.revision(key) <= this.#watched) {
        this.#tombstones.delete(key);
        this.#revisions.delete(key);
      }
    }
  }

  /**
   * Pending deliveries due by `now` (and those claimed by a store that `orphaned` says is gone),
   * soonest first, ties by id, at most `limit`.
   */
  due(
    now: number,
    limit: number,
    orphaned: (owner: string) => boolean,
  ): { record: DeliveryRecord; revision: number }[] {
    const due: { record: DeliveryRecord; revision: number }[] = [];
    for (const { record, owner, revision } of this.deliveries.values()) {
      if (record.nextAttemptAt <= now) due.push({ record, revision });
      else if (record.claimedAt !== undefined && owner !== undefined && orphaned(owner)) {
        due.push({
          record: { ...record, nextAttemptAt: Math.min(record.nextAttemptAt, now) },
          revision,
        });
      }
    }
    due.sort(({ record: a }, { record: b }) =>
      a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    );
    return structuredClone(due.slice(0, limit));
  }

  /** The owners of claimed deliveries, other than `self`. */
  claimOwners(self: string): Set<string> {
    const owners = new Set<string>();
    for (const { record, owner } of this.deliveries.values()) {
      if (record.claimedAt !== undefined && owner !== undefined && owner !== self) {
        owners.add(owner);
      }
    }
    return owners;
  }
}
