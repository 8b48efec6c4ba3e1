/**
 * The event store of cluster mode, on NATS JetStream: one replicated key-value bucket
 * (`bundlehost_events`, R3 on a cluster of three or more) holds events, pending deliveries, dead
 * letters and schedule marks, one key per record, so any engine of the cluster can run any
 * delivery and a dead NATS node loses nothing acknowledged.
 *
 * **Claims.** Every change is a compare-and-set on the key's revision. A dispatcher claims a due
 * delivery by updating it with the revision it read; when several engines read the same
 * delivery, exactly one update succeeds and the others get `false` and skip it. A claim names
 * the store (engine) that holds it; each store keeps a heartbeat key in a second bucket with a
 * short TTL (`bundlehost_event_owners`), and a claim whose owner's heartbeat has expired is due
 * again at once on every other engine (an engine killed mid-delivery: its deliveries run again,
 * at least once). `releaseClaims` at start-up frees only the store's own claims.
 *
 * **Due index.** Each engine mirrors the bucket in memory through a KV watch (every pending
 * delivery whole, and the size of every event and dead letter; `nats_event_mirror.ts`), and
 * applies its own writes at once. `due(now, limit)` is answered from that mirror without a
 * round trip to NATS; the dispatcher's CAS claim settles any staleness.
 *
 * **Schedules.** A mark is a CAS lease: the firing that moves `m.<schedule>` from below the slot
 * to the slot wins; every other engine gets `CONFLICT` for that slot, so a cron slot fires once
 * in the cluster. The mark is taken before the event is stored: an engine killed between the two
 * loses that one slot (at most once for that crash window), never fires it twice.
 *
 * Every NATS call has a timeout (`timeoutMs`); a failure other than a lost CAS is
 * `UNAVAILABLE`.
 *
 * **Unknown outcomes.** A claim, acknowledgement, dead-lettering or release that NATS did not
 * answer (a node killed, a leader being elected) may have been written or not. The delivery is
 * kept as unsettled (`nats_event_claims.ts`) and re-read every {@linkcode SETTLE_MS} until it is
 * finished or released; a claim of this engine that no attempt here holds is released the same
 * way, so a live engine never keeps a claim nobody works on.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import type { Clock } from "../base/clock.ts";
import type {
  DeadLetterRecord,
  DeliveryRecord,
  EventRecord,
  EventStoreStats,
  ScheduleMark,
} from "../store/event_records.ts";
import {
  conflict,
  type DeadLetterPruning,
  type EventStore,
  markConflict,
} from "../store/event_store.ts";
import {
  DELIVERY_KEY,
  EVENT_KEY,
  EventMirror,
  keyToken,
  MARK_KEY,
  type StoredDelivery,
} from "./nats_event_mirror.ts";
import {
  type EventBuckets,
  type NatsEventStoreOptions,
  openEventBuckets,
} from "./nats_event_buckets.ts";
import { OwnerHeartbeats } from "./nats_event_owners.ts";
import { ClaimLedger } from "./nats_event_claims.ts";
import { DeliveryWrites } from "./nats_event_writes.ts";
import { EventWatch } from "./nats_event_watch.ts";
import { EventRecords, parse, type StoredEvent } from "./nats_event_records.ts";
import { connectCluster } from "./connection.ts";
import { isCasFailure, jsonBytes, liveEntry, natsCall } from "./nats_kv.ts";

export type { NatsEventStoreOptions } from "./nats_event_buckets.ts";

/** Least time between two rounds of settling unknown outcomes, ms. */
export const SETTLE_MS = 1_000;

/**
 * The cluster event store on NATS JetStream; see the module documentation for its design.
 *
 * @example Events shared by the engines of a cluster
 * ```ts
 * import { NatsEventStore } from "@bundlehost/sdk";
 *
 * const events = await NatsEventStore.connect(["127.0.0.1:4222"], { owner: "engine-a" });
 * console.log(await events.stats());
 * await events.close();
 * ```
 */
