/**
 * Density: many released bundles on one engine, idle and scaled to zero (issue 14).
 *
 * One engine (`main.ts` with the run task's flags, worker tier) serves the hello bundle warm; then
 * the harness releases `count` distinct copies of it (each its own id and service, `minWorkers: 0`
 * and a short `idleMs`, so the autoscaler takes each to zero instances once it is idle) and reads,
 * each against the same engine with the hello bundle alone, in the same run:
 *
 * - the engine's memory (RSS and PSS of its process tree) and its idle CPU;
 * - the time of each release (admin API → ACTIVE);
 * - the first call to a random scaled-to-zero bundle, beside a call to the warm hello bundle;
 * - `GET /admin/status` and `GET /metrics`: time and size;
 * - restore after a restart: engine spawn → listening (the engine restores before it listens) and
 *   → every bundle ACTIVE, against an engine with an empty registry.
 *
 * The route decision's cost with many bundles is a `deno bench` micro-benchmark
 * (`bench/density_bench.ts`).
 *
 * @module
 */
import { type ProcessGroup, settledMemory, type TreeMemory } from "./procs.ts";
import { type BundlehostServer, HELLO_BUNDLE, PATHS, probe, startEngine } from "./targets.ts";
import type { Shape } from "./loadgen.ts";

const RPC: Shape = { name: "rpc", method: "POST", body: "{}" };
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Time and size of one endpoint's reply. */
export interface EndpointCost {
  /** Reply time per sample (request → last byte), ms. */
  ms: number[];
  /** Reply size, bytes (the last sample's). */
  bytes: number;
}

/** Everything the density section measures. */
export interface Density {
  /** Bundles released besides the hello bundle. */
  count: number;
  /** Isolation tier of every bundle. */
  tier: "worker";
  /** Quiet before each memory reading, ms. */
  settleMs?: number;
  /** The engine's tree with the hello bundle alone. */
  memoryOne: TreeMemory;
  /** The same with `count` more released and scaled to zero. */
  memoryAll: TreeMemory;
  /** Engine CPU while idle, % of one core, with the hello bundle alone. */
  idleCpuOne: number;
  /** The same with every bundle released. */
  idleCpuAll: number;
  /** Admin release → ACTIVE, per release, ms. */
  releaseMs: number[];
  /** First call to a scaled-to-zero bundle (request → reply), ms. */
  firstCallMs: number[];
  /** A call to the warm hello bundle, interleaved with the first calls, ms. */
  warmCallMs: number[];
  /** `GET /admin/status` with the hello bundle alone, and with every bundle. */
  status: { one: EndpointCost; all: EndpointCost };
  /** `GET /metrics`, the same. */
  metrics: { one: EndpointCost; all: EndpointCost };
  /** Engine spawn → listening with an empty registry, per round, ms. */
  startEmptyMs: number[];
  /** Engine spawn → listening with every release to restore, per round, ms. */
  restoreListeningMs: number[];
  /** Engine spawn → every bundle ACTIVE in `/admin/status`, per round, ms. */
  restoreActiveMs: number[];
  /** The restarted engine's tree once every release is restored and idle (last round). */
  memoryRestored?: TreeMemory;
}

/** What {@linkcode measureDensity} needs. */
export interface DensityOptions {
  /** Where every process is registered. */
  group: ProcessGroup;
  /** Scratch folder. */
  tmp: string;
  /** Bundles to release besides the hello bundle. */
  count: number;
  /** First calls sampled (each to a different bundle). */
  firstCalls: number;
  /** Restart rounds (empty registry and full registry, alternating). */
  restarts: number;
  /**
   * Pause before a memory reading, ms. A full run waits {@linkcode DENSITY_SETTLE_MS}: the memory
   * of ended sandboxes goes back to the system on the runtime's own timers.
   */
  settleMs: number;
  /** Progress lines. */
  log(line: string): void;
}

/**
 * Quiet before a density memory reading in a full run, ms. Memory of ended sandboxes goes back to
 * the system on the runtime's own timers: V8 keeps an ended isolate's pages pooled for 8 s
 * (`--memory-pool-timeout`), and the runtime's idle I/O threads end after 10 s. Measured second
 * by second after 1000 bundles reached zero instances: 362 MiB for 6 s, 328 MiB once the I/O
 * threads ended, 156 MiB from 11 s on, unchanged to 24 s.
 */
export const DENSITY_SETTLE_MS = 15_000;

/** Idle time before a density bundle scales to zero, ms. */
const IDLE_MS = 1_000;

/** The service name of density bundle `i`. */
function serviceName(i: number): string {
  return `Dense${String(i).padStart(4, "0")}`;
}

/** The bundle id of density bundle `i`. */
function bundleId(i: number): string {
  return `dense-${String(i).padStart(4, "0")}`;
}

