/**
 * The soak benchmark (`deno task bench:soak`, part of `deno task bench`): does the engine hold a
 * steady load while a hostile bundle misbehaves and releases and rollbacks happen?
 *
 * 1. Starts the real engine (`main.ts` with `deno task run`'s flags) and releases two well-behaved
 *    bundles (one per tier) and the hostile bundle (`hostile_bundle/`, process tier).
 * 2. Phase 1: drives each good bundle alone, closed loop, with the load harness's generator (wrk,
 *    or autocannon) and takes the even mix's maximum /rpc rate.
 * 3. Control: that fixed rate for `--control` seconds with no hostile calls and no releases.
 * 4. Phase 2: a fixed rate of `--rate-fraction` × that maximum for `--seconds`, split over the two
 *    bundles, from an open-loop generator in a Worker (every latency and error recorded); at the
 *    same time the hostile driver calls the hostile bundle a few times a second, one misbehaviour
 *    per slot in rotation; the release driver releases a new version of a good bundle every
 *    `--release-every` seconds and rolls it back half-way; the sampler reads the engine's RSS, fds
 *    and children's RSS from `/proc` every second.
 * 5. Prints a short table; writes `bench/results/soak-<time>.json`, `soak-latest.json` and the
 *    "Soak" section of BENCHMARKS.md (a run shorter than 60 s writes `soak-quick.json` only).
 *
 * Errors of the engine are figures, not failures of the benchmark: it runs to the end and reports.
 * Every process it starts is stopped when it ends, fails or is interrupted.
 *
 * Options (flag or environment): `--seconds` [SOAK_SECONDS] (60), `--rate-fraction`
 * [SOAK_RATE_FRACTION] (0.8), `--rate` [SOAK_RATE] (a fixed rate: skips phase 1),
 * `--control` [SOAK_CONTROL] (15 s; 0: none), `--release-every` [SOAK_RELEASE_EVERY] (5 s),
 * `--hostile-rate` [SOAK_HOSTILE_RATE] (4 calls/s),
 * `--loadgen auto|wrk|autocannon` [BENCH_LOADGEN].
 *
 * @module
 */
import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { ENGINE_VERSION } from "../../engine/base/version.ts";
import { type LoadGenerator, loadGenerator, type LoadGeneratorChoice } from "../load/loadgen.ts";
import { gitCommit, loadAverage, type Machine, machine } from "../load/machine.ts";
import { type ProcessGroup, withProcessGroup } from "../load/procs.ts";
import { type BundlehostServer, ROOT, startEngine } from "../load/targets.ts";
import { GOOD_BUNDLES, writeGoodBundle, writeHostileBundle } from "./bundles.ts";
import { BEHAVIOURS, driveHostile, type HostileRun } from "./hostile_driver.ts";
import { type OpenLoopResult, startOpenLoop } from "./open_loop.ts";
import { type AdminOp, driveReleases } from "./release_driver.ts";
import {
  type MaxRate,
  type SoakRecord,
  type SoakSettings,
  textReport,
  writeSoak,
} from "./report.ts";
import { type ResourceSample, sampleEngine, startSampler } from "./sampler.ts";
import { bySlot, perSecond, summariseResources, summariseTraffic } from "./summary.ts";

const FULL_SECONDS = 60;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => console.log(line);

