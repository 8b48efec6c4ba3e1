/**
 * Release archives of cluster mode, in-process against a real 3-node `nats-server` cluster: an engine that
 * never received a release fetches it from the object store, checks its hash and serves it; an
 * archive whose files do not match the recorded hash is refused (the bundle is not installed), and
 * an archive larger than the release limits is refused before it is read.
 */
import assert from "node:assert/strict";
import { Objm } from "@nats-io/obj";
import { createEngine, type Engine } from "../mod.ts";
import { BundlehostError } from "../engine/base/errors.ts";
import { Availability } from "../engine/cluster/availability.ts";
import { connectCluster, parseClusterServers } from "../engine/cluster/connection.ts";
import { NatsArchives } from "../engine/cluster/nats_archives.ts";
import { FAST } from "./_helpers.ts";
import { helloArchive } from "./_cluster_engines.ts";
import { createWhilePlacing, natsAvailable, startNatsCluster } from "./_nats_cluster.ts";

const options = { ignore: !natsAvailable(), sanitizeOps: false, sanitizeResources: false };

async function engineOn(servers: string, dataDir: string): Promise<Engine> {
  return await createEngine({ ...FAST, dataDir, cluster: { servers, prefix: "archives_test" } });
}

Deno.test({
  ...options,
  name:
    "cluster archives: a second engine fetches, verifies and serves a release it never received",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "bh-archives-" });
    await using nats = await startNatsCluster(`${root}/nats`);
    await using a = await engineOn(nats.urls, `${root}/a`);
    const released = await a.release({ archive: await helloArchive("arch", "1.0.0") });
    assert.equal(released.created, true);

    await using b = await engineOn(nats.urls, `${root}/b`);
    assert.equal(await b.call("Hello", "which", null), "arch@1.0.0");
    const copy = await Deno.readTextFile(`${root}/b/releases/arch/1.0.0/mod.ts`);
    assert.match(copy, /arch@1\.0\.0/, "B wrote its own release folder from the archive");
    const status = await b.clusterStatus();
    assert.ok(status?.connected);
    assert.match(status!.engine, /^e-[0-9a-f]{8}$/);
    await Deno.remove(root, { recursive: true }).catch(() => {});
  },
});

Deno.test({
  ...options,
  name: "cluster archives: an archive that does not match the recorded hash is never installed",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "bh-archives-" });
    await using nats = await startNatsCluster(`${root}/nats`);
    const { hash } = await (async () => {
      await using a = await engineOn(nats.urls, `${root}/a`);
      return await a.release({ archive: await helloArchive("tamper", "1.0.0") });
    })();
    // Someone with access to NATS replaces the archive with other files.
    const nc = await connectCluster(parseClusterServers(nats.urls), "tamper");
    try {
      const os = await new Objm(nc).open("archives_test_releases");
      await os.putBlob({ name: hash }, await helloArchive("tamper", "6.6.6"));
    } finally {
      await nc.close();
    }
    await using b = await engineOn(nats.urls, `${root}/b`);
    assert.equal(b.runtime.stateOf("tamper", "1.0.0"), undefined, "not installed");
    await assert.rejects(() => b.call("Hello", "which", null));
    const folder = await Deno.stat(`${root}/b/releases/tamper/1.0.0`).then(() => true, () => false);
    assert.equal(folder, false, "no release folder written from a bad archive");
    await Deno.remove(root, { recursive: true }).catch(() => {});
  },
});

Deno.test({
  ...options,
  name: "cluster archives: an archive past the size bound is refused before it is read",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "bh-archives-" });
    await using nats = await startNatsCluster(`${root}/nats`);
    const nc = await connectCluster(parseClusterServers(nats.urls), "bound");
    try {
      const archives = new NatsArchives(
        await createWhilePlacing(() => new Objm(nc).create("bound_releases")),
        new Availability(nc),
      );
      const big = new Uint8Array(64 * 1024);
      await archives.put("sha256-big", big);
      assert.equal((await archives.get("sha256-big", 1024 * 1024))?.byteLength, big.byteLength);
      await assert.rejects(
        () => archives.get("sha256-big", 1024),
        (error: unknown) =>
          error instanceof BundlehostError && error.code === "BAD_INPUT" &&
          /65536 bytes, past the 1024/.test(error.message),
      );
      assert.equal(await archives.get("sha256-none", 1024), undefined);
    } finally {
      await nc.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
