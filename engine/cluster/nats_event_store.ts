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
 * @module
 */
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection, QueuedIterator } from "@nats-io/transport-node";
import { type KV, type KvEntry, Kvm, type KvWatchEntry } from "@nats-io/kv";
import { type Clock, systemClock, type TimerHandle } from "../base/clock.ts";
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
  deliveryOf,
  type EventStore,
  letterIdsToPrune,
  markConflict,
} from "../store/event_store.ts";
import {
  DEAD_KEY,
  DELIVERY_KEY,
  EVENT_KEY,
  EventMirror,
  keyToken,
  MARK_KEY,
  type MirroredDelivery,
  type StoredDelivery,
} from "./nats_event_mirror.ts";
import { connectCluster } from "./connection.ts";
import { isCasFailure, jsonBytes, liveEntry, natsCall, withRevisionLock } from "./nats_kv.ts";

/** Options of {@linkcode NatsEventStore.open}. */
export interface NatsEventStoreOptions {
  /** This engine's name in claims and heartbeats. @default {a random UUID} */
  owner?: string;
  /** Replicas of the buckets. @default {3 on a NATS cluster (fewer when it is smaller), else 1} */
  replicas?: number;
  /** Time allowed for each NATS call, ms. @default {5000} */
  timeoutMs?: number;
  /** How long a silent engine's claims are kept before others retry them, ms. @default {15000} */
  ownerTtlMs?: number;
  /** Bucket name prefix, to host several Bundlehost clusters on one NATS. @default {"bundlehost"} */
  prefix?: string;
  /** Time source of the heartbeats and claim checks. @default {systemClock} */
  clock?: Clock;
}

const decoder = new TextDecoder();
const parse = <T>(entry: KvEntry): T => JSON.parse(decoder.decode(entry.value)) as T;
/** How long a revision lock is kept: concurrent writers of one revision meet well within it, and a later one is refused by the revision check itself. */
const LOCK_TTL_MS = 30_000;
/** Most revisions remembered for the deliveries `due()` handed out. */
const MAX_HANDED = 10_000;
/** CAS retries before an update gives up (another engine keeps changing the record). */
const MAX_CAS_TRIES = 16;

function replicasOf(nc: NatsConnection): number {
  const info = nc.info;
  if (!info?.cluster) return 1;
  return Math.max(1, Math.min(3, info.connect_urls?.length ?? 1));
}

/**
 * Runs a bucket creation, again while the cluster answers "no suitable peers for placement"
 * (a cluster that has just started, or lost a node, knows too few peers for a while).
 */
async function retryPlacement<T>(clock: Clock, create: () => Promise<T>): Promise<T> {
  for (let tries = 1;; tries++) {
    try {
      return await create();
    } catch (error) {
      if (tries >= PLACEMENT_TRIES || !/suitable peers/i.test(String(error))) throw error;
      await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), 250));
    }
  }
}

