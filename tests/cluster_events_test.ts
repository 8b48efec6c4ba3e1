/**
 * Events and schedules in cluster mode, against a real 3-node `nats-server` cluster and three
 * engines sharing one {@linkcode NatsEventStore}: events published across the engines reach each
 * subscriber exactly once when nothing fails and at least once when an engine stops abruptly
 * mid-delivery or a NATS node is killed; a cron slot fires once across the engines; dead letters
 * and their replay are shared.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BundlehostError, ManualClock } from "../mod.ts";
import { manifest, sharing, waitFor } from "./_helpers.ts";
import { DATA_PERMISSIONS, fileRecorderModule, readSeen } from "./_events.ts";
import { natsAvailable } from "./_nats_cluster.ts";
import { type EventCluster, startEventCluster } from "./_cluster_events.ts";

const TOPIC = "order.created";
const SUBSCRIBERS = ["sub-a", "sub-b"];
const LIMITS = { topicRate: 100_000, topicBurst: 100_000 };
const ignore = !natsAvailable();

/** Three engines sharing the Orders service and the topic between the two subscribers. */
function ordersCluster(ownerTtlMs?: number): Promise<EventCluster> {
  return startEventCluster({
    ...sharing({ Orders: SUBSCRIBERS }, { [TOPIC]: SUBSCRIBERS }),
    events: LIMITS,
  }, ownerTtlMs);
}

/** Releases the two recording subscribers on every engine. */
async function subscribers(cluster: EventCluster, delayMs = 0, extra = {}): Promise<void> {
  for (const id of SUBSCRIBERS) {
    await cluster.release(
      manifest(id, {
        services: { Orders: "1.0.0" },
        permissions: DATA_PERMISSIONS,
        subscribe: { [TOPIC]: { handler: "Orders.handle", ...extra } },
        scaling: { minWorkers: 1, maxWorkers: 2 },
      }),
      { "mod.ts": fileRecorderModule("Orders", delayMs) },
    );
  }
}

/** Every event id a subscriber recorded, across the engines (with repeats). */
async function seenIds(cluster: EventCluster, bundle: string): Promise<string[]> {
  const ids: string[] = [];
  for (const e of cluster.engines) {
    for (const line of await readSeen(e.dataDir, bundle)) ids.push(line.id);
  }
  return ids;
}

/** Publishes `count` events round-robin over the running engines, `batch` at a time. */
async function publishAcross(cluster: EventCluster, count: number, from = 0): Promise<string[]> {
  const running = cluster.engines.filter((e) => !e.stopped);
  const ids: string[] = [];
  for (let i = from; i < from + count; i += 25) {
    const batch = Array.from({ length: Math.min(25, from + count - i) }, (_, k) => i + k);
    const results = await Promise.all(
      batch.map((n) => running[n % running.length]!.engine.eventBus.publish(TOPIC, { n })),
    );
    for (const r of results) {
      assert.equal(r.deliveries, SUBSCRIBERS.length);
      ids.push(r.id);
    }
  }
  return ids;
}

async function allDelivered(cluster: EventCluster, ids: string[], timeoutMs: number) {
  const want = new Set(ids);
  await waitFor(
    async () => {
      for (const bundle of SUBSCRIBERS) {
        const seen = new Set(await seenIds(cluster, bundle));
        for (const id of want) if (!seen.has(id)) return false;
      }
      return true;
    },
    timeoutMs,
    "every event at every subscriber",
  ).catch(async (error) => {
    // Say where the missing ones are: each engine's view of the outbox.
    const views = await Promise.all(cluster.engines.map((e) => e.events.stats()));
    throw new Error(`${error.message}; outbox per engine: ${JSON.stringify(views)}`);
  });
}

Deno.test({
  name: "1000 events published across 3 engines reach each subscriber exactly once",
  ignore,
}, async () => {
  await using cluster = await ordersCluster();
  await subscribers(cluster);
  const ids = await publishAcross(cluster, 1000);
  assert.equal(new Set(ids).size, 1000);
  await allDelivered(cluster, ids, 180_000);
  await waitFor(async () => (await cluster.engines[0]!.events.stats()).pending === 0, 30_000);
  for (const bundle of SUBSCRIBERS) {
    const seen = await seenIds(cluster, bundle);
    assert.equal(seen.length, 1000, `${bundle}: every event once, none twice`);
    assert.deepEqual(new Set(seen), new Set(ids));
  }
  // The work was shared: every engine delivered some of it.
  for (const e of cluster.engines) {
    assert.ok((await readSeen(e.dataDir, "sub-a")).length > 0, `${e.events.owner} delivered`);
  }
  // Every engine's view of the shared outbox empties: no event or delivery is left behind.
  const empty = { events: 0, pending: 0, inFlight: 0, deadLetters: 0 };
  for (const e of cluster.engines) {
    await waitFor(
      async () => {
        const stats = await e.events.stats();
        return JSON.stringify(stats) === JSON.stringify(empty);
      },
      20_000,
      `an empty outbox seen by ${e.events.owner}: ${JSON.stringify(await e.events.stats())}`,
    );
  }
});

