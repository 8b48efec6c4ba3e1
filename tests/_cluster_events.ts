/**
 * Three engines in this process sharing one {@linkcode NatsEventStore} bucket on a real 3-node
 * `nats-server` cluster (each engine with its own registry in memory and its own data folder),
 * for the cluster event tests. Bundles are released on each engine by the test, as the shared
 * registry of cluster mode would.
 *
 * @module
 */
import { createEngine, type Engine, type EngineOptions, MemoryStore } from "../mod.ts";
import { NatsEventStore } from "../engine/cluster/nats_event_store.ts";
import { parseClusterServers } from "../engine/cluster/connection.ts";
import { FAST, writeBundle } from "./_helpers.ts";
import { type NatsCluster, startNatsCluster } from "./_nats_cluster.ts";

/** One engine of the test cluster. */
export interface ClusterEngine {
  /** The engine. */
  engine: Engine;
  /** Its event store (its own NATS connection). */
  events: NatsEventStore;
  /** Its data folder. */
  dataDir: string;
  /** Whether it was stopped. */
  stopped: boolean;
}

/** A NATS cluster and three engines on it; `await using` stops all. */
export interface EventCluster extends AsyncDisposable {
  /** The NATS servers. */
  nats: NatsCluster;
  /** The engines. */
  engines: ClusterEngine[];
  /** Releases a bundle on every running engine. */
  release(manifest: Record<string, unknown>, files: Record<string, string>): Promise<void>;
  /**
   * Stops engine `index` as a crash would look to the others: its NATS connection closes at once
   * (nothing more it does reaches the cluster, its heartbeat stops), then the engine closes.
   */
  crash(index: number): Promise<void>;
}

/**
 * Starts a 3-node NATS cluster and three engines sharing its event store.
 *
 * @param options Engine options for every engine (merged over the test defaults).
 * @param ownerTtlMs How long a silent engine's claims are kept (short where a test stops one).
 */
export async function startEventCluster(
  options: EngineOptions = {},
  ownerTtlMs = 15_000,
): Promise<EventCluster> {
  const root = await Deno.makeTempDir({ prefix: "bh-cluster-events-" });
  const nats = await startNatsCluster(`${root}/nats`);
  const servers = parseClusterServers(nats.urls);
  const engines: ClusterEngine[] = [];
  const dispose = async () => {
    for (const e of engines) {
      if (!e.stopped) await e.engine.close();
      await e.events.close();
    }
    await nats[Symbol.asyncDispose]();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  };
  try {
    for (let i = 0; i < 3; i++) {
      // Each engine talks to a different node first, as engines spread over a cluster would.
      const order = [...servers.slice(i), ...servers.slice(0, i)];
      const events = await NatsEventStore.connect(order, {
        owner: `engine-${i}`,
        ownerTtlMs,
      });
      const store = new MemoryStore();
      Object.defineProperty(store, "events", { value: events });
      const dataDir = `${root}/engine-${i}`;
      const engine = await createEngine({
        ...FAST,
        dataDir,
        store,
        ...options,
        events: { backoffMs: 100, maxBackoffMs: 400, pollMs: 250, ...options.events },
      });
      engines.push({ engine, events, dataDir, stopped: false });
    }
  } catch (error) {
    await dispose();
    throw error;
  }
  return {
    nats,
    engines,
    async release(manifest, files) {
      const dir = await writeBundle(`${root}/src`, manifest, files);
      for (const e of engines) if (!e.stopped) await e.engine.registry.release({ path: dir });
    },
    async crash(index) {
      const e = engines[index]!;
      await e.events.close();
      e.stopped = true;
      await e.engine.close();
    },
    [Symbol.asyncDispose]: dispose,
  };
}