/** Tries of a bucket creation the cluster cannot place yet (250 ms apart). */
const PLACEMENT_TRIES = 40;

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
  readonly #owners: KV;
  readonly #locks: KV;
  readonly #clock: Clock;
  readonly #ttl: number;
  readonly #mirror = new EventMirror();
  readonly #alive = new Map<string, { alive: boolean; checkedAt: number }>();
  #watch?: QueuedIterator<KvWatchEntry>;
  #watching: Promise<void> = Promise.resolve();
  #heartbeat?: TimerHandle;
  #beating: Promise<void> = Promise.resolve();
  #closed = false;
  /** Revisions of the deliveries `due()` returned, by id (oldest first, bounded). */
  readonly #handed = new Map<string, number>();
  #connection?: NatsConnection;

  private constructor(
    buckets: { kv: KV; owners: KV; locks: KV },
    owner: string,
    clock: Clock,
    ttl: number,
  ) {
    this.#kv = buckets.kv;
    this.#owners = buckets.owners;
    this.#locks = buckets.locks;
    this.owner = owner;
    this.#clock = clock;
    this.#ttl = ttl;
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
    const timeout = options.timeoutMs ?? 5_000;
    const replicas = options.replicas ?? replicasOf(nc);
    const prefix = options.prefix ?? "bundlehost";
    const ttl = options.ownerTtlMs ?? 15_000;
    const kvm = new Kvm(jetstream(nc, { timeout }));
    const common = { replicas, history: 1, timeout, allow_direct: false };
    // One at a time: JetStream's meta leader times out concurrent creations.
    const clock = options.clock ?? systemClock;
    const bucket = (name: string, extra: Record<string, number> = {}) =>
      natsCall(
        `opening the bucket ${prefix}_${name}`,
        () => retryPlacement(clock, () => kvm.create(`${prefix}_${name}`, { ...common, ...extra })),
      );
    const kv = await bucket("events");
    const owners = await bucket("event_owners", { ttl });
    const locks = await bucket("event_locks", { ttl: LOCK_TTL_MS });
    const store = new NatsEventStore(
      { kv, owners, locks },
      options.owner ?? crypto.randomUUID(),
      clock,
      ttl,
    );
    try {
      await store.#startWatch();
      await store.#beat();
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

  /** Starts the watch that feeds the mirror; resolves once it holds the bucket's current state. */
  async #startWatch(): Promise<void> {
    const empty = await natsCall("reading the event bucket", async () => {
      return (await this.#kv.status()).values === 0;
    });
    const watch = await natsCall("watching the event bucket", () => this.#kv.watch({ key: ">" }));
    this.#watch = watch;
    let ready!: () => void;
    const loaded = new Promise<void>((resolve) => ready = resolve);
    if (empty) ready();
    this.#watching = (async () => {
      for await (const entry of watch) {
        this.#mirror.apply(
          entry.key,
          entry.revision,
          entry.operation === "PUT" ? entry.value : null,
          true,
        );
        if (entry.isUpdate) ready();
      }
      ready();
    })().catch(() => ready());
    await loaded;
  }

  async #beat(): Promise<void> {
    if (this.#closed) return;
    this.#beating = natsCall("renewing the claim heartbeat", async () => {
      await this.#owners.put(keyToken(this.owner), jsonBytes({ at: this.#clock.now() }));
    }).catch(() => {
      // NATS away: the heartbeat is tried again at the next beat.
    });
    await this.#beating;
    if (this.#closed) return;
    this.#heartbeat = this.#clock.setTimeout(() => void this.#beat(), this.#ttl / 3);
  }

  /** Stops the watch and the heartbeat (claims expire with the heartbeat's TTL). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#clock.clearTimeout(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#watch?.stop();
    await this.#beating;
    await this.#watching;
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
    const value = jsonBytes({ ...event, refs: deliveries.length });
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
        await this.#write(key, value, entry?.revision);
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
    const { refs: _refs, ...event } = parse<EventRecord & { refs: number }>(entry);
    return event;
  }

  /** Reads a key from NATS into the mirror; returns the pending delivery there, if any. */
  async #refresh(key: string): Promise<MirroredDelivery | undefined> {
    const entry = await natsCall(`reading ${key}`, () => this.#kv.get(key));
    if (entry === null) this.#mirror.apply(key, this.#mirror.revision(key) + 0.5, null);
    else this.#mirror.apply(key, entry.revision, entry.operation === "PUT" ? entry.value : null);
    return this.#mirror.deliveries.get(key);
  }

  /** A pending delivery. */
  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    return structuredClone((await this.#refresh(`${DELIVERY_KEY}.${keyToken(id)}`))?.record);
  }

  /** Deliveries due by `now` (and claims of engines whose heartbeat expired), soonest first. */
  async due(now: number, limit: number): Promise<DeliveryRecord[]> {
    await this.#checkOwners();
    const due = this.#mirror.due(now, limit, (owner) => this.#orphaned(owner));
    for (const { record, revision } of due) {
      // A claim of this record must find it at the revision read here (see `update`).
      this.#handed.delete(record.id);
      this.#handed.set(record.id, revision);
    }
    for (const id of this.#handed.keys()) {
      if (this.#handed.size <= MAX_HANDED) break;
      this.#handed.delete(id);
    }
    return due.map(({ record }) => record);
  }

  /** Whether `owner`'s heartbeat was found expired at the last look. */
  #orphaned(owner: string): boolean {
    return this.#alive.get(owner)?.alive === false;
  }

  /** Looks up the heartbeats of the other engines holding claims, at most every third of the TTL. */
  async #checkOwners(): Promise<void> {
    const now = this.#clock.monotonic();
    await Promise.all([...this.#mirror.claimOwners(this.owner)].map(async (owner) => {
      const known = this.#alive.get(owner);
      if (known && now - known.checkedAt < this.#ttl / 3) return;
      try {
        const alive = await liveEntry(this.#owners, keyToken(owner)) !== undefined;
        this.#alive.set(owner, { alive, checkedAt: now });
      } catch {
        // NATS away: nobody's claims are taken over meanwhile.
      }
    }));
  }

  /** Replaces a pending delivery by CAS; `false` when it is gone or another engine claimed it. */
  async update(delivery: DeliveryRecord): Promise<boolean> {
    const key = `${DELIVERY_KEY}.${keyToken(delivery.id)}`;
    const { owner: _owner, ...record } = delivery as StoredDelivery;
    const stored: StoredDelivery = record.claimedAt === undefined
      ? record
      : { ...record, owner: this.owner };
    const value = jsonBytes(stored);
    const handed = this.#handed.get(record.id);
    this.#handed.delete(record.id);
    let current = this.#mirror.deliveries.get(key) ?? await this.#refresh(key);
    for (let tries = 0; current && tries < MAX_CAS_TRIES; tries++) {
      const claiming = record.claimedAt !== undefined &&
        record.claimedAt !== current.record.claimedAt;
      // Another engine's live claim is never taken over, however fresh this reading is.
      if (
        claiming && current.record.claimedAt !== undefined && current.owner !== undefined &&
        current.owner !== this.owner && !this.#orphaned(current.owner)
      ) return false;
      // A claim holds only on the revision `due()` read: a newer one may be another's claim.
      const revision = claiming && tries === 0 && handed !== undefined ? handed : current.revision;
      try {
        const next = await this.#write(key, value, revision);
        this.#mirror.apply(key, next, value);
        return true;
      } catch (error) {
        if (!isCasFailure(error)) throw error;
      }
      current = await this.#refresh(key);
      // Someone else changed it since it was read: a claim made on that reading is lost.
      if (claiming) return false;
    }
    return false;
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
   * Writes `key` by compare-and-set: created when `revision` is `undefined`, else replaced if it
   * is still at `revision` (under that revision's lock).
   *
   * @throws {CasLost} Or a NATS "wrong last sequence" error, when another write came first.
   */
  #write(key: string, value: Uint8Array, revision?: number): Promise<number> {
    if (revision === undefined) {
      return natsCall(`creating ${key}`, () => this.#kv.create(key, value));
    }
    return withRevisionLock(
      this.#locks,
      key,
      revision,
      () => natsCall(`updating ${key}`, () => this.#kv.update(key, value, revision)),
    );
  }

  /** Deletes `key` if it is still at `revision`; `false` when it changed. */
  async #deleteAt(key: string, revision: number): Promise<boolean> {
    try {
      await withRevisionLock(
        this.#locks,
        key,
        revision,
        () => natsCall(`deleting ${key}`, () => this.#kv.delete(key, { previousSeq: revision })),
      );
    } catch (error) {
      if (isCasFailure(error)) return false;
      throw error;
    }
    this.#mirror.apply(key, revision + 0.5, null);
    return true;
  }

  /** Removes a delivered delivery, and its event when nothing refers to it any more. */
  async ack(id: string): Promise<boolean> {
    const key = `${DELIVERY_KEY}.${keyToken(id)}`;
    let current = this.#mirror.deliveries.get(key) ?? await this.#refresh(key);
    for (let tries = 0; current && tries < MAX_CAS_TRIES; tries++) {
      if (await this.#deleteAt(key, current.revision)) {
        await this.#release(current.record.eventId);
        return true;
      }
      current = await this.#refresh(key);
    }
    return false;
  }

  /** Drops one reference to an event (CAS), deleting it with the last. */
  async #release(eventId: string): Promise<void> {
    const key = `${EVENT_KEY}.${keyToken(eventId)}`;
    for (let tries = 0; tries < MAX_CAS_TRIES; tries++) {
      const entry = await liveEntry(this.#kv, key);
      if (!entry) return;
      const stored = parse<EventRecord & { refs: number }>(entry);
      if (stored.refs <= 1) {
        if (await this.#deleteAt(key, entry.revision)) return;
        continue;
      }
      const value = jsonBytes({ ...stored, refs: stored.refs - 1 });
      try {
        const revision = await this.#write(key, value, entry.revision);
        this.#mirror.apply(key, revision, value);
        return;
      } catch (error) {
        if (!isCasFailure(error)) throw error;
      }
    }
  }

  /** Moves a pending delivery to the dead letters. */
  async deadLetter(
    id: string,
    failure: { error: string; at: number },
  ): Promise<DeadLetterRecord | undefined> {
    const key = `${DELIVERY_KEY}.${keyToken(id)}`;
    const deadKey = `${DEAD_KEY}.${keyToken(id)}`;
    let current = this.#mirror.deliveries.get(key) ?? await this.#refresh(key);
    for (let tries = 0; current && tries < MAX_CAS_TRIES; tries++) {
      const { claimedAt: _claim, ...rest } = current.record;
      const { error, at } = failure;
      const letter: DeadLetterRecord = { ...rest, lastError: error, error, deadAt: at };
      const value = jsonBytes(letter);
      // The letter first: a crash between the two writes leaves both, never neither.
      const revision = await natsCall("storing a dead letter", () => this.#kv.put(deadKey, value));
      if (await this.#deleteAt(key, current.revision)) {
        this.#mirror.apply(deadKey, revision, value);
        return letter;
      }
      await this.#deleteAt(deadKey, revision);
      current = await this.#refresh(key);
    }
    return undefined;
  }

  /** Dead letters in id order. */
  async deadLetters(
    options: { limit?: number; after?: string } = {},
  ): Promise<DeadLetterRecord[]> {
    const { after, limit = 100 } = options;
    const ids = [...this.#mirror.dead.values()].map((l) => l.id)
      .filter((id) => after === undefined || id > after).sort().slice(0, limit);
    const letters = await Promise.all(ids.map((id) => this.getDeadLetter(id)));
    return letters.filter((l): l is DeadLetterRecord => l !== undefined);
  }

  /** One dead letter. */
  async getDeadLetter(id: string): Promise<DeadLetterRecord | undefined> {
    const entry = await liveEntry(this.#kv, `${DEAD_KEY}.${keyToken(id)}`);
    return entry ? parse<DeadLetterRecord>(entry) : undefined;
  }

  /** Moves a dead letter back to the pending deliveries; one engine wins a racing replay. */
  async replay(id: string, at: number): Promise<DeliveryRecord | undefined> {
    const key = `${DELIVERY_KEY}.${keyToken(id)}`;
    const deadKey = `${DEAD_KEY}.${keyToken(id)}`;
    const entry = await liveEntry(this.#kv, deadKey);
    if (!entry) return undefined;
    const delivery = deliveryOf(parse<DeadLetterRecord>(entry), at);
    const value = jsonBytes(delivery);
    let revision: number;
    try {
      revision = await natsCall("replaying a dead letter", () => this.#kv.create(key, value));
    } catch (error) {
      if (isCasFailure(error)) return undefined;
      throw error;
    }
    if (!(await this.#deleteAt(deadKey, entry.revision))) {
      await this.#deleteAt(key, revision);
      return undefined;
    }
    this.#mirror.apply(key, revision, value);
    return delivery;
  }

  /** Deletes a dead letter, and its event when nothing refers to it any more. */
  async deleteDeadLetter(id: string): Promise<boolean> {
    const deadKey = `${DEAD_KEY}.${keyToken(id)}`;
    for (let tries = 0; tries < MAX_CAS_TRIES; tries++) {
      const entry = await liveEntry(this.#kv, deadKey);
      if (!entry) return false;
      if (await this.#deleteAt(deadKey, entry.revision)) {
        await this.#release(parse<DeadLetterRecord>(entry).eventId);
        return true;
      }
    }
    return false;
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
        await this.#write(markKey, jsonBytes(slot), entry?.revision);
        return;
      } catch (error) {
        if (!isCasFailure(error)) throw error;
      }
    }
  }

  /** Drops expired dead letters and the oldest beyond the cap; see {@linkcode EventStore.pruneDeadLetters}. */
  async pruneDeadLetters(options: DeadLetterPruning): Promise<number> {
    let dropped = 0;
    for (const id of letterIdsToPrune(this.#mirror.dead.values(), options)) {
      if (await this.deleteDeadLetter(id)) dropped++;
    }
    return dropped;
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