export class NatsEventStore implements EventStore {
  /** This store's name in claims and heartbeats. */
  readonly owner: string;
  readonly #kv: KV;
  readonly #records: EventRecords;
  readonly #mirror = new EventMirror();
  readonly #heartbeats: OwnerHeartbeats;
  readonly #watch: EventWatch;
  readonly #clock: Clock;
  readonly #writes: DeliveryWrites;
  readonly #claims: ClaimLedger;
  /** The settling round in progress (or the last one), and when it started (monotonic ms). */
  #settling: Promise<void> = Promise.resolve();
  #settledAt = -Infinity;
  #closed = false;
  #connection?: NatsConnection;

  private constructor(buckets: EventBuckets, owner: string) {
    const { kv, locks, owners, clock, ttl } = buckets;
    this.#kv = kv;
    this.#records = new EventRecords(kv, locks, this.#mirror, owner);
    this.owner = owner;
    this.#heartbeats = new OwnerHeartbeats(owners, owner, clock, ttl);
    this.#watch = new EventWatch(kv, this.#mirror, clock);
    this.#clock = clock;
    this.#claims = new ClaimLedger(this.#records, owner);
    this.#writes = new DeliveryWrites(
      this.#records,
      owner,
      clock,
      (o) => this.#heartbeats.orphaned(o),
    );
  }

  /**
   * Opens (creating when missing) the event buckets, loads the mirror and starts the heartbeat.
   * For the engine, which shares its one NATS connection between the cluster stores.
   *
   * @ignore
   *
   * @param nc An open NATS connection (`connectCluster`).
   * @param options Owner name, replicas, timeouts.
   * @throws {BundlehostError} `UNAVAILABLE` when JetStream does not answer.
   */
  static async open(
    nc: NatsConnection,
    options: NatsEventStoreOptions = {},
  ): Promise<NatsEventStore> {
    const buckets = await openEventBuckets(nc, options);
    const store = new NatsEventStore(buckets, options.owner ?? crypto.randomUUID());
    try {
      await store.#watch.start();
      await store.#heartbeats.beat();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /**
   * Connects to a NATS cluster and opens the store on a connection of its own, which
   * {@linkcode NatsEventStore.close} closes.
   *
   * @param servers `host:port` of the NATS servers (`parseClusterServers` of `nats://` URLs).
   * @param options Owner name, replicas, timeouts.
   * @returns The store, its mirror loaded.
   * @throws {BundlehostError} `UNAVAILABLE` when no server or JetStream answers.
   */
  static async connect(
    servers: string[],
    options: NatsEventStoreOptions = {},
  ): Promise<NatsEventStore> {
    const nc = await connectCluster(servers, options.owner ?? "bundlehost-events");
    try {
      const store = await NatsEventStore.open(nc, options);
      store.#connection = nc;
      return store;
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  /** Stops the watch and the heartbeat (claims expire with the heartbeat's TTL). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#settling;
    await this.#watch.stop();
    await this.#heartbeats.stop();
    await this.#connection?.close();
  }

  /** Estimated bytes held; see {@linkcode EventStore.usedBytes}. */
  usedBytes(): number {
    return this.#mirror.usedBytes;
  }

  /** Stores an event and its deliveries; see {@linkcode EventStore.enqueue}. */
  async enqueue(event: EventRecord, deliveries: DeliveryRecord[], mark?: ScheduleMark) {
    const eventKey = `${EVENT_KEY}.${keyToken(event.id)}`;
    if (mark) {
      if (deliveries.length > 0 && await liveEntry(this.#kv, eventKey)) {
        throw conflict(`Event ${event.id} already exists`);
      }
      await this.#takeMark(mark);
    }
    if (deliveries.length === 0) return;
    const stored: StoredEvent = { ...event, holders: deliveries.map((d) => d.id) };
    const value = jsonBytes(stored);
    let revision: number;
    try {
      revision = await natsCall("storing an event", () => this.#kv.create(eventKey, value));
    } catch (error) {
      if (isCasFailure(error)) throw conflict(`Event ${event.id} already exists`);
      throw error;
    }
    this.#mirror.apply(eventKey, revision, value);
    await Promise.all(deliveries.map(async (d) => {
      const key = `${DELIVERY_KEY}.${keyToken(d.id)}`;
      const bytes = jsonBytes(d);
      this.#mirror.apply(
        key,
        await natsCall("storing a delivery", () => this.#kv.put(key, bytes)),
        bytes,
      );
    }));
  }

  /** Moves a schedule's mark to `mark.slot` by CAS, or fails with `CONFLICT`. */
  async #takeMark(mark: ScheduleMark): Promise<void> {
    const key = `${MARK_KEY}.${keyToken(mark.key)}`;
    for (;;) {
      const entry = await liveEntry(this.#kv, key);
      if (entry && parse<number>(entry) >= mark.slot) throw markConflict(mark);
      const value = jsonBytes(mark.slot);
      try {
        await this.#records.write(key, value, entry?.revision);
        return;
      } catch (error) {
        if (!isCasFailure(error)) throw error;
      }
    }
  }

  /** An event, if still referenced. */
  async getEvent(id: string): Promise<EventRecord | undefined> {
    const entry = await liveEntry(this.#kv, `${EVENT_KEY}.${keyToken(id)}`);
    if (!entry) return undefined;
    const { holders: _holders, ...event } = parse<StoredEvent>(entry);
    return event;
  }

  /** A pending delivery. */
  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    return structuredClone(
      (await this.#records.refresh(`${DELIVERY_KEY}.${keyToken(id)}`))?.record,
    );
  }

  /** Deliveries due by `now` (and claims of engines whose heartbeat expired), soonest first. */
  async due(now: number, limit: number): Promise<DeliveryRecord[]> {
    this.#settle(now);
    await this.#heartbeats.check(this.#mirror.claimOwners(this.owner));
    const due = this.#mirror.due(now, limit, (owner) => this.#heartbeats.orphaned(owner));
    // A claim of these records must find them at the revisions read here (see `update`).
    this.#writes.handed(due);
    return due.map(({ record }) => record);
  }

  /**
   * Starts a round of settling unknown outcomes in the background, unless one runs or the last
   * started less than {@linkcode SETTLE_MS} ago.
   */
  #settle(now: number): void {
    const at = this.#clock.monotonic();
    if (this.#closed || at - this.#settledAt < SETTLE_MS) return;
    this.#settledAt = Infinity;
    this.#settling = this.#claims.settle(now).finally(() => {
      this.#settledAt = this.#clock.monotonic();
    });
  }

  /** How many deliveries wait for an unknown write outcome to be settled (for tests). */
  get unsettled(): number {
    return this.#claims.unsettled;
  }

  /**
   * Replaces a pending delivery by CAS; `false` when it is gone or another engine claimed it.
   * A claim NATS did not answer is kept as unsettled (it may have been written); so is a release
   * NATS did not answer, with the record it meant to write.
   */
  update(delivery: DeliveryRecord): Promise<boolean> {
    const { owner: _owner, ...record } = delivery as StoredDelivery;
    const claim = record.claimedAt !== undefined;
    if (!claim) this.#claims.hold(record.id, false);
    const intent = claim ? undefined : { kind: "release" as const, record };
    return this.#claims.track(record.id, intent, async () => {
      const outcome = await this.#writes.update(record).catch((error) => {
        if (claim && !this.#claims.holds(record.id)) this.#claims.doubt(record.id);
        throw error;
      });
      if (claim && outcome.written) this.#claims.hold(record.id, true);
      else if (claim && outcome.doubt && !this.#claims.holds(record.id)) {
        this.#claims.doubt(record.id);
      }
      return outcome.written;
    });
  }

  /** Makes this store's own claimed deliveries due at `now` (start-up after a crash). */
  async releaseClaims(now: number): Promise<number> {
    let released = 0;
    for (const { record, owner } of [...this.#mirror.deliveries.values()]) {
      if (record.claimedAt === undefined || owner !== this.owner) continue;
      const { claimedAt: _claim, ...rest } = record;
      if (await this.update({ ...rest, nextAttemptAt: now })) released++;
    }
    return released;
  }

  /**
   * Removes a delivered delivery, and its event when nothing refers to it any more. Whatever of
   * that NATS did not answer or a revision lock refused is kept as unsettled and done later.
   */
  async ack(id: string): Promise<boolean> {
    this.#claims.hold(id, false);
    const key = `${DELIVERY_KEY}.${keyToken(id)}`;
    const eventId = this.#mirror.deliveries.get(key)?.record.eventId;
    // NATS not answering: settled later, the delivery deleted if it is still this engine's claim.
    const intent = eventId === undefined ? undefined : { kind: "ack" as const, eventId };
    let deleted = false;
    await this.#claims.track(id, intent, async () => {
      const outcome = await this.#writes.ack(id);
      deleted = outcome.deleted;
      return outcome.deleted && outcome.released;
    });
    return deleted;
  }

  /** Moves a pending delivery to the dead letters (settled later when NATS does not answer). */
  async deadLetter(
    id: string,
    failure: { error: string; at: number },
  ): Promise<DeadLetterRecord | undefined> {
    this.#claims.hold(id, false);
    let letter: DeadLetterRecord | undefined;
    await this.#claims.track(id, { kind: "dead", failure }, async () => {
      letter = await this.#records.deadLetter(id, failure);
      return letter !== undefined;
    });
    return letter;
  }

  /** Dead letters in id order. */
  deadLetters(options: { limit?: number; after?: string } = {}): Promise<DeadLetterRecord[]> {
    return this.#records.deadLetters(options);
  }

  /** One dead letter. */
  getDeadLetter(id: string): Promise<DeadLetterRecord | undefined> {
    return this.#records.getDeadLetter(id);
  }

  /** Moves a dead letter back to the pending deliveries; one engine wins a racing replay. */
  replay(id: string, at: number): Promise<DeliveryRecord | undefined> {
    return this.#records.replay(id, at);
  }

  /** Deletes a dead letter, and its event when nothing refers to it any more. */
  deleteDeadLetter(id: string): Promise<boolean> {
    return this.#records.deleteDeadLetter(id);
  }

  /** Drops expired dead letters and the oldest beyond the cap; see {@linkcode EventStore.pruneDeadLetters}. */
  pruneDeadLetters(options: DeadLetterPruning): Promise<number> {
    return this.#records.pruneDeadLetters(options);
  }

  /** Counts, from the mirror. */
  stats(): Promise<EventStoreStats> {
    let inFlight = 0;
    for (const { record } of this.#mirror.deliveries.values()) {
      if (record.claimedAt !== undefined) inFlight++;
    }
    return Promise.resolve({
      events: this.#mirror.events.size,
      pending: this.#mirror.deliveries.size,
      inFlight,
      deadLetters: this.#mirror.dead.size,
    });
  }

  /** A schedule's mark. */
  async getMark(key: string): Promise<number | undefined> {
    const entry = await liveEntry(this.#kv, `${MARK_KEY}.${keyToken(key)}`);
    return entry ? parse<number>(entry) : undefined;
  }

  /** Raises a schedule's mark by CAS; a lower slot leaves it as it is. */
  async raiseMark(key: string, slot: number): Promise<void> {
    const markKey = `${MARK_KEY}.${keyToken(key)}`;
    for (;;) {
      const entry = await liveEntry(this.#kv, markKey);
      if (entry && parse<number>(entry) >= slot) return;
      try {
        await this.#records.write(markKey, jsonBytes(slot), entry?.revision);
        return;
      } catch (error) {
        if (!isCasFailure(error)) throw error;
      }
    }
  }
}

/**
 * Opens the cluster event store on a NATS connection; the same as {@linkcode NatsEventStore.open}.
 *
 * @example Open it for an engine
 * ```ts
 * import { connect } from "@nats-io/transport-node";
 * import { openNatsEventStore } from "@bundlehost/sdk";
 *
 * const nc = await connect({ servers: ["127.0.0.1:4222"] });
 * const events = await openNatsEventStore(nc, { owner: "engine-a" });
 * ```
 *
 * @param nc An open NATS connection.
 * @param options Owner name, replicas, timeouts.
 * @returns The store, its mirror loaded.
 * @ignore
 */
export function openNatsEventStore(
  nc: NatsConnection,
  options?: NatsEventStoreOptions,
): Promise<NatsEventStore> {
  return NatsEventStore.open(nc, options);
}
