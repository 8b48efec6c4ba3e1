/**
 * The cluster registry under racing writers, on a real 3-node `nats-server` cluster: three
 * engines' stores (one connection to each server) commit releases of one bundle id at the same
 * time, and every acknowledged release is there afterwards. On nats-server 2.9 a replicated
 * bucket lets concurrent updates that expect one revision all win; the revision locks
 * (`RevisionLocks`) are what make the second writer retry on the fresh document.
 */
import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { Availability } from "../engine/cluster/availability.ts";
import { connectCluster, parseClusterServers } from "../engine/cluster/connection.ts";
import { NatsStore, type RevisionLocks } from "../engine/cluster/nats_store.ts";
import { MemoryEventStore } from "../engine/store/event_store.ts";
import type { ReleaseRecord } from "../engine/store/store.ts";
import { createWhilePlacing, natsAvailable, startNatsCluster } from "./_nats_cluster.ts";

const WRITERS = 3;
const RELEASES_EACH = 12;

function bucket(nc: NatsConnection, name: string, ttl?: number) {
  // As cluster mode opens the registry: reads from the stream leader (no direct gets).
  return createWhilePlacing(() =>
    new Kvm(nc).create(name, {
      replicas: 3,
      history: 1,
      allow_direct: false,
      ...(ttl ? { ttl } : {}),
    })
  );
}

async function race(withLocks: boolean): Promise<{ acknowledged: number; kept: number }> {
  await using cluster = await startNatsCluster(await Deno.makeTempDir({ prefix: "bh-race-" }));
  const connections = await Promise.all(
    cluster.nodes.map((node, i) => connectCluster(parseClusterServers(node.url), `writer-${i}`)),
  );
  try {
    await bucket(connections[0]!, "race_registry");
    if (withLocks) await bucket(connections[0]!, "race_locks", 30_000);
    const stores = await Promise.all(connections.map(async (nc, i) => {
      const kvm = new Kvm(nc);
      const locks: RevisionLocks | undefined = withLocks
        ? { bucket: await kvm.open("race_locks"), holder: `writer-${i}` }
        : undefined;
      return new NatsStore(
        await kvm.open("race_registry", { allow_direct: false }),
        new Availability(nc),
        new MemoryEventStore(),
        () => {},
        locks,
      );
    }));
    let acknowledged = 0;
    await Promise.all(stores.map(async (store, w) => {
      for (let n = 0; n < RELEASES_EACH; n++) {
        const release: ReleaseRecord = {
          id: "raced",
          version: `${w + 1}.${n}.0`,
          hash: `sha256-${w}-${n}`,
          releasedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n, w)).toISOString(),
        };
        await store.commit({ release });
        acknowledged++;
      }
    }));
    const kept = (await stores[0]!.listReleases("raced")).length;
    return { acknowledged, kept };
  } finally {
    for (const nc of connections) await nc.close();
  }
}

Deno.test({
  name: "cluster registry: racing writers on three servers lose no acknowledged release",
  ignore: !natsAvailable(),
}, async () => {
  const { acknowledged, kept } = await race(true);
  assert.equal(acknowledged, WRITERS * RELEASES_EACH);
  assert.equal(kept, acknowledged, "every acknowledged release is in the registry");
});
