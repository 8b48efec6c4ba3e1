/**
 * Cluster mode's registry reads are never older than a change another engine already wrote: a
 * real 3-node `nats-server` cluster on loopback and three engines' cluster parts, each connected
 * to a different node. A JetStream follower stores a write before the leader acknowledges it but
 * applies it only when it next hears the commit index, so a read a follower answers ("direct
 * get") can return the document as it was before. Convergence reads the record after a change
 * notification; such a read made an engine re-apply the traffic weights a rollback had just
 * removed. Every write here is followed at once by a read on every engine, which must see it.
 */
import assert from "node:assert/strict";
import { ClusterMode } from "../engine/cluster/cluster_mode.ts";
import type { BundleRecord } from "../engine/store/store.ts";
import { natsAvailable, startNatsCluster } from "./_nats_cluster.ts";

Deno.test({
  name: "cluster: a registry read on any engine sees every change acknowledged before it",
  ignore: !natsAvailable(),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "bh-reads-" });
  await using cluster = await startNatsCluster(`${root}/nats`);
  const modes: ClusterMode[] = [];
  try {
    // One after the other: the first creates the buckets, the others open them.
    for (const [i, node] of cluster.nodes.entries()) {
      const dataDir = `${root}/engine-${i}`;
      await Deno.mkdir(dataDir);
      modes.push(await ClusterMode.open({ servers: node.url, prefix: "reads" }, dataDir));
    }
    const record = (n: number): BundleRecord => ({
      id: "r-hello",
      active: `1.0.${n}`,
      history: [`1.0.${n}`],
      desired: "started",
      updatedAt: new Date().toISOString(),
    });
    const stale: string[] = [];
    for (let n = 0; n < 300; n++) {
      const writer = modes[n % modes.length]!;
      await writer.store.commit({ bundle: record(n) });
      const seen = await Promise.all(modes.map((m) => m.store.getBundle("r-hello")));
      seen.forEach((got, i) => {
        if (got?.active !== `1.0.${n}`) stale.push(`write ${n}: engine ${i} read ${got?.active}`);
      });
    }
    assert.deepEqual(stale, [], "every read saw the write acknowledged before it");
  } finally {
    for (const mode of modes) await mode.close();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