Deno.test({
  name: "an engine stopped abruptly mid-delivery: the others deliver its events at least once",
  ignore,
}, async () => {
  await using cluster = await ordersCluster(3_000);
  // Slow handlers, so engine 0 holds claims when it goes.
  await subscribers(cluster, 150);
  const ids = await publishAcross(cluster, 150);
  const first = cluster.engines[0]!;
  await waitFor(async () => (await first.events.stats()).inFlight > 0, 20_000, "claims");
  await waitFor(async () => (await readSeen(first.dataDir, "sub-a")).length > 0, 20_000);
  await cluster.crash(0);
  await allDelivered(cluster, ids, 120_000);
  const survivor = cluster.engines[1]!.events;
  await waitFor(async () => (await survivor.stats()).pending === 0, 30_000, "an empty outbox");
  for (const bundle of SUBSCRIBERS) {
    const seen = await seenIds(cluster, bundle);
    assert.deepEqual(new Set(seen), new Set(ids), `${bundle}: every event at least once`);
  }
});

Deno.test({
  name: "a cron schedule fires once per slot across 3 engines",
  ignore,
}, async () => {
  const start = Date.UTC(2030, 0, 1, 0, 0, 30);
  const clock = new ManualClock(start);
  await using cluster = await startEventCluster({
    events: { clock, pollMs: 24 * 3_600_000 },
  });
  await cluster.release(
    manifest("ticks", {
      services: { Ticks: "1.0.0" },
      permissions: DATA_PERMISSIONS,
      schedule: { "* * * * *": "Ticks.handle" },
    }),
    { "mod.ts": fileRecorderModule("Ticks") },
  );
  const settle = () => Promise.all(cluster.engines.map((e) => e.engine.eventBus.idle()));
  await clock.advance(0, settle);
  for (let minute = 1; minute <= 4; minute++) {
    await clock.advanceTo(start + minute * 60_000, settle);
    await waitFor(async () => (await seenIds(cluster, "ticks")).length >= minute, 20_000);
  }
  await waitFor(async () => (await cluster.engines[0]!.events.stats()).pending === 0, 20_000);
  const fired = [];
  for (const e of cluster.engines) fired.push(...await readSeen(e.dataDir, "ticks"));
  const slots = fired.map((l) => (l.payload as { scheduledAt: string }).scheduledAt).sort();
  assert.deepEqual(
    slots,
    [1, 2, 3, 4].map((m) => new Date(Date.UTC(2030, 0, 1, 0, m)).toISOString()),
    "each slot once in the cluster",
  );
});

/** What a run of publishes got: the acknowledged ids and how many were refused. */
interface Published {
  ids: string[];
  refused: number;
}

/** Sorts publish outcomes: a publish refused while NATS elects new leaders is not acknowledged. */
function sortOutcomes(outcomes: PromiseSettledResult<{ id: string }>[], into: Published): void {
  for (const r of outcomes) {
    if (r.status === "fulfilled") into.ids.push(r.value.id);
    else {
      assert.ok(r.reason instanceof BundlehostError && r.reason.code === "UNAVAILABLE", r.reason);
      into.refused++;
    }
  }
}

/**
 * Publishes events from `from` on, one by one, round-robin over the engines, until `count` more
 * are acknowledged. A refusal (`UNAVAILABLE`, while a client reconnects or the cluster elects new
 * leaders) is counted and followed by a short pause; how long the cluster takes to accept
 * publishes again depends on the machine's load, so only `timeoutMs` bounds it.
 */
