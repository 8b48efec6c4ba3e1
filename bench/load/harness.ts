/**
 * The load harness (`deno task bench:load`, last step of `deno task bench`): where Bundlehost
 * stands against the physical limit and the best peer, on the same machine, in the same run.
 *
 * Servers, each started alone on loopback for its turn and stopped after it: (a) a bare
 * `Deno.serve` hello handler, (b) Bundlehost (`main.ts` with `deno task run`'s flags) serving the
 * same handler from a bundle in the worker tier and in the process tier, (c) workerd
 * (`npm:workerd`) serving it too. Each is driven with the same load generator, connections and
 * durations, in alternating rounds with a rotating order, through two request shapes: `POST /rpc`
 * with a JSON body and `GET /b/:id/`. Then cold start and idle memory per bundle.
 *
 * Prints the tables, writes `bench/results/<time>.json`, `bench/results/latest.json` and
 * BENCHMARKS.md (a quick run writes `bench/results/quick.json` only). Every process it starts is
 * stopped when it ends, fails or is interrupted.
 *
 * Options (flag or environment): `--quick` [BENCH_QUICK=1], `--rounds N` [BENCH_ROUNDS],
 * `--duration S` [BENCH_DURATION], `--warmup S` [BENCH_WARMUP], `--connections N`
 * [BENCH_CONNECTIONS], `--loadgen auto|wrk|autocannon` [BENCH_LOADGEN].
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ENGINE_VERSION } from "../../engine/base/version.ts";
import { type ColdStarts, type IdleMemories, measureFootprint } from "./footprint.ts";
import { type Density, DENSITY_SETTLE_MS, measureDensity, routeDecisionRatio } from "./density.ts";
import { DENSITY_HEAD, densityCells } from "./density_report.ts";
import {
  type LoadGenerator,
  loadGenerator,
  type LoadGeneratorChoice,
  npmBin,
  type Shape,
  WORKERD_VERSION,
} from "./loadgen.ts";
import { firstLine, gitCommit, loadAverage, type Machine, machine } from "./machine.ts";
import { type ProcessGroup, withProcessGroup } from "./procs.ts";
import { type RunRecord, type Settings, writeRecord } from "./record.ts";
import {
  checkTargets,
  COLD_HEAD,
  coldCells,
  MEMORY_HEAD,
  memoryCells,
  type Row,
  type ServerName,
  summarise,
  targetLines,
  textTable,
  THROUGHPUT_HEAD,
  throughputCells,
} from "./report.ts";
import {
  freePort,
  PATHS,
  probe,
  ROOT,
  type Server,
  startBare,
  startBundlehost,
  startWorkerd,
  WORKERD_CONFIG,
} from "./targets.ts";

const RPC: Shape = { name: "rpc", method: "POST", body: "{}" };
const HTTP: Shape = { name: "http", method: "GET" };

function settings(): Settings & { loadgen: LoadGeneratorChoice } {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      rounds: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string" },
      loadgen: { type: "string" },
    },
    strict: true,
  });
  const env = (name: string) => Deno.env.get(name);
  const quick = values.quick === true || ["1", "true"].includes(env("BENCH_QUICK") ?? "");
  const int = (flag: string | undefined, name: string, fallback: number, max: number) => {
    const raw = flag ?? env(name);
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < 1 || value > max) {
      throw new RangeError(`${name} must be an integer from 1 to ${max}, got "${raw}"`);
    }
    return value;
  };
  const loadgen = values.loadgen ?? env("BENCH_LOADGEN") ?? "auto";
  if (loadgen !== "auto" && loadgen !== "wrk" && loadgen !== "autocannon") {
    throw new RangeError(`BENCH_LOADGEN must be auto, wrk or autocannon, got "${loadgen}"`);
  }
  return {
    quick,
    rounds: int(values.rounds, "BENCH_ROUNDS", quick ? 2 : 5, 50),
    durationS: int(values.duration, "BENCH_DURATION", quick ? 2 : 5, 120),
    warmupS: int(values.warmup, "BENCH_WARMUP", quick ? 1 : 2, 60),
    connections: int(values.connections, "BENCH_CONNECTIONS", 64, 1024),
    coldSamples: quick ? 2 : 7,
    idleUnits: quick ? 3 : 10,
    settleMs: quick ? 500 : 2_000,
    densityBundles: quick ? 100 : 1000,
    loadgen,
  };
}

function rowsFor(servers: ServerName[]): Row[] {
  const label: Record<ServerName, string> = {
    bare: "(a) bare Deno.serve",
    "worker-hop": "(a′) Deno.serve + 1 worker hop",
    "bundlehost-worker": "(b) Bundlehost, worker tier",
    "bundlehost-process": "(b) Bundlehost, process tier",
    workerd: "(c) workerd",
  };
  const measures = (server: ServerName, shape: Shape): string => {
    const verb = shape.name === "rpc" ? `POST ${PATHS.rpc} with body {}` : `GET ${PATHS.http}`;
    if (server === "bare" || server === "workerd") {
      return `${verb}: the handler ${
        shape.name === "rpc"
          ? 'parses the JSON body and answers {"result":"hello"}'
          : "answers hello"
      } in the server's own isolate (path ignored)`;
    }
    if (server === "worker-hop") {
      return `${verb}: as (a), but the answer comes from one Web Worker over postMessage (no ` +
        "engine): the floor of any design with a worker hop per request";
    }
    const tier = server === "bundlehost-worker" ? "a Web Worker sandbox" : "a child process";
    return shape.name === "rpc"
      ? `${verb}: service plane → broker → HelloBench.hello in ${tier} → {"result":"hello"}`
      : `${verb}: service plane → the bundle's fetch handler in ${tier} → hello`;
  };
  const rows: Row[] = [];
  for (const shape of [RPC, HTTP]) {
    for (const server of servers) {
      const request = shape.name === "rpc" ? "POST /rpc" : "GET /b/:id/";
      rows.push({
        id: `${server}/${shape.name}`,
        server,
        shape,
        label: `${label[server]} · ${request}`,
        measures: measures(server, shape),
        rounds: [],
      });
    }
  }
  return rows;
}

function log(line: string): void {
  console.log(line);
}

/** The outside tools of a run. */
interface Tools {
  generator: LoadGenerator;
  workerd?: string;
  workerdVersion?: string;
}

