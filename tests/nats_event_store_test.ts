/**
 * The NATS event store's own guarantees on a real 3-node `nats-server` cluster, beyond the store
 * conformance suite (tests/store_test.ts): racing claims of one delivery from three engines'
 * stores have exactly one winner every time; a claim held by an engine whose heartbeat expired is
 * taken over, a live one never; and with NATS unreachable changes fail with `UNAVAILABLE` within
 * the call timeout while reads of the mirror go on, then work again (and the mirror follows the
 * other engines again) when NATS returns.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BundlehostError } from "../mod.ts";
import type { DeliveryRecord, EventRecord } from "../engine/store/event_records.ts";
import { NatsEventStore } from "../engine/cluster/nats_event_store.ts";
import { parseClusterServers } from "../engine/cluster/connection.ts";
import { natsAvailable, type NatsCluster, startNatsCluster } from "./_nats_cluster.ts";
import { waitFor } from "./_helpers.ts";

const ignore = !natsAvailable();

function event(id: string): EventRecord {
  return { id, topic: "t", payload: { id }, publishedAt: 1, source: "http", hops: 0 };
}

function delivery(eventId: string, due = 1): DeliveryRecord {
  return {
    id: `${eventId}~0`,
    eventId,
    topic: "t",
    bundle: "sub",
    kind: "subscription",
    key: "t",
    handler: "S.handle",
    attempts: 0,
    maxAttempts: 3,
    timeoutMs: 1_000,
    nextAttemptAt: due,
    createdAt: 1,
  };
}

/** A NATS cluster and three stores on it, one per would-be engine. */
async function stores(ownerTtlMs = 15_000, timeoutMs = 5_000) {
  const nats: NatsCluster = await startNatsCluster(
    await Deno.makeTempDir({ prefix: "bh-nats-events-" }),
  );
  const servers = parseClusterServers(nats.urls);
  const all: NatsEventStore[] = [];
  for (let i = 0; i < 3; i++) {
    const order = [...servers.slice(i), ...servers.slice(0, i)];
    all.push(await NatsEventStore.connect(order, { owner: `e${i}`, ownerTtlMs, timeoutMs }));
  }
  return {
    nats,
    all,
    async [Symbol.asyncDispose]() {
      for (const s of all) await s.close();
      await nats[Symbol.asyncDispose]();
    },
  };
}

/** What a dispatcher does: read due deliveries, then claim each by update. */
async function claim(store: NatsEventStore, now: number): Promise<string[]> {
  const won: string[] = [];
  for (const d of await store.due(now, 100)) {
    const claimed = { ...d, attempts: d.attempts + 1, claimedAt: now, nextAttemptAt: now + 60_000 };
    if (await store.update(claimed)) won.push(d.id);
  }
  return won;
}

Deno.test({
  name: "NatsEventStore: racing claims from three engines have exactly one winner each time",
  ignore,
}, async () => {
  await using s = await stores();
  const [a, b, c] = s.all;
  for (let i = 0; i < 40; i++) await a!.enqueue(event(`e${i}`), [delivery(`e${i}`)]);
  // Every store sees every delivery as due before anyone claims.
  for (const store of s.all) {
    await waitFor(async () => (await store.due(10, 100)).length === 40, 10_000, "the mirrors");
  }
  const results = await Promise.all([a!, b!, c!].map((store) => claim(store, 10)));
  const winners = results.flat();
  assert.equal(winners.length, 40, `one winner per delivery, got ${results.map((r) => r.length)}`);
  assert.equal(new Set(winners).size, 40);
  // The claims stick: nothing is due again for anyone while their owners live.
  for (const store of s.all) {
    await waitFor(async () => (await store.stats()).inFlight === 40, 10_000, "claims seen");
    assert.deepEqual(await claim(store, 20), []);
  }
});

Deno.test({
  name: "NatsEventStore: a claim whose owner stopped beating is taken over, a live one is not",
  ignore,
}, async () => {
  await using s = await stores(1_500);
  const [a, b] = s.all;
  await a!.enqueue(event("x"), [delivery("x")]);
  await a!.enqueue(event("y"), [delivery("y")]);
  await waitFor(async () => (await b!.due(10, 10)).length === 2, 10_000, "b's mirror");
  assert.deepEqual(await claim(a!, 10), ["x~0", "y~0"]);
  await waitFor(async () => (await b!.stats()).inFlight === 2, 10_000, "b sees the claims");
  assert.deepEqual(await claim(b!, 20), [], "a's claims hold while a beats");
  // `a` goes silent (as a killed engine would): its heartbeat expires after the TTL.
  await a!.close();
  let taken: string[] = [];
  await waitFor(
    async () => {
      taken = [...taken, ...await claim(b!, 30)];
      return taken.length === 2;
    },
    15_000,
    "b taking over a's claims",
  );
  assert.deepEqual(taken.sort(), ["x~0", "y~0"]);
  assert.equal((await b!.getDelivery("x~0"))?.attempts, 2, "the attempt count goes on");
  assert.equal(await b!.releaseClaims(40), 2, "a restart of b frees b's own claims");
});

Deno.test({
  name: "NatsEventStore: with NATS unreachable changes fail with UNAVAILABLE and reads go on",
  ignore,
}, async () => {
  await using s = await stores(15_000, 1_000);
  const [a] = s.all;
  await a!.enqueue(event("before"), [delivery("before")]);
  for (let i = 0; i < 3; i++) await s.nats.kill(i);
  const started = Date.now();
  await assert.rejects(
    () => a!.enqueue(event("during"), [delivery("during")]),
    (error: unknown) =>
      error instanceof BundlehostError && error.code === "UNAVAILABLE" &&
      /NATS/.test(error.message),
  );
  assert.ok(Date.now() - started < 10_000, "refused within the call timeout, not hung");
  // What the engine runs goes on: the mirror still answers.
  assert.deepEqual((await a!.due(10, 10)).map((d) => d.id), ["before~0"]);
  assert.equal((await a!.stats()).pending, 1);
  for (let i = 0; i < 3; i++) await s.nats.restart(i);
  await s.nats.ready();
  // Each bucket elects its leader again in its own time: changes fail until it has.
  const retried = async (change: () => Promise<unknown>) => {
    await waitFor(() => change().then(() => true, () => false), 60_000, "NATS back");
  };
  await retried(() => a!.enqueue(event("after"), [delivery("after")]));
  await retried(async () => assert.equal(await a!.ack("before~0"), true));
  assert.deepEqual((await a!.due(10, 10)).map((d) => d.id), ["after~0"]);
  // Its watch came back too: another engine's change reaches its mirror.
  const [, b] = s.all;
  await retried(() => b!.enqueue(event("from-b"), [delivery("from-b")]));
  await waitFor(async () => (await a!.due(10, 10)).length === 2, 20_000, "a's mirror again");
});