async function publishAcknowledged(
  cluster: EventCluster,
  from: number,
  count: number,
  into: Published,
  timeoutMs: number,
) {
  const target = into.ids.length + count;
  const deadline = Date.now() + timeoutMs;
  for (let n = from; into.ids.length < target; n++) {
    if (Date.now() > deadline) {
      throw new Error(
        `${
          count - (target - into.ids.length)
        } of ${count} publishes acknowledged within ${timeoutMs} ms (${into.refused} refused)`,
      );
    }
    const refused = into.refused;
    const publish = cluster.engines[n % 3]!.engine.eventBus.publish(TOPIC, { n });
    sortOutcomes(await Promise.allSettled([publish]), into);
    if (into.refused > refused) await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Waits until every engine sees an empty outbox: nothing pending, nothing claimed (in flight),
 * and no event left but at most one per refused publish (a publish NATS refused after storing its
 * event is not acknowledged, and its event record stays). A delivery left claimed by a live
 * engine would stay in flight for its whole lease (many minutes), so this fails on any claim
 * nobody works on.
 */
async function outboxEmpties(cluster: EventCluster, timeoutMs: number, refused: number) {
  for (const e of cluster.engines.filter((e) => !e.stopped)) {
    let seen = {};
    await waitFor(
      async () => {
        const stats = seen = await e.events.stats();
        return stats.events <= refused && stats.pending === 0 && stats.inFlight === 0;
      },
      timeoutMs,
      `an empty outbox seen by ${e.events.owner}`,
    ).catch((error) => {
      throw new Error(`${error.message}; it sees ${JSON.stringify(seen)}, ${refused} refused`);
    });
  }
}

Deno.test({
  name: "kill -9 of one NATS node mid-stream loses no acknowledged event",
  ignore,
}, async () => {
  await using cluster = await ordersCluster();
  await subscribers(cluster, 5);
  const published = { ids: await publishAcross(cluster, 150), refused: 0 };
  await cluster.nats.kill(0);
  // Publishes go on while the cluster elects new leaders.
  await publishAcknowledged(cluster, 150, 100, published, 60_000);
  const { ids, refused } = published;
  await allDelivered(cluster, ids, 120_000);
  // No delivery is left claimed or pending, nor an acknowledged event.
  await outboxEmpties(cluster, 60_000, refused);
  await cluster.nats.restart(0);
});

Deno.test({
  name: "a NATS node that hangs mid-stream and is then killed: every claim is settled",
  ignore,
}, async () => {
  await using cluster = await ordersCluster();
  await subscribers(cluster, 5);
  const published = { ids: await publishAcross(cluster, 150), refused: 0 };
  // Claims, acknowledgements and releases sent to the hung node time out with their outcome
  // unknown; some were written, some not. Each must be re-read and finished or released.
  // 60 publishes at once: those through the hung node wait out their timeout meanwhile.
  cluster.nats.freeze(0);
  const during = await Promise.allSettled(
    Array.from(
      { length: 60 },
      (_, k) => cluster.engines[k % 3]!.engine.eventBus.publish(TOPIC, { k }),
    ),
  );
  sortOutcomes(during, published);
  await cluster.nats.kill(0);
  await publishAcknowledged(cluster, 250, 30, published, 60_000);
  const { ids, refused } = published;
  await allDelivered(cluster, ids, 120_000);
  await outboxEmpties(cluster, 60_000, refused);
  // What each engine held in doubt is settled (dropped once seen gone).
  for (const e of cluster.engines) {
    await waitFor(() => e.events.unsettled === 0, 20_000, `${e.events.owner} settled`);
  }
});

Deno.test({
  name: "dead letters are shared by the engines and a replay from another engine delivers once",
  ignore,
}, async () => {
  await using cluster = await startEventCluster({
    ...sharing({ Orders: ["sub-a"] }, { [TOPIC]: ["sub-a"] }),
    events: LIMITS,
  });
  const failing = `
const ok = (dir) => Deno.stat(dir + "/ok").then(() => true, () => false);
export default { services: { Orders: {
  async handle(event, ctx) {
    if (!(await ok(ctx.bundle.dataDir))) throw new Error("not yet");
    await Deno.writeTextFile(ctx.bundle.dataDir + "/seen.log",
      JSON.stringify({ id: event.id, topic: event.topic, payload: event.payload }) + "\\n",
      { append: true });
  },
} } };`;
  await cluster.release(
    manifest("sub-a", {
      services: { Orders: "1.0.0" },
      permissions: DATA_PERMISSIONS,
      subscribe: { [TOPIC]: { handler: "Orders.handle", maxAttempts: 2 } },
    }),
    { "mod.ts": failing },
  );
  const [a, b, c] = cluster.engines;
  const { id } = await a!.engine.eventBus.publish(TOPIC, { n: 1 });
  await waitFor(async () => (await b!.events.stats()).deadLetters === 1, 30_000, "a dead letter");
  const letters = await b!.engine.eventBus.deadLetters();
  assert.deepEqual(letters.map((l) => l.eventId), [id]);
  for (const e of cluster.engines) await Deno.writeTextFile(`${e.dataDir}/data/sub-a/ok`, "");
  await c!.engine.eventBus.replay(letters[0]!.id);
  await waitFor(async () => (await seenIds(cluster, "sub-a")).length === 1, 30_000, "replayed");
  await waitFor(async () => (await a!.events.stats()).pending === 0, 20_000);
  assert.deepEqual(await seenIds(cluster, "sub-a"), [id]);
  assert.equal((await a!.events.stats()).deadLetters, 0);
  assert.deepEqual(await a!.engine.eventBus.deadLetters(), []);
});
