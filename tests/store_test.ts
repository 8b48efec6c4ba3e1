/**
 * One conformance suite for every {@linkcode Store}: Deno KV on disk and the in-memory store must
 * behave alike for records, atomic release commits, deletion, rules and ordering, and for the
 * event bus's outbox (`store.events`): deliveries, acknowledgements, dead letters, schedule marks.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BundlehostError } from "../mod.ts";
import {
  type BundleRecord,
  KvStore,
  MemoryStore,
  type ReleaseRecord,
  type Store,
} from "../engine/store/store.ts";
import type { DeliveryRecord, EventRecord } from "../engine/store/event_records.ts";
import { rejects } from "./_helpers.ts";
import { KvEventStore } from "../engine/store/kv_event_store.ts";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsStore } from "../engine/cluster/nats_store.ts";
import { Availability } from "../engine/cluster/availability.ts";
import { connectCluster, parseClusterServers } from "../engine/cluster/connection.ts";
import {
  createWhilePlacing,
  natsAvailable,
  type NatsCluster,
  startNatsCluster,
} from "./_nats_cluster.ts";
import { NatsEventStore } from "../engine/cluster/nats_event_store.ts";

/** A store and the clean-up that goes with it. */
interface OpenStore extends AsyncDisposable {
  store: Store;
}

const IMPLEMENTATIONS: Record<string, () => Promise<OpenStore>> = {
  KvStore: async () => {
    const dir = await Deno.makeTempDir({ prefix: "bundlehost-store-" });
    const store = await KvStore.open(`${dir}/registry.sqlite3`);
    return {
      store,
      async [Symbol.asyncDispose]() {
        store.close();
        await Deno.remove(dir, { recursive: true });
      },
    };
  },
  MemoryStore: () => {
    const store = new MemoryStore();
    return Promise.resolve({ store, [Symbol.asyncDispose]: () => Promise.resolve(store.close()) });
  },
  // Cluster mode's event store (a real nats-server); its registry part is the memory store's.
  ...(natsAvailable() ? { NatsEventStore: openNatsEvents } : {}),
};

/** One 3-node NATS cluster and connection for every NatsStore test, each on a bucket of its own. */
let shared: Promise<{ cluster: NatsCluster; nc: NatsConnection }> | undefined;
let buckets = 0;

function sharedNats(): Promise<{ cluster: NatsCluster; nc: NatsConnection }> {
  shared ??= (async () => {
    const cluster = await startNatsCluster(await Deno.makeTempDir({ prefix: "bh-nats-store-" }));
    const nc = await connectCluster(parseClusterServers(cluster.urls), "store-test");
    return { cluster, nc };
  })();
  return shared;
}

IMPLEMENTATIONS.NatsStore = async () => {
  const { nc } = await sharedNats();
  // Servers of a cluster that just started join JetStream one by one: placement may wait.
  const name = `bundlehost_test${++buckets}_registry`;
  // As cluster mode opens it: reads from the stream leader, never a follower's stale copy.
  const kv = await createWhilePlacing(() =>
    new Kvm(nc).create(name, { replicas: 3, allow_direct: false })
  );
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-store-" });
  const eventsKv = await Deno.openKv(`${dir}/events.sqlite3`);
  const events = new KvEventStore(eventsKv);
  await events.measure();
  const store = new NatsStore(kv, new Availability(nc), events, () => eventsKv.close());
  return {
    store,
    async [Symbol.asyncDispose]() {
      store.close();
      await kv.destroy();
      await Deno.remove(dir, { recursive: true });
    },
  };
};

/** A memory registry whose `events` is a {@linkcode NatsEventStore} on a fresh 3-node NATS cluster. */
async function openNatsEvents(): Promise<OpenStore> {
  const nats = await startNatsCluster(await Deno.makeTempDir({ prefix: "bh-nats-store-" }));
  const nc = await connectCluster(parseClusterServers(nats.urls), "store-test");
  const events = await NatsEventStore.open(nc, { owner: "store-test" });
  const store = new MemoryStore();
  Object.defineProperty(store, "events", { value: events });
  return {
    store,
    async [Symbol.asyncDispose]() {
      store.close();
      await events.close();
      await nc.close();
      await nats[Symbol.asyncDispose]();
    },
  };
}

function release(id: string, version: string, at: number, hash = `sha256-${id}-${version}`) {
  return { id, version, hash, releasedAt: new Date(at).toISOString() } satisfies ReleaseRecord;
}