function settings(): SoakSettings & { loadgen: LoadGeneratorChoice; rate?: number } {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string" },
      "rate-fraction": { type: "string" },
      rate: { type: "string" },
      "release-every": { type: "string" },
      "hostile-rate": { type: "string" },
      loadgen: { type: "string" },
      control: { type: "string" },
    },
    strict: true,
  });
  const num = (
    flag: string | undefined,
    name: string,
    fallback: number,
    min: number,
    max: number,
  ) => {
    const raw = flag ?? Deno.env.get(name);
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new RangeError(`${name} must be a number from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };
  const loadgen = values.loadgen ?? Deno.env.get("BENCH_LOADGEN") ?? "auto";
  if (loadgen !== "auto" && loadgen !== "wrk" && loadgen !== "autocannon") {
    throw new RangeError(`BENCH_LOADGEN must be auto, wrk or autocannon, got "${loadgen}"`);
  }
  const rateRaw = values.rate ?? Deno.env.get("SOAK_RATE");
  return {
    seconds: num(values.seconds, "SOAK_SECONDS", FULL_SECONDS, 5, 3600),
    rateFraction: num(values["rate-fraction"], "SOAK_RATE_FRACTION", 0.8, 0.01, 2),
    ...(rateRaw === undefined ? {} : { rate: num(rateRaw, "SOAK_RATE", 0, 1, 1_000_000) }),
    maxProbeSeconds: 5,
    connections: 64,
    releaseEveryS: num(values["release-every"], "SOAK_RELEASE_EVERY", 5, 1, 600),
    hostileCallsPerS: num(values["hostile-rate"], "SOAK_HOSTILE_RATE", 4, 0.1, 100),
    hostileSlotS: 2.5,
    maxInFlight: 512,
    timeoutMs: 5_000,
    settleS: 3,
    controlS: num(values.control, "SOAK_CONTROL", 15, 0, 3600),
    loadgen,
  };
}

/** Phase 1: each good bundle alone, closed loop; the even mix's maximum is their harmonic mean. */
async function measureMax(
  server: BundlehostServer,
  generator: LoadGenerator,
  s: SoakSettings,
): Promise<MaxRate> {
  const perBundle: MaxRate["perBundle"] = [];
  for (const b of GOOD_BUNDLES) {
    const url = `${server.url}/rpc/${b.service}/echo`;
    const shape = { name: "rpc", method: "POST", body: "{}" } as const;
    await generator.run(url, shape, s.maxProbeSeconds, s.connections);
    const r = await generator.run(url, shape, s.maxProbeSeconds, s.connections);
    perBundle.push({
      id: b.id,
      rps: r.rps,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      failures: r.non2xx + r.errors,
    });
    log(`  ${b.id} (${b.isolation} tier): ${r.rps.toFixed(0)} req/s, p99 ${r.p99Ms.toFixed(2)} ms`);
  }
  const combinedRps = perBundle.length / perBundle.reduce((a, b) => a + 1 / b.rps, 0);
  return { perBundle, combinedRps };
}

/** With `--rate`: the same warm-up as phase 1 gives, without the measurement. */
async function warmUp(
  server: BundlehostServer,
  generator: LoadGenerator,
  s: SoakSettings,
): Promise<void> {
  for (const b of GOOD_BUNDLES) {
    const shape = { name: "rpc", method: "POST", body: "{}" } as const;
    await generator.run(
      `${server.url}/rpc/${b.service}/echo`,
      shape,
      s.maxProbeSeconds,
      s.connections,
    );
  }
}

async function releaseAll(server: BundlehostServer, dir: string): Promise<void> {
  for (const b of GOOD_BUNDLES) await server.release(await writeGoodBundle(dir, b, "1.0.0"));
  await server.release(await writeHostileBundle(dir));
  for (const b of GOOD_BUNDLES) {
    const response = await fetch(`${server.url}/rpc/${b.service}/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"n":1}',
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`${b.id} answered ${response.status} ${text}`);
  }
}

/** What phase 2 recorded, raw. */
interface Phase2 {
  result: OpenLoopResult;
  hostile?: HostileRun;
  adminOps: AdminOp[];
  samples: ResourceSample[];
  end: ResourceSample;
}

/**
 * Phase 2: the fixed-rate load, the hostile driver, the release driver and the sampler at once;
 * or (`calm`) the load and the sampler alone, the control.
 */
async function phase2(
  server: BundlehostServer,
  s: SoakSettings,
  run: { rate: number; seconds: number; calm: boolean },
  tmp: string,
): Promise<Phase2> {
  const sampler = startSampler(server.pid);
  const until = performance.now() + run.seconds * 1000;
  const targetRps = run.rate;
  const load = startOpenLoop({
    hostname: "127.0.0.1",
    port: Number(new URL(server.url).port),
    targets: GOOD_BUNDLES.map((b) => ({
      name: b.id,
      path: `/rpc/${b.service}/echo`,
      body: '{"n":1}',
    })),
    rate: targetRps,
    seconds: run.seconds,
    connections: s.connections,
    maxInFlight: s.maxInFlight,
    timeoutMs: s.timeoutMs,
  }, (due, ok, failed) => {
    const at = (due / targetRps).toFixed(0).padStart(3);
    log(`  ${at} s: ${due} due, ${ok} ok, ${failed} failed`);
  });
  const [result, hostile, adminOps] = await Promise.all([
    load.result,
    run.calm ? undefined : driveHostile(server.url, server.admin, until, {
      slotMs: s.hostileSlotS * 1000,
      callsPerSecond: s.hostileCallsPerS,
      maxInFlight: 16,
      timeoutMs: 15_000,
    }),
    run.calm
      ? []
      : driveReleases(server.admin, GOOD_BUNDLES, `${tmp}/versions`, s.releaseEveryS * 1000, until),
  ]);
  const samples = await sampler.stop();
  await sleep(s.settleS * 1000);
  const end = { ...(await sampleEngine(server.pid)), atS: (samples.at(-1)?.atS ?? 0) + s.settleS };
  return { result, hostile, adminOps, samples, end };
}

