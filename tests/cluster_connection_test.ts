/**
 * The cluster connection against a real 3-node `nats-server` cluster on loopback: an R3 key-value
 * bucket keeps answering when one node is killed, and server lists are checked before connecting.
 */
import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { BundlehostError } from "../engine/base/errors.ts";
import { connectCluster, parseClusterServers } from "../engine/cluster/connection.ts";
import { createWhilePlacing, natsAvailable, startNatsCluster } from "./_nats_cluster.ts";

Deno.test("parseClusterServers reads nats:// lists and names the entry it refuses", () => {
  assert.deepEqual(parseClusterServers(" nats://127.0.0.1:4222 , nats://example.test "), [
    "127.0.0.1:4222",
    "example.test:4222",
  ]);
  for (
    const bad of ["", "http://127.0.0.1:4222", "127.0.0.1:4222", "nats://u:p@h:1", "nats://h:1/x"]
  ) {
    assert.throws(() => parseClusterServers(bad), BundlehostError, bad);
  }
  assert.throws(
    () => parseClusterServers(Array(17).fill("nats://h:1").join(",")),
    /17 servers given, at most 16/,
  );
});

Deno.test("connectCluster refuses clearly when no server answers", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    () => connectCluster([`127.0.0.1:${port}`], "test"),
    (error: unknown) => error instanceof BundlehostError && error.code === "UNAVAILABLE",
  );
});

Deno.test({
  name: "an R3 bucket on a 3-node NATS cluster keeps answering with one node killed",
  ignore: !natsAvailable(),
}, async () => {
  await using cluster = await startNatsCluster(await Deno.makeTempDir({ prefix: "bh-nats-" }));
  const nc = await connectCluster(parseClusterServers(cluster.urls), "connection-test");
  try {
    const kv = await createWhilePlacing(() => new Kvm(nc).create("probe", { replicas: 3 }));
    assert.equal((await kv.status()).replicas, 3, "the bucket is replicated on every node");
    await kv.put("k", "one");
    await cluster.kill(0);
    // A stream whose leader died elects another within seconds; a put may time out meanwhile.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await kv.put("k", "two");
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }
    assert.equal((await kv.get("k"))?.string(), "two");
    await cluster.restart(0);
    assert.equal((await kv.get("k"))?.string(), "two");
  } finally {
    await nc.close();
  }
});