type Fail = (what: string, error: unknown) => void;

async function main(): Promise<void> {
  const { loadgen, ...s } = settings();
  await withProcessGroup("bundlehost-load-", (group, tmp) => run(loadgen, s, group, tmp));
}

async function run(
  choice: LoadGeneratorChoice,
  s: Settings,
  group: ProcessGroup,
  tmp: string,
): Promise<void> {
  const startedAt = new Date().toISOString();
  const facts = await machine();
  const errors: string[] = [];
  const fail: Fail = (what, error) => {
    const message = `${what}: ${(error as Error).message ?? error}`.split("\n")[0]!;
    errors.push(message);
    console.error(`  ! ${message}`);
  };
  log(
    `Bundlehost load harness (${s.quick ? "quick" : "full"}): ${s.rounds} rounds × ${s.durationS}` +
      ` s after ${s.warmupS} s warm-up, ${s.connections} connections`,
  );
  const tools: Tools = { generator: await loadGenerator(group, choice, log) };
  log(`load generator: ${tools.generator.name} ${tools.generator.version}`);
  try {
    tools.workerd = await npmBin(`workerd@${WORKERD_VERSION}`, "workerd");
    const version = await firstLine(tools.workerd, ["--version"]);
    if (version) tools.workerdVersion = version.replace(/^workerd\s+/, "");
  } catch (error) {
    fail("workerd", error);
  }
  log(`workerd: ${tools.workerdVersion ?? "unavailable"}`);

  const rows = await measureThroughput(group, tmp, tools, s, fail);
  if (group.closed) return; // Interrupted: the signal handler is cleaning up.
  log("\ncold start and idle memory");
  const footprint = await measureFootprint({ group, tmp, fail, ...tools, ...s });
  if (group.closed) return; // Interrupted: write nothing half-measured.
  log(`\ndensity: ${s.densityBundles} bundles${s.quick ? " (quick run: 1000 in a full run)" : ""}`);
  let density: Density | undefined;
  try {
    density = await measureDensity({
      group,
      tmp,
      count: s.densityBundles,
      firstCalls: s.quick ? 20 : 50,
      restarts: s.quick ? 1 : 2,
      settleMs: s.quick ? s.settleMs : DENSITY_SETTLE_MS,
      log,
    });
  } catch (error) {
    fail("density", error);
  }
  if (group.closed) return;
  let routeRatio: number | undefined;
  try {
    routeRatio = await routeDecisionRatio(ROOT);
  } catch (error) {
    fail("density route decision", error);
  }
  facts.loadEnd = loadAverage();
  await finish({
    startedAt,
    facts,
    tools,
    s,
    rows,
    errors,
    ...footprint,
    ...(density ? { density } : {}),
    ...(routeRatio === undefined ? {} : { routeRatio }),
  });
}