/** The record of a run, from phase 2's raw figures and what came before. */
async function recordOf(p: Phase2, run: {
  startedAt: string;
  facts: Machine;
  generator: string;
  s: SoakSettings;
  maxRate: MaxRate;
  targetRps: number;
  benchCpuCores: number;
  engineAlive: boolean;
  engineExit?: string;
  control?: SoakRecord["control"];
}): Promise<SoakRecord> {
  const { s, facts, control, engineExit } = run;
  const traffic = summariseTraffic(p.result, GOOD_BUNDLES.map((b) => b.id), s.seconds);
  const names = BEHAVIOURS.map((b) => b.name);
  return {
    schema: 1,
    startedAt: run.startedAt,
    finishedAt: new Date().toISOString(),
    command: `deno task bench:soak${Deno.args.length > 0 ? ` ${Deno.args.join(" ")}` : ""}`,
    ...(await taskOf("bench:soak")),
    ...(await commitOf()),
    machine: facts,
    versions: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      bundlehost: ENGINE_VERSION,
      loadGenerator: run.generator,
    },
    settings: s,
    maxRate: run.maxRate,
    targetRps: run.targetRps,
    bundles: GOOD_BUNDLES.map((b) => ({ ...b })),
    traffic,
    ...(control ? { control } : {}),
    generatorKeptUp: traffic.lag.p99 <= 10,
    perSecond: perSecond(p.result),
    resources: summariseResources(p.samples, p.end),
    samples: p.samples,
    hostile: p.hostile?.behaviours ?? [],
    goodBySlot: p.hostile
      ? bySlot(p.result, p.hostile.startEpochMs, s.hostileSlotS * 1000, names)
      : [],
    adminOps: p.adminOps,
    benchCpuCores: run.benchCpuCores,
    engineAlive: run.engineAlive,
    ...(engineExit ? { engineExit } : {}),
    errors: Object.entries(p.result.errorMessages).map(([m, n]) => `${n}× socket: ${m}`),
  };
}

async function soak(group: ProcessGroup, tmp: string): Promise<void> {
  const { loadgen, rate, ...s } = settings();
  const startedAt = new Date().toISOString();
  const facts = await machine();
  const generator = await loadGenerator(group, loadgen, log);
  log(
    `Bundlehost soak: ${s.seconds} s at ${rate ?? `${s.rateFraction} × max`} req/s; ` +
      `phase 1 with ${generator.name} ${generator.version}`,
  );
  // The operator trusts its own well-behaved bundles with the worker tier (those that ask for it);
  // the hostile one is untrusted and so runs in the process tier, as the default policy wants.
  const server = await startEngine(group, `${tmp}/engine`, tmp, {
    name: "bundlehost (soak)",
    trusted: GOOD_BUNDLES.filter((b) => b.isolation === "worker").map((b) => b.id),
  });
  await releaseAll(server, `${tmp}/bundles`);
  let maxRate: MaxRate = { perBundle: [], combinedRps: NaN };
  if (rate === undefined) {
    log("phase 1: closed-loop maximum");
    maxRate = await measureMax(server, generator, s);
  } else {
    log("warm-up (a fixed rate was given: no phase 1)");
    await warmUp(server, generator, s);
  }
  await sleep(2_000);
  const targetRps = rate ?? s.rateFraction * maxRate.combinedRps;
  if (!Number.isFinite(targetRps) || targetRps < 1) throw new Error("No usable maximum rate");
  let control: SoakRecord["control"];
  if (s.controlS > 0) {
    log(
      `control: ${targetRps.toFixed(0)} req/s for ${s.controlS} s, no hostile calls, no releases`,
    );
    const c = await phase2(server, s, { rate: targetRps, seconds: s.controlS, calm: true }, tmp);
    const traffic = summariseTraffic(c.result, GOOD_BUNDLES.map((b) => b.id), s.controlS);
    control = { seconds: s.controlS, traffic, perSecond: perSecond(c.result) };
  }
  log(`phase 2: ${targetRps.toFixed(0)} req/s for ${s.seconds} s with a hostile neighbour`);
  const cpuBefore = cpuUsage();
  const p = await phase2(server, s, { rate: targetRps, seconds: s.seconds, calm: false }, tmp);
  const cpu = cpuUsage(cpuBefore);
  const benchCpuCores = (cpu.user + cpu.system) / 1e6 / (s.seconds + s.settleS);
  const engineAlive = !server.process.exited();
  const engineExit = engineAlive ? undefined : JSON.stringify(await server.process.status);
  facts.loadEnd = loadAverage();
  const record = await recordOf(p, {
    startedAt,
    facts,
    generator: `${generator.name} ${generator.version}`,
    s,
    maxRate,
    targetRps,
    benchCpuCores,
    engineAlive,
    ...(engineExit ? { engineExit } : {}),
    ...(control ? { control } : {}),
  });
  log(`\n${textReport(record)}`);
  const files = await writeSoak(ROOT, record, s.seconds >= FULL_SECONDS);
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", ...files], cwd: ROOT })
    .output();
  log(`\nwrote ${files.map((f) => f.slice(ROOT.length + 1)).join(", ")}`);
}

async function taskOf(name: string): Promise<{ runs?: string }> {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)).tasks ?? {};
  return typeof tasks[name] === "string" ? { runs: tasks[name] } : {};
}

async function commitOf(): Promise<{ commit?: string }> {
  const commit = await gitCommit(ROOT);
  return commit ? { commit } : {};
}

async function main(): Promise<void> {
  await withProcessGroup("bundlehost-soak-", (group, tmp) => soak(group, tmp));
}

if (import.meta.main) await main();
