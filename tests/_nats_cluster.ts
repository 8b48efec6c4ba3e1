/**
 * A real NATS server cluster with JetStream on loopback, for the cluster-mode tests: `nodes`
 * `nats-server` processes (the Debian package), each with its own store folder, client port,
 * cluster port and monitoring port, routed to each other. Nodes can be killed with SIGKILL and
 * started again on the same ports and store, as an operator's machine would fail and come back.
 *
 * `natsAvailable()` says whether the tests run: always where `nats-server` is installed, and
 * wherever `BUNDLEHOST_REQUIRE_NATS=1` (set by `.ci/run`, which installs it) so CI never skips them.
 *
 * @module
 */

/** One node of a test cluster. */
export interface NatsNode {
  /** Node name (`n1`, `n2`, …). */
  name: string;
  /** Client URL, `nats://127.0.0.1:<port>`. */
  url: string;
  /** Monitoring port (`/healthz`, `/jsz`). */
  monitorPort: number;
  /** Whether the process is running. */
  readonly running: boolean;
}

/** A running test cluster; `await using` stops every node and removes the store folders. */
export interface NatsCluster extends AsyncDisposable {
  /** The nodes, in start order. */
  nodes: NatsNode[];
  /** Every client URL, comma-separated, the form `BUNDLEHOST_CLUSTER` takes. */
  urls: string;
  /** SIGKILLs node `index` (0-based) and waits for its process to end. */
  kill(index: number): Promise<void>;
  /**
   * SIGSTOPs node `index`: it keeps its connections but answers nothing, as a hung machine
   * would (requests to it time out with their outcome unknown); {@linkcode kill} ends it.
   */
  freeze(index: number): void;
  /** Starts node `index` again on its ports and store, and waits until it is healthy. */
  restart(index: number): Promise<void>;
  /** Waits until every running node reports JetStream healthy. */
  ready(): Promise<void>;
}

/**
 * Creates a replicated bucket or object store on a cluster that just reported ready, as the
 * engine does: its servers may still be electing a metadata leader or joining JetStream, so a
 * creation that times out or finds too few peers is tried again for up to 30 s (creating an
 * existing bucket with the same settings opens it). Any other error, or one that lasts, is thrown.
 */
export async function createWhilePlacing<T>(create: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await create();
    } catch (error) {
      const placing = (error as Error)?.name === "TimeoutError" ||
        /timeout|no suitable peers|insufficient resources|temporarily unavailable/i.test(
          String(error),
        );
      if (!placing || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** Whether `nats-server` can run here (or CI requires it, which then fails loudly). */
export function natsAvailable(): boolean {
  if (Deno.env.get("BUNDLEHOST_REQUIRE_NATS") === "1") return true;
  try {
    new Deno.Command("nats-server", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return true;
  } catch {
    return false;
  }
}

/** Three distinct free loopback ports per node, probed by binding and releasing them. */
function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

interface NodeState extends NatsNode {
  clusterPort: number;
  config: string;
  log: string;
  child?: Deno.ChildProcess;
  running: boolean;
}

async function healthy(node: NodeState, deadline: number): Promise<void> {
  const url = `http://127.0.0.1:${node.monitorPort}/healthz?js-enabled-only=true`;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      last = await response.text();
      if (response.ok) return;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const log = await Deno.readTextFile(node.log).catch(() => "");
  throw new Error(`nats-server ${node.name} not healthy: ${last}\n${log.slice(-2000)}`);
}

/** Waits until JetStream has a meta leader, so streams and buckets can be created. */
async function metaLeader(nodes: NodeState[], deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    for (const node of nodes.filter((n) => n.running)) {
      try {
        const response = await fetch(`http://127.0.0.1:${node.monitorPort}/jsz`);
        const body = await response.json() as { meta_cluster?: { leader?: string } };
        if (body.meta_cluster?.leader) return;
      } catch {
        // not up yet
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("NATS cluster elected no JetStream meta leader in time");
}

function spawn(node: NodeState): void {
  const log = Deno.openSync(node.log, { append: true, create: true });
  node.child = new Deno.Command("nats-server", {
    args: ["-c", node.config],
    stdout: "null",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  node.child.stderr.pipeTo(log.writable).catch(() => {});
  node.running = true;
}

/**
 * Starts a NATS cluster of `nodes` servers with JetStream on loopback.
 *
 * @param root Folder for the nodes' stores, configs and logs.
 */
export async function startNatsCluster(root: string, nodes = 3): Promise<NatsCluster> {
  const ports = freePorts(nodes * 3);
  const states: NodeState[] = [];
  for (let i = 0; i < nodes; i++) {
    const name = `n${i + 1}`;
    const dir = `${root}/${name}`;
    await Deno.mkdir(dir, { recursive: true });
    states.push({
      name,
      url: `nats://127.0.0.1:${ports[i * 3]}`,
      clusterPort: ports[i * 3 + 1]!,
      monitorPort: ports[i * 3 + 2]!,
      config: `${dir}.conf`,
      log: `${dir}.log`,
      running: false,
    });
  }
  const routes = states.map((s) => `nats-route://127.0.0.1:${s.clusterPort}`).join(", ");
  for (const s of states) {
    const clientPort = Number(new URL(s.url).port);
    await Deno.writeTextFile(
      s.config,
      [
        `server_name: ${s.name}`,
        `listen: 127.0.0.1:${clientPort}`,
        `http: 127.0.0.1:${s.monitorPort}`,
        `jetstream { store_dir: "${root}/${s.name}" }`,
        nodes > 1
          ? `cluster { name: bundlehost-test, listen: 127.0.0.1:${s.clusterPort}, routes: [${routes}] }`
          : "",
      ].join("\n"),
    );
  }
  for (const s of states) spawn(s);

  const ready = async () => {
    const deadline = Date.now() + 30_000;
    for (const s of states.filter((n) => n.running)) await healthy(s, deadline);
    await metaLeader(states, deadline);
  };
  const kill = async (index: number) => {
    const s = states[index];
    if (!s?.child || !s.running) return;
    s.child.kill("SIGKILL");
    await s.child.status;
    s.running = false;
  };
  try {
    await ready();
  } catch (error) {
    for (let i = 0; i < states.length; i++) await kill(i);
    throw error;
  }
  return {
    nodes: states,
    urls: states.map((s) => s.url).join(","),
    kill,
    freeze(index) {
      const s = states[index];
      if (s?.child && s.running) s.child.kill("SIGSTOP");
    },
    async restart(index) {
      const s = states[index];
      if (!s || s.running) return;
      spawn(s);
      await healthy(s, Date.now() + 30_000);
    },
    ready,
    async [Symbol.asyncDispose]() {
      for (let i = 0; i < states.length; i++) await kill(i);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}