/** Writes `count` copies of the hello bundle, each its own id and service, scale to zero. */
async function writeCopies(dir: string, count: number): Promise<string[]> {
  const source = await Deno.readTextFile(`${HELLO_BUNDLE}/mod.ts`);
  const manifest = JSON.parse(await Deno.readTextFile(`${HELLO_BUNDLE}/bundle.json`));
  const folders: string[] = [];
  for (let i = 1; i <= count; i++) {
    const folder = `${dir}/${bundleId(i)}`;
    await Deno.mkdir(folder, { recursive: true });
    await Deno.writeTextFile(`${folder}/mod.ts`, source.replaceAll("HelloBench", serviceName(i)));
    await Deno.writeTextFile(
      `${folder}/bundle.json`,
      JSON.stringify({
        ...manifest,
        id: bundleId(i),
        description: "A density copy of the load harness's hello bundle",
        services: { [serviceName(i)]: "1.0.0" },
        scaling: { minWorkers: 0, idleMs: IDLE_MS },
      }),
    );
    folders.push(folder);
  }
  return folders;
}

/** CPU ticks (user + system) of one process (read with `cat`: Deno wants --allow-all for /proc). */
async function cpuTicks(pid: number): Promise<number> {
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`], stdout: "piped" })
    .output();
  const stat = new TextDecoder().decode(out.stdout);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** The process's CPU over `ms` of quiet, % of one core (Linux clock ticks are 1/100 s). */
async function idleCpu(pid: number, ms: number): Promise<number> {
  const before = await cpuTicks(pid);
  const started = performance.now();
  await pause(ms);
  const ticks = await cpuTicks(pid) - before;
  return ticks * 10 / (performance.now() - started) * 100;
}

/** Times `samples` GETs of `path`. */
async function endpointCost(
  server: BundlehostServer,
  path: string,
  samples: number,
): Promise<EndpointCost> {
  const cost: EndpointCost = { ms: [], bytes: 0 };
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    const response = path.startsWith("/admin/")
      ? await server.admin("GET", path)
      : await fetch(`${server.url}${path}`);
    const body = await response.arrayBuffer();
    cost.ms.push(performance.now() - started);
    if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
    cost.bytes = body.byteLength;
  }
  return cost;
}

interface RevisionView {
  state: string;
  scaling?: { serving: number; starting: number; desired: number };
}

/** Bundles per state, and how many still hold an instance (serving or starting). */
async function census(
  server: BundlehostServer,
): Promise<{ bundles: number; active: number; withInstances: number }> {
  const response = await server.admin("GET", "/admin/status");
  const status = await response.json() as {
    bundles: { state: string; revisions: RevisionView[] }[];
  };
  let active = 0;
  let withInstances = 0;
  for (const bundle of status.bundles) {
    if (bundle.state === "ACTIVE") active++;
    const scaling = bundle.revisions.map((r) => r.scaling);
    if (scaling.some((s) => s !== undefined && s.serving + s.starting > 0)) withInstances++;
  }
  return { bundles: status.bundles.length, active, withInstances };
}

/** Waits until only the hello bundle holds an instance. */
async function waitScaledToZero(server: BundlehostServer, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (true) {
    const c = await census(server);
    if (c.withInstances <= 1) return;
    if (performance.now() > deadline) {
      throw new Error(
        `${c.withInstances - 1} bundles still hold an instance after ${timeoutMs} ms`,
      );
    }
    await pause(250);
  }
}

/** Time of one `/rpc` call, checked. */
async function timedCall(server: BundlehostServer, service: string): Promise<number> {
  const started = performance.now();
  await probe(`${server.url}/rpc/${service}/hello`, RPC);
  return performance.now() - started;
}

/** Picks `n` distinct numbers from 1..`count`. */
function sample(count: number, n: number): number[] {
  const all = Array.from({ length: count }, (_, i) => i + 1);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, Math.min(n, count));
}

/** Starts the engine on `workDir` (fresh or holding a registry) with the harness's settings. */
function start(group: ProcessGroup, workDir: string, readDir: string, name: string) {
  return startEngine(group, workDir, readDir, {
    isolation: "worker",
    name,
    sharedServices: ["HelloBench"],
    listenTimeoutMs: 300_000,
  });
}

/** Spawn → listening, then → `expected` bundles ACTIVE; the engine is stopped afterwards. */
async function timedStart(
  group: ProcessGroup,
  workDir: string,
  readDir: string,
  expected: number,
  settleMs: number,
): Promise<{ listeningMs: number; activeMs: number; memory: TreeMemory }> {
  const started = performance.now();
  const server = await start(group, workDir, readDir, "bundlehost (density restart)");
  try {
    const listeningMs = performance.now() - started;
    while ((await census(server)).active < expected) await pause(5);
    const activeMs = performance.now() - started;
    await waitScaledToZero(server, 60_000 + expected * 100);
    return { listeningMs, activeMs, memory: await settledMemory(server.pid, settleMs) };
  } finally {
    await server.stop();
  }
}

/**
 * Measures density: see the module doc.
 *
 * @param options Processes, folder, sizes, progress.
 * @returns The figures.
 */
export async function measureDensity(options: DensityOptions): Promise<Density> {
  const { group, tmp, count, log } = options;
  const src = `${tmp}/density-bundles`;
  const workDir = `${tmp}/density-engine`;
  const folders = await writeCopies(src, count);
  const server = await start(group, workDir, src, "bundlehost (density)");
  let result: Omit<Density, "startEmptyMs" | "restoreListeningMs" | "restoreActiveMs">;
  try {
    await server.release(HELLO_BUNDLE);
    await probe(`${server.url}${PATHS.rpc}`, RPC);
    const memoryOne = await settledMemory(server.pid, options.settleMs);
    const idleCpuOne = await idleCpu(server.pid, 2_000);
    const statusOne = await endpointCost(server, "/admin/status", 7);
    const metricsOne = await endpointCost(server, "/metrics", 7);

    const releaseMs: number[] = [];
    for (const [i, folder] of folders.entries()) {
      const started = performance.now();
      await server.release(folder);
      releaseMs.push(performance.now() - started);
      if ((i + 1) % 100 === 0) log(`  released ${i + 1}/${count}`);
    }
    await waitScaledToZero(server, 60_000 + count * 100);
    const memoryAll = await settledMemory(server.pid, options.settleMs);
    const idleCpuAll = await idleCpu(server.pid, 2_000);
    const statusAll = await endpointCost(server, "/admin/status", 7);
    const metricsAll = await endpointCost(server, "/metrics", 7);

    const firstCallMs: number[] = [];
    const warmCallMs: number[] = [];
    for (const i of sample(count, options.firstCalls)) {
      warmCallMs.push(await timedCall(server, "HelloBench"));
      firstCallMs.push(await timedCall(server, serviceName(i)));
    }
    result = {
      count,
      tier: "worker",
      settleMs: options.settleMs,
      memoryOne,
      memoryAll,
      idleCpuOne,
      idleCpuAll,
      releaseMs,
      firstCallMs,
      warmCallMs,
      status: { one: statusOne, all: statusAll },
      metrics: { one: metricsOne, all: metricsAll },
    };
  } finally {
    await server.stop();
  }

  const startEmptyMs: number[] = [];
  const restoreListeningMs: number[] = [];
  const restoreActiveMs: number[] = [];
  let memoryRestored: TreeMemory | undefined;
  for (let round = 0; round < options.restarts; round++) {
    // Alternate which goes first, so that neither always runs on a cooler machine.
    const order = round % 2 === 0 ? ["empty", "full"] : ["full", "empty"];
    for (const which of order) {
      if (which === "empty") {
        const fresh = `${tmp}/density-empty-${round}`;
        startEmptyMs.push((await timedStart(group, fresh, src, 0, 0)).listeningMs);
      } else {
        const t = await timedStart(group, workDir, src, count + 1, options.settleMs);
        restoreListeningMs.push(t.listeningMs);
        restoreActiveMs.push(t.activeMs);
        memoryRestored = t.memory;
      }
    }
  }
  return {
    ...result,
    startEmptyMs,
    restoreListeningMs,
    restoreActiveMs,
    ...(memoryRestored ? { memoryRestored } : {}),
  };
}

/**
 * The route decision with the density bundles ÷ with one, from `deno bench --json` of
 * `bench/density_bench.ts` (a micro-benchmark: no sandbox, no HTTP).
 *
 * @param root Repository root.
 * @param runs Runs of the micro-benchmark; the median ratio is reported.
 * @returns The median over the runs of the ratio of the mean times.
 * @throws {Error} When the benchmark fails or lacks a case.
 */
export async function routeDecisionRatio(root: string, runs = 3): Promise<number> {
  // One deno bench run reads anywhere from 0.8× to 1.3× on a busy 2-core machine: the median of
  // a few runs, each a ratio of two cases measured in the same process.
  const ratios: number[] = [];
  for (let i = 0; i < runs; i++) ratios.push(await routeDecisionOnce(root));
  ratios.sort((a, b) => a - b);
  return ratios[Math.floor(ratios.length / 2)]!;
}

/** One `deno bench` run's ratio. */
async function routeDecisionOnce(root: string): Promise<number> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "bench",
      "--json",
      "--v8-flags=--enable-experimental-regexp-engine",
      "--allow-read",
      "--allow-env",
      `${root}/bench/density_bench.ts`,
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`deno bench failed: ${new TextDecoder().decode(output.stderr).slice(0, 300)}`);
  }
  const report = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    benches: { name: string; results: { ok?: { avg: number } }[] }[];
  };
  const avg = (suffix: string) => {
    const bench = report.benches.find((b) => b.name.endsWith(suffix));
    const value = bench?.results[0]?.ok?.avg;
    if (value === undefined) throw new Error(`deno bench has no result for "${suffix}"`);
    return value;
  };
  // bench/density_bench.ts names its cases "…, 1 bundle" and "…, 1000 bundles".
  return avg(", 1000 bundles") / avg(", 1 bundle");
}
