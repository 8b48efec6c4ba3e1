/**
 * Event store throughput, local Deno KV against cluster mode's NATS JetStream store
 * (`deno task bench:cluster-events`, needs `nats-server`): one whole outbox cycle per event
 * (enqueue an event with one delivery, read it as due, claim it, acknowledge it), `--events`
 * events (default 2000) from `--concurrency` concurrent publishers (default 32), on a fresh
 * `events.sqlite3` and on a fresh 3-node `nats-server` cluster on loopback (R3 buckets), medians
 * of `--rounds` rounds (default 3). No bundle runs: this is the store's share of an event.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { KvEventStore } from "../engine/store/kv_event_store.ts";
import type { EventStore } from "../engine/store/event_store.ts";
import type { DeliveryRecord, EventRecord } from "../engine/store/event_records.ts";
import { NatsEventStore } from "../engine/cluster/nats_event_store.ts";
import { parseClusterServers } from "../engine/cluster/connection.ts";
import { startNatsCluster } from "../tests/_nats_cluster.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    events: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "32" },
    rounds: { type: "string", default: "3" },
  },
});
const EVENTS = Number(values.events);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);

/** One outbox cycle: enqueue, due, claim, ack. */
async function cycle(store: EventStore, id: string): Promise<void> {
  const now = Date.now();
  const event: EventRecord = {
    id,
    topic: "bench",
    payload: { id },
    publishedAt: now,
    source: "http",
    hops: 0,
  };
  const delivery: DeliveryRecord = {
    id: `${id}~0`,
    eventId: id,
    topic: "bench",
    bundle: "sub",
    kind: "subscription",
    key: "bench",
    handler: "S.handle",
    attempts: 0,
    maxAttempts: 5,
    timeoutMs: 30_000,
    nextAttemptAt: now,
    createdAt: now,
  };
  await store.enqueue(event, [delivery]);
  await store.due(now, 1);
  const claimed = { ...delivery, attempts: 1, claimedAt: now, nextAttemptAt: now + 60_000 };
  if (!(await store.update(claimed))) throw new Error(`claim of ${delivery.id} lost`);
  if (!(await store.ack(delivery.id))) throw new Error(`ack of ${delivery.id} lost`);
}

/** Events per second through `store`. */
async function run(store: EventStore, label: string, round: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < EVENTS) {
      const n = next++;
      await cycle(store, `${label}-${round}-${String(n).padStart(6, "0")}`);
    }
  }));
  return EVENTS / ((performance.now() - started) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const kv: number[] = [];
const nats: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const dir = await Deno.makeTempDir({ prefix: "bh-bench-events-" });
  const db = await Deno.openKv(`${dir}/events.sqlite3`);
  try {
    kv.push(await run(new KvEventStore(db), "kv", round));
  } finally {
    db.close();
  }
  const cluster = await startNatsCluster(`${dir}/nats`);
  try {
    const store = await NatsEventStore.connect(parseClusterServers(cluster.urls), {
      owner: "bench",
    });
    try {
      nats.push(await run(store, "nats", round));
    } finally {
      await store.close();
    }
  } finally {
    await cluster[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  console.log(
    `round ${round + 1}: kv ${kv.at(-1)!.toFixed(0)}/s, nats ${nats.at(-1)!.toFixed(0)}/s`,
  );
}
console.log(
  `events/s (median of ${ROUNDS}, ${EVENTS} events, ${CONCURRENCY} at once): ` +
    `Deno KV ${median(kv).toFixed(0)}, NATS JetStream R3 ${median(nats).toFixed(0)} ` +
    `(${(median(nats) / median(kv)).toFixed(2)}×)`,
);
