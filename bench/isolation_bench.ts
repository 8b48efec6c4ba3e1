/**
 * Cost of the two isolation tiers, side by side in one run: spawn-to-ready (new sandbox → bundle
 * imported → `ready`) and idle resident memory per instance. Run by `deno task bench` (as a script:
 * `deno bench` only imports it, which does nothing).
 *
 * How each figure is taken:
 * - spawn-to-ready: wall time from creating the {@linkcode Instance} to `start()` resolving, for
 *   `COUNT` instances started one after another (after one warm-up instance per tier).
 * - worker idle RSS: a worker lives in the engine process, so its cost is the growth of the
 *   engine's own RSS per extra idle worker (after a GC and a settle pause).
 * - process idle RSS: the child's own RSS as its heartbeat reply reports it
 *   (`Deno.memoryUsage().rss` inside the child); the engine-side growth is printed too.
 *
 * Every sandbox it starts is killed, and every child reaped, before it exits.
 *
 * @module
 */
import {
  Instance,
  type Transport,
  type TransportFactory,
} from "../engine/sandbox/host/instance.ts";
import { type ProcessTransport, processTransport } from "../engine/sandbox/host/process.ts";
import { workerTransport } from "../engine/sandbox/host/worker.ts";
import { noGrants, type ResolvedPermissions } from "../engine/manifest/permissions.ts";
import type { IsolationTier } from "../engine/sdk/types.ts";

const COUNT = 10;
const SETTLE_MS = 300;
const MIB = 1024 * 1024;

interface Sandbox {
  instance: Instance;
  transport: Transport;
}

interface TierResult {
  spawnMs: number[];
  rssBytes: number[];
  engineRssBytes: number[];
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function engineRss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage().rss;
}

async function spawn(
  tier: IsolationTier,
  factory: TransportFactory,
  entry: string,
  dataDir: string,
): Promise<Sandbox> {
  let transport: Transport | undefined;
  const instance = new Instance((sink) => (transport = factory(sink)), {
    tier,
    bundle: { id: "bench", version: "1.0.0", instanceId: crypto.randomUUID(), dataDir },
    entry,
  });
  await instance.start(Date.now() + 60_000);
  return { instance, transport: transport! };
}

async function end(sandboxes: Sandbox[]): Promise<void> {
  for (const { instance } of sandboxes) instance.kill("bench done");
  await Promise.all(
    sandboxes.map(({ transport }) => (transport as Partial<ProcessTransport>).ended),
  );
}

async function measure(
  tier: IsolationTier,
  factory: () => TransportFactory,
  entry: string,
  dataDir: string,
): Promise<TierResult> {
  const result: TierResult = { spawnMs: [], rssBytes: [], engineRssBytes: [] };
  const sandboxes: Sandbox[] = [];
  try {
    await end([await spawn(tier, factory(), entry, dataDir)]);
    await pause(SETTLE_MS);
    let rss = engineRss();
    for (let i = 0; i < COUNT; i++) {
      const started = performance.now();
      const sandbox = await spawn(tier, factory(), entry, dataDir);
      result.spawnMs.push(performance.now() - started);
      sandboxes.push(sandbox);
      await pause(SETTLE_MS);
      const now = engineRss();
      result.engineRssBytes.push(now - rss);
      rss = now;
      const memory = await sandbox.instance.ping(5_000);
      result.rssBytes.push(tier === "worker" ? result.engineRssBytes.at(-1)! : memory.rss);
    }
  } finally {
    await end(sandboxes);
  }
  return result;
}

async function main(): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-bench-" });
  try {
    const entryPath = `${root}/mod.ts`;
    await Deno.writeTextFile(
      entryPath,
      "export default { services: { Echo: { echo: (input) => input } } };\n",
    );
    const grants: ResolvedPermissions = { ...noGrants(), read: [entryPath] };
    const entry = new URL(`file://${entryPath}`).href;
    const worker = await measure(
      "worker",
      () => workerTransport({ name: "bench-worker", permissions: grants }),
      entry,
      root,
    );
    const process = await measure(
      "process",
      () => processTransport({ name: "bench-process", permissions: grants, memoryMb: 256 }),
      entry,
      root,
    );

    const ms = (v: number) => `${v.toFixed(1)} ms`.padStart(12);
    const mib = (v: number) => `${(v / MIB).toFixed(1)} MiB`.padStart(12);
    const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}×`.padStart(12);
    const spawnW = median(worker.spawnMs);
    const spawnP = median(process.spawnMs);
    const rssW = median(worker.rssBytes);
    const rssP = median(process.rssBytes);
    console.log(
      `Isolation tiers, Deno ${Deno.version.deno}, ${COUNT} idle instances each, medians\n`,
    );
    console.log(`${"tier".padEnd(16)}${"spawn-to-ready".padStart(16)}${"idle RSS".padStart(12)}`);
    console.log(`${"worker".padEnd(16)}${ms(spawnW).padStart(16)}${mib(rssW)}`);
    console.log(`${"process".padEnd(16)}${ms(spawnP).padStart(16)}${mib(rssP)}`);
    console.log(
      `${"process/worker".padEnd(16)}${ratio(spawnP, spawnW).padStart(16)}${ratio(rssP, rssW)}`,
    );
    console.log(
      `\nworker idle RSS: growth of the engine's RSS per idle worker (mean ${
        mib(worker.engineRssBytes.reduce((a, b) => a + b, 0) / COUNT).trim()
      })`,
    );
    console.log(
      `process idle RSS: the child's own RSS (it includes the child's watchdog thread); engine-side growth per child ${
        mib(median(process.engineRssBytes)).trim()
      }`,
    );
    console.log(
      `spawn-to-ready ranges: worker ${Math.min(...worker.spawnMs).toFixed(1)}–${
        Math.max(...worker.spawnMs).toFixed(1)
      } ms, process ${Math.min(...process.spawnMs).toFixed(1)}–${
        Math.max(...process.spawnMs).toFixed(1)
      } ms`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

if (import.meta.main) await main();