function bundle(id: string, active: string, extra: Partial<BundleRecord> = {}): BundleRecord {
  return {
    id,
    active,
    history: [active],
    desired: "started",
    updatedAt: new Date(0).toISOString(),
    ...extra,
  };
}

function event(id: string, payload: unknown = { id }): EventRecord {
  return { id, topic: "order.created", payload, publishedAt: 1_000, source: "http", hops: 0 };
}

function delivery(eventId: string, n: number, due: number): DeliveryRecord {
  return {
    id: `${eventId}~${n}`,
    eventId,
    topic: "order.created",
    bundle: `sub-${n}`,
    kind: "subscription",
    key: "order.created",
    handler: "Orders.handle",
    attempts: 0,
    maxAttempts: 3,
    timeoutMs: 1_000,
    nextAttemptAt: due,
    createdAt: 1_000,
  };
}

for (const [name, open] of Object.entries(IMPLEMENTATIONS)) {
  // The NATS store shares one NATS cluster and connection across its tests.
  const nats = name === "NatsStore";
  const test = (title: string, fn: () => Promise<void>) =>
    Deno.test({
      name: title,
      fn,
      ignore: nats && !natsAvailable(),
      sanitizeOps: !nats,
      sanitizeResources: !nats,
    });
  test(`${name} stores and returns bundle and release records`, async () => {
    await using s = await open();
    assert.equal(await s.store.getBundle("app"), undefined);
    assert.equal(await s.store.getRelease("app", "1.0.0"), undefined);
    assert.deepEqual(await s.store.listReleases("app"), []);
    const record = bundle("app", "1.0.0", { weights: { "1.0.0": 3 }, desired: "stopped" });
    await s.store.commit({ release: release("app", "1.0.0", 1), bundle: record });
    assert.deepEqual(await s.store.getBundle("app"), record);
    assert.deepEqual(await s.store.getRelease("app", "1.0.0"), release("app", "1.0.0", 1));
    const updated = { ...record, active: "1.0.0", history: ["1.0.0", "1.0.0"] };
    await s.store.commit({ bundle: updated });
    assert.deepEqual(await s.store.getBundle("app"), updated);
  });

  test(`${name} returns copies that callers cannot change in place`, async () => {
    await using s = await open();
    await s.store.commit({ release: release("app", "1.0.0", 1), bundle: bundle("app", "1.0.0") });
    const got = (await s.store.getBundle("app"))!;
    got.history.push("9.9.9");
    got.active = "9.9.9";
    (await s.store.listReleases("app"))[0]!.hash = "changed";
    assert.deepEqual(await s.store.getBundle("app"), bundle("app", "1.0.0"));
    assert.equal((await s.store.getRelease("app", "1.0.0"))?.hash, "sha256-app-1.0.0");
  });

  test(`${name} lists bundles by id and releases in release order`, async () => {
    await using s = await open();
    for (const id of ["charlie", "alpha", "bravo"]) {
      await s.store.commit({ bundle: bundle(id, "1.0.0") });
    }
    assert.deepEqual((await s.store.listBundles()).map((b) => b.id), ["alpha", "bravo", "charlie"]);
    // Release order is time order, not semver or insertion order.
    await s.store.commit({ release: release("app", "2.0.0", 2_000) });
    await s.store.commit({ release: release("app", "10.0.0", 3_000) });
    await s.store.commit({ release: release("app", "1.5.0", 1_000) });
    await s.store.commit({ release: release("app-2", "1.0.0", 500) });
    assert.deepEqual(
      (await s.store.listReleases("app")).map((r) => r.version),
      ["1.5.0", "2.0.0", "10.0.0"],
    );
    assert.deepEqual((await s.store.listReleases("app-2")).map((r) => r.version), ["1.0.0"]);
    assert.deepEqual(await s.store.listReleases("ap"), []);
  });

  test(`${name} refuses a second release of one version and applies nothing of that commit`, async () => {
    await using s = await open();
    await s.store.commit({ release: release("app", "1.0.0", 1), bundle: bundle("app", "1.0.0") });
    const error = await rejects(
      () =>
        s.store.commit({
          release: release("app", "1.0.0", 2, "sha256-other"),
          bundle: bundle("app", "1.0.0", { desired: "stopped", history: ["x"] }),
        }),
      BundlehostError,
      "app@1.0.0 already exists",
    );
    assert.equal(error.code, "CONFLICT");
    assert.deepEqual(await s.store.getRelease("app", "1.0.0"), release("app", "1.0.0", 1));
    assert.deepEqual(await s.store.getBundle("app"), bundle("app", "1.0.0"));
  });

  test(`${name} settles concurrent commits of one release with exactly one winner`, async () => {
    await using s = await open();
    const results = await Promise.allSettled(
      [1, 2, 3, 4].map((n) =>
        s.store.commit({
          release: release("race", "1.0.0", n, `sha256-${n}`),
          bundle: bundle("race", "1.0.0", { history: [`${n}`] }),
        })
      ),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results) {
      if (r.status === "rejected") assert.equal((r.reason as BundlehostError).code, "CONFLICT");
    }
    // The bundle record written is the one of the winning release.
    const winner = (await s.store.getRelease("race", "1.0.0"))!;
    assert.deepEqual((await s.store.getBundle("race"))?.history, [winner.hash.slice(7)]);
  });

  test(`${name} deleteBundle removes the record and every release of that id only`, async () => {
    await using s = await open();
    for (const version of ["1.0.0", "1.1.0"]) {
      await s.store.commit({ release: release("app", version, 1), bundle: bundle("app", version) });
    }
    await s.store.commit({
      release: release("app-2", "1.0.0", 1),
      bundle: bundle("app-2", "1.0.0"),
    });
    await s.store.commit({ deleteBundle: "app" });
    assert.equal(await s.store.getBundle("app"), undefined);
    assert.equal(await s.store.getRelease("app", "1.0.0"), undefined);
    assert.deepEqual(await s.store.listReleases("app"), []);
    assert.deepEqual((await s.store.listBundles()).map((b) => b.id), ["app-2"]);
    assert.deepEqual((await s.store.listReleases("app-2")).length, 1);
    // The version can be released again once deleted.
    await s.store.commit({ release: release("app", "1.0.0", 5, "sha256-new") });
    assert.equal((await s.store.getRelease("app", "1.0.0"))?.hash, "sha256-new");
  });

  test(`${name} stores an event once and acknowledges each delivery once`, async () => {
    await using s = await open();
    const ev = s.store.events;
    const payload = { order: "o-1", lines: [{ sku: "tea", qty: 2 }], note: "héllo ✓" };
    await ev.enqueue(event("e1", payload), [delivery("e1", 0, 1_000), delivery("e1", 1, 3_000)]);
    await ev.enqueue(event("e2"), [delivery("e2", 0, 2_000)]);
    assert.deepEqual(await ev.getEvent("e1"), event("e1", payload));
    assert.deepEqual(await ev.getDelivery("e1~1"), delivery("e1", 1, 3_000));
    // Due by time, then id; nothing due before its time; at most `limit`.
    assert.deepEqual((await ev.due(2_999, 10)).map((d) => d.id), ["e1~0", "e2~0"]);
    assert.deepEqual((await ev.due(5_000, 2)).map((d) => d.id), ["e1~0", "e2~0"]);
    assert.deepEqual(await ev.due(999, 10), []);
    await rejects(() => ev.enqueue(event("e1"), [delivery("e1", 0, 1)]), BundlehostError, "e1");
    assert.deepEqual(await ev.stats(), { events: 2, pending: 3, inFlight: 0, deadLetters: 0 });
    assert.equal(await ev.ack("e1~0"), true);
    assert.equal(await ev.ack("e1~0"), false);
    assert.ok(await ev.getEvent("e1"), "still referenced by e1~1");
    assert.equal(await ev.ack("e1~1"), true);
    assert.equal(await ev.getEvent("e1"), undefined);
    assert.deepEqual((await ev.due(10_000, 10)).map((d) => d.id), ["e2~0"]);
    // An event nobody subscribes to is not kept.
    await ev.enqueue(event("e3"), []);
    assert.equal(await ev.getEvent("e3"), undefined);
    assert.deepEqual(await ev.stats(), { events: 1, pending: 1, inFlight: 0, deadLetters: 0 });
  });

  test(`${name} reschedules, releases claims, dead-letters and replays deliveries`, async () => {
    await using s = await open();
    const ev = s.store.events;
    await ev.enqueue(event("e1"), [delivery("e1", 0, 1_000), delivery("e1", 1, 1_000)]);
    const claimed = { ...delivery("e1", 0, 90_000), attempts: 1, claimedAt: 1_000 };
    assert.equal(await ev.update(claimed), true);
    assert.deepEqual((await ev.due(10_000, 10)).map((d) => d.id), ["e1~1"]);
    assert.equal((await ev.stats()).inFlight, 1);
    // After a crash: claimed deliveries are due at once, their attempts kept.
    assert.equal(await ev.releaseClaims(5_000), 1);
    const released = await ev.getDelivery("e1~0");
    assert.deepEqual([released?.attempts, released?.claimedAt, released?.nextAttemptAt], [
      1,
      undefined,
      5_000,
    ]);
    // A map checkpoint round-trips its input.
    const progress = { version: "1.0.0", step: 2, input: { reserved: ["tea"], total: 4.5 } };
    assert.equal(await ev.update({ ...delivery("e1", 1, 1_000), progress }), true);
    assert.deepEqual((await ev.getDelivery("e1~1"))?.progress, progress);

    const letter = await ev.deadLetter("e1~0", { error: "BUNDLE_ERROR: boom", at: 7_000 });
    assert.deepEqual([letter?.error, letter?.deadAt, letter?.attempts], [
      "BUNDLE_ERROR: boom",
      7_000,
      1,
    ]);
    assert.equal(await ev.deadLetter("e1~0", { error: "again", at: 8_000 }), undefined);
    assert.equal(await ev.update(delivery("e1", 0, 1)), false, "a dead letter is not pending");
    assert.deepEqual((await ev.due(10_000, 10)).map((d) => d.id), ["e1~1"]);
    assert.deepEqual((await ev.deadLetters()).map((d) => d.id), ["e1~0"]);
    assert.deepEqual(await ev.getDeadLetter("e1~0"), letter);
    assert.equal(await ev.ack("e1~1"), true);
    assert.ok(await ev.getEvent("e1"), "a dead letter keeps its event");

    const replayed = await ev.replay("e1~0", 9_000);
    assert.deepEqual([replayed?.attempts, replayed?.nextAttemptAt], [0, 9_000]);
    assert.equal(await ev.replay("e1~0", 9_000), undefined);
    assert.deepEqual((await ev.due(9_000, 10)).map((d) => d.id), ["e1~0"]);
    await ev.deadLetter("e1~0", { error: "again", at: 10_000 });
    assert.equal(await ev.deleteDeadLetter("e1~0"), true);
    assert.equal(await ev.deleteDeadLetter("e1~0"), false);
    assert.equal(await ev.getEvent("e1"), undefined, "the last reference took the event");
    assert.deepEqual(await ev.stats(), { events: 0, pending: 0, inFlight: 0, deadLetters: 0 });
  });

  test(`${name} pages dead letters in id order`, async () => {
    await using s = await open();
    const ev = s.store.events;
    for (const id of ["e3", "e1", "e2"]) {
      await ev.enqueue(event(id), [delivery(id, 0, 1)]);
      await ev.deadLetter(`${id}~0`, { error: "x", at: 2 });
    }
    assert.deepEqual((await ev.deadLetters()).map((d) => d.id), ["e1~0", "e2~0", "e3~0"]);
    assert.deepEqual((await ev.deadLetters({ limit: 2 })).map((d) => d.id), ["e1~0", "e2~0"]);
    assert.deepEqual((await ev.deadLetters({ after: "e1~0" })).map((d) => d.id), ["e2~0", "e3~0"]);
  });

  test(`${name} fires each schedule slot at most once`, async () => {
    await using s = await open();
    const ev = s.store.events;
    const mark = { key: "app */5 * * * *", slot: 300_000 };
    assert.equal(await ev.getMark(mark.key), undefined);
    await ev.enqueue(event("f1"), [delivery("f1", 0, 1)], mark);
    assert.equal(await ev.getMark(mark.key), 300_000);
    for (const slot of [300_000, 100_000]) {
      const error = await rejects(
        () => ev.enqueue(event(`f-${slot}`), [delivery(`f-${slot}`, 0, 1)], { ...mark, slot }),
        BundlehostError,
        "already fired",
      );
      assert.equal(error.code, "CONFLICT");
      assert.equal(await ev.getEvent(`f-${slot}`), undefined, "nothing stored");
    }
    // Racing schedulers: one firing per slot.
    const results = await Promise.allSettled(
      [1, 2, 3, 4].map((n) =>
        ev.enqueue(event(`r${n}`), [delivery(`r${n}`, 0, 1)], { ...mark, slot: 600_000 })
      ),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    assert.equal((await ev.stats()).pending, 2);
    await ev.raiseMark(mark.key, 500_000);
    assert.equal(await ev.getMark(mark.key), 600_000, "a mark never goes back");
    await ev.raiseMark(mark.key, 900_000);
    assert.equal(await ev.getMark(mark.key), 900_000);
  });

  test(`${name} records owners, and forgets every name of a dropped bundle`, async () => {
    await using s = await open();
    assert.deepEqual(await s.store.getOwners(), {});
    await s.store.putOwners({ "service:Hello": "a", "topic:order.created": "a" });
    await s.store.putOwners({ "service:Stock": "b" });
    assert.deepEqual(await s.store.getOwners(), {
      "service:Hello": "a",
      "topic:order.created": "a",
      "service:Stock": "b",
    });
    await s.store.dropOwners("a");
    assert.deepEqual(await s.store.getOwners(), { "service:Stock": "b" });
    await s.store.dropOwners("b");
    assert.deepEqual(await s.store.getOwners(), {});
  });

  test(`${name} round-trips the governance rules document`, async () => {
    await using s = await open();
    assert.equal(await s.store.getRules(), undefined);
    const rules = { bundles: { app: { qps: 10, strategy: "errorRatio", threshold: 0.5 } } };
    await s.store.putRules(rules);
    assert.deepEqual(await s.store.getRules(), rules);
    await s.store.putRules({ bundles: {} });
    assert.deepEqual(await s.store.getRules(), { bundles: {} });
  });

  test(`${name} events.usedBytes follows every change and returns to zero`, async () => {
    await using s = await open();
    const ev = s.store.events;
    assert.equal(ev.usedBytes(), 0);
    const big = "x".repeat(10_000);
    await ev.enqueue(event("e1", { big }), [delivery("e1", 0, 1), delivery("e1", 1, 1)]);
    const afterEnqueue = ev.usedBytes();
    assert.ok(afterEnqueue > 10_000 && afterEnqueue < 12_000, `${afterEnqueue} bytes`);
    await ev.deadLetter("e1~1", { error: "e".repeat(2_000), at: 5 });
    assert.ok(ev.usedBytes() > afterEnqueue + 1_900, "a dead letter keeps its error");
    await ev.replay("e1~1", 6);
    await ev.ack("e1~1");
    await ev.deadLetter("e1~0", { error: "boom", at: 7 });
    await ev.deleteDeadLetter("e1~0");
    assert.equal(ev.usedBytes(), 0);
  });

  test(`${name} events.pruneDeadLetters drops expired letters and the oldest beyond the cap`, async () => {
    await using s = await open();
    const ev = s.store.events;
    // Subscriber sub-0 gets 5 dead letters (died at 10..14), sub-1 one that died at 1.
    for (let i = 0; i < 5; i++) {
      await ev.enqueue(event(`e${i}`), [delivery(`e${i}`, 0, 1)]);
      await ev.deadLetter(`e${i}~0`, { error: "boom", at: 10 + i });
    }
    await ev.enqueue(event("old"), [delivery("old", 1, 1)]);
    await ev.deadLetter("old~1", { error: "boom", at: 1 });
    assert.equal(await ev.pruneDeadLetters({ before: 5, maxPerSubscriber: 3 }), 3);
    assert.deepEqual((await ev.deadLetters()).map((d) => d.id), ["e2~0", "e3~0", "e4~0"]);
    assert.deepEqual(await ev.stats(), { events: 3, pending: 0, inFlight: 0, deadLetters: 3 });
    assert.equal(await ev.pruneDeadLetters({ before: 5, maxPerSubscriber: 3 }), 0);
  });
}

Deno.test("KvStore keeps pending deliveries, dead letters and marks across a reopen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-store-" });
  try {
    const path = `${dir}/registry.sqlite3`;
    const first = await KvStore.open(path);
    await first.events.enqueue(event("e1"), [delivery("e1", 0, 1), delivery("e1", 1, 1)], {
      key: "app @daily",
      slot: 86_400_000,
    });
    await first.events.deadLetter("e1~1", { error: "boom", at: 2 });
    first.close();
    const second = await KvStore.open(path);
    try {
      assert.deepEqual((await second.events.due(10, 10)).map((d) => d.id), ["e1~0"]);
      assert.deepEqual((await second.events.deadLetters()).map((d) => d.id), ["e1~1"]);
      assert.deepEqual(await second.events.getEvent("e1"), event("e1"));
      assert.equal(await second.events.getMark("app @daily"), 86_400_000);
    } finally {
      second.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvStore keeps committed records after the database is closed and reopened", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-store-" });
  try {
    const path = `${dir}/registry.sqlite3`;
    const first = await KvStore.open(path);
    await first.commit({ release: release("app", "1.0.0", 1), bundle: bundle("app", "1.0.0") });
    await first.putRules({ qps: 5 });
    first.close();
    const second = await KvStore.open(path);
    try {
      assert.deepEqual(await second.getBundle("app"), bundle("app", "1.0.0"));
      assert.deepEqual(await second.listReleases("app"), [release("app", "1.0.0", 1)]);
      assert.deepEqual(await second.getRules(), { qps: 5 });
    } finally {
      second.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvStore keeps events in their own database file, apart from the registry's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-store-" });
  try {
    const store = await KvStore.open(`${dir}/registry.sqlite3`);
    await store.events.enqueue(event("e1"), [delivery("e1", 0, 1)]);
    await store.commit({ release: release("app", "1.0.0", 1), bundle: bundle("app", "1.0.0") });
    store.close();
    const registry = await Deno.openKv(`${dir}/registry.sqlite3`);
    const events = await Deno.openKv(`${dir}/events.sqlite3`);
    try {
      assert.equal(
        await Array.fromAsync(registry.list({ prefix: ["events"] })).then((a) => a.length),
        0,
      );
      assert.ok((await events.get(["events", "event", "e1"])).value !== null);
      assert.equal((await events.get(["bundle", "app"])).value, null);
    } finally {
      registry.close();
      events.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvStore moves events an older engine kept in the registry database into their own", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-store-" });
  try {
    // The old layout: the event store in the registry's database.
    const old = await Deno.openKv(`${dir}/registry.sqlite3`);
    const legacy = new KvEventStore(old);
    for (let i = 0; i < 30; i++) {
      await legacy.enqueue(event(`e${i}`, { pad: "p".repeat(20_000) }), [delivery(`e${i}`, 0, i)]);
    }
    await legacy.deadLetter("e0~0", { error: "boom", at: 2 });
    await legacy.raiseMark("app @daily", 86_400_000);
    // Many small records too: more than one commit's worth (a commit takes at most 100 checks).
    for (let i = 0; i < 250; i++) await legacy.raiseMark(`app-${i} @hourly`, i);
    await old.set(["bundle", "app"], bundle("app", "1.0.0"));
    old.close();
    const store = await KvStore.open(`${dir}/registry.sqlite3`);
    try {
      // Events, deliveries and their due entries, the dead letter, the marks.
      assert.equal(store.migratedEvents, 30 + 29 * 2 + 1 + 1 + 250);
      assert.equal(await store.events.getMark("app-249 @hourly"), 249);
      assert.equal((await store.events.due(100, 100)).length, 29);
      assert.deepEqual((await store.events.deadLetters()).map((d) => d.id), ["e0~0"]);
      assert.equal(await store.events.getMark("app @daily"), 86_400_000);
      assert.ok(store.events.usedBytes() > 30 * 20_000, "the moved events are measured");
      assert.deepEqual(await store.getBundle("app"), bundle("app", "1.0.0"));
    } finally {
      store.close();
    }
    const registry = await Deno.openKv(`${dir}/registry.sqlite3`);
    const left = await Array.fromAsync(registry.list({ prefix: ["events"] }));
    registry.close();
    assert.equal(left.length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "NatsStore refuses a claim of a name another engine claimed for another bundle meanwhile",
  ignore: !natsAvailable(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using s = await IMPLEMENTATIONS.NatsStore!();
    await s.store.putOwners({ "service:Hello": "a" });
    const error = await rejects(
      () => s.store.putOwners({ "service:Hello": "b", "service:Other": "b" }),
      BundlehostError,
      'service "Hello" belongs to bundle "a"',
    );
    assert.equal(error.code, "CONFLICT");
    assert.deepEqual(await s.store.getOwners(), { "service:Hello": "a" }, "nothing written");
    await s.store.putOwners({ "service:Hello": "a" });
  },
});

Deno.test({
  name: "NatsStore: the shared NATS cluster stops",
  ignore: !natsAvailable(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (!shared) return;
    const { cluster, nc } = await shared;
    await nc.close();
    await cluster[Symbol.asyncDispose]();
  },
});
