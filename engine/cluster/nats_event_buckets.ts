/**
 * The buckets of the cluster event store: `<prefix>_events` (the records), `<prefix>_event_owners`
 * (engine heartbeats, entries expire after the owner TTL) and `<prefix>_event_locks` (revision
 * locks, see `withRevisionLock`), replicated three times on a cluster of three or more.
 *
 * @module
 */
import { jetstream } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Clock, systemClock } from "../base/clock.ts";
import { natsCall } from "./nats_kv.ts";

/**
 * Options of `NatsEventStore.open` and `NatsEventStore.connect`.
 *
 * @example An engine's event store in a cluster
 * ```ts
 * import { NatsEventStore, type NatsEventStoreOptions } from "@bundlehost/sdk";
 *
 * const options: NatsEventStoreOptions = { owner: "engine-a", ownerTtlMs: 15_000, timeoutMs: 5_000 };
 * const events = await NatsEventStore.connect(["10.0.0.1:4222", "10.0.0.2:4222"], options);
 * ```
 */
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

/** How long a revision lock is kept: concurrent writers of one revision meet well within it, and a later one is refused by the revision check itself. */
const LOCK_TTL_MS = 30_000;

/** Replicas of a new bucket: 3 on a cluster (fewer when it is smaller), 1 on one server. */
function replicasOf(nc: NatsConnection): number {
  const info = nc.info;
  if (!info?.cluster) return 1;
  return Math.max(1, Math.min(3, info.connect_urls?.length ?? 1));
}

/**
 * Runs a bucket creation, again while the cluster answers "no suitable peers for placement" or
 * does not answer in time (a cluster that has just started, or lost a node, knows too few peers
 * or has no JetStream leader for a while). Creating a bucket that exists is harmless.
 */
async function retryPlacement<T>(clock: Clock, create: () => Promise<T>): Promise<T> {
  for (let tries = 1;; tries++) {
    try {
      return await create();
    } catch (error) {
      if (tries >= PLACEMENT_TRIES || !/suitable peers|timeout/i.test(String(error))) throw error;
      await new Promise((resolve) => clock.setTimeout(() => resolve(undefined), 250));
    }
  }
}

/** Tries of a bucket creation the cluster cannot place or answer yet (250 ms apart). */
const PLACEMENT_TRIES = 40;

/** The open buckets and the settings the store runs with. */
export interface EventBuckets {
  /** Records. */
  kv: KV;
  /** Heartbeats. */
  owners: KV;
  /** Revision locks. */
  locks: KV;
  /** Time source. */
  clock: Clock;
  /** Heartbeat TTL, ms. */
  ttl: number;
}

/**
 * Opens (creating when missing) the event store's buckets, one at a time: JetStream's meta
 * leader times out concurrent creations.
 *
 * @param nc An open NATS connection.
 * @param options Replicas, timeouts, prefix.
 * @throws {BundlehostError} `UNAVAILABLE` when JetStream does not answer.
 */
export async function openEventBuckets(
  nc: NatsConnection,
  options: NatsEventStoreOptions,
): Promise<EventBuckets> {
  const timeout = options.timeoutMs ?? 5_000;
  const replicas = options.replicas ?? replicasOf(nc);
  const prefix = options.prefix ?? "bundlehost";
  const ttl = options.ownerTtlMs ?? 15_000;
  const clock = options.clock ?? systemClock;
  const kvm = new Kvm(jetstream(nc, { timeout }));
  const common = { replicas, history: 1, timeout, allow_direct: false };
  const bucket = (name: string, extra: Record<string, number> = {}) =>
    natsCall(
      `opening the bucket ${prefix}_${name}`,
      () => retryPlacement(clock, () => kvm.create(`${prefix}_${name}`, { ...common, ...extra })),
    );
  const kv = await bucket("events");
  const owners = await bucket("event_owners", { ttl });
  const locks = await bucket("event_locks", { ttl: LOCK_TTL_MS });
  return { kv, owners, locks, clock, ttl };
}