/** Alternating rounds: every server alone for its turn, both request shapes, then stopped. */
async function measureThroughput(
  group: ProcessGroup,
  tmp: string,
  tools: Tools,
  s: Settings,
  fail: Fail,
): Promise<Row[]> {
  const servers: ServerName[] = ["bare", "worker-hop", "bundlehost-worker", "bundlehost-process"];
  if (tools.workerd) servers.push("workerd");
  const rows = rowsFor(servers);
  let serial = 0;
  const start = async (server: ServerName): Promise<Server> => {
    if (server === "bare") return await startBare(group);
    if (server === "worker-hop") return await startBare(group, undefined, true);
    if (server === "workerd") {
      return await startWorkerd(group, tools.workerd!, WORKERD_CONFIG, freePort());
    }
    const tier = server === "bundlehost-worker" ? "worker" : "process";
    return await startBundlehost(group, tier, `${tmp}/engine-${++serial}`, tmp);
  };
  for (let round = 0; round < s.rounds; round++) {
    // Rotate the order so that no server always runs first (or right after the same one).
    const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
    for (const name of order) {
      if (group.closed) return rows;
      let server: Server | undefined;
      try {
        server = await start(name);
        for (const shape of round % 2 === 0 ? [RPC, HTTP] : [HTTP, RPC]) {
          const row = rows.find((r) => r.id === `${name}/${shape.name}`)!;
          const url = `${server.url}${PATHS[shape.name]}`;
          try {
            await probe(url, shape);
            await tools.generator.run(url, shape, s.warmupS, s.connections);
            const result = await tools.generator.run(url, shape, s.durationS, s.connections);
            row.rounds[round] = result;
            const failed = result.non2xx + result.errors;
            log(
              `round ${round + 1}/${s.rounds}  ${row.label.padEnd(46)} ${
                result.rps.toFixed(0).padStart(7)
              } req/s  p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms` +
                (failed > 0 ? `  (${result.non2xx} non-2xx, ${result.errors} errors)` : ""),
            );
          } catch (error) {
            fail(`round ${round + 1} ${row.id}`, error);
          }
        }
      } catch (error) {
        fail(`round ${round + 1} ${name}`, error);
      } finally {
        await server?.stop();
      }
    }
  }
  return rows;
}

/** Prints the tables and writes the record, BENCHMARKS.md too for a full run. */
async function finish(run: {
  startedAt: string;
  facts: Machine;
  tools: Tools;
  s: Settings;
  rows: Row[];
  errors: string[];
  coldStart: ColdStarts;
  idleMemory: IdleMemories;
  density?: Density;
  routeRatio?: number;
}): Promise<void> {
  const { facts, tools, s, rows, coldStart, idleMemory, density, routeRatio } = run;
  const summaries = summarise(rows);
  const targets = checkTargets(summaries, {
    coldStart,
    idleMemory,
    ...(density ? { density } : {}),
    ...(routeRatio === undefined ? {} : { routeRatio }),
  });
  log(`\nThroughput and latency: medians of ${s.rounds} rounds; ratios paired per round\n`);
  log(textTable(THROUGHPUT_HEAD, throughputCells(rows, summaries)));
  log(`\nTargets (reported, never asserted):\n${targetLines(targets).join("\n")}`);
  log(`\nCold start\n\n${textTable(COLD_HEAD, coldCells(coldStart))}`);
  log(`\nIdle memory\n\n${textTable(MEMORY_HEAD, memoryCells(idleMemory))}`);
  if (density) log(`\nDensity\n\n${textTable(DENSITY_HEAD, densityCells(density))}`);
  log(`\nload average at start ${facts.loadStart.join(" ")}, at end ${facts.loadEnd.join(" ")}`);

  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)).tasks ?? {};
  const harnessTask = tasks["bench:load"];
  const args = Deno.args.length > 0 ? ` ${Deno.args.join(" ")}` : "";
  const envKnobs = Object.entries(Deno.env.toObject())
    .filter(([k]) => k.startsWith("BENCH_")).map(([k, v]) => `${k}=${v} `).join("");
  const commit = await gitCommit(ROOT);
  const record: RunRecord = {
    schema: 1,
    startedAt: run.startedAt,
    finishedAt: new Date().toISOString(),
    command: `${envKnobs}deno task bench:load${args}`,
    ...(typeof harnessTask === "string" ? { runs: `${harnessTask}${args}` } : {}),
    ...(commit ? { commit } : {}),
    machine: facts,
    versions: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      bundlehost: ENGINE_VERSION,
      ...(tools.workerdVersion ? { workerd: tools.workerdVersion } : {}),
      workerdNpm: WORKERD_VERSION,
      loadGenerator: {
        name: tools.generator.name,
        version: tools.generator.version,
        latencyResolution: tools.generator.resolution,
      },
    },
    settings: s,
    rows: rows.map(({ shape, ...row }) => ({
      ...row,
      method: shape.method,
      path: PATHS[shape.name],
      rounds: Array.from({ length: s.rounds }, (_, i) => row.rounds[i]),
    })),
    summaries,
    targets,
    coldStart,
    idleMemory,
    ...(density ? { density } : {}),
    ...(routeRatio === undefined ? {} : { routeRatio }),
    errors: run.errors,
  };
  const files = await writeRecord(ROOT, record, rows);
  // The record is checked in: keep it as deno fmt wants it.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", ...files], cwd: ROOT })
    .output();
  log(`\nwrote ${files.map((f) => f.slice(ROOT.length + 1)).join(", ")}`);
  if (run.errors.length > 0) {
    log(`${run.errors.length} errors during the run (listed in the record)`);
  }
}

if (import.meta.main) await main();
