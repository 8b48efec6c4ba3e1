/**
 * Scaling costs (docs/architecture.md, "Scaling semantics"), side by side in one run, per isolation tier, medians. Run by
 * `deno task bench` (as a script: `deno bench` only imports it, which does nothing), or alone with
 * `deno task bench:scaling`.
 *
 * How each figure is taken (all in the engine process, wall time on `performance.now()`):
 * - **cold start**: `registry.release({ path })` of a new version (copy, `deno info` vetting,
 *   durable commit, install, a new sandbox loads the bundle and runs `onStart`, traffic switch)
 *   until the first reply from that version. The instance launch alone (sandbox → `onStart`
 *   done) is the `instancestart` event's `durationMs` with `kind: "cold"`, shown in brackets.
 * - **hot start**: a warm, pre-initialised instance handed out by a scale-out (two calls in flight
 *   at `targetConcurrency` 1: panic, desired 2): new instance id sent, the bundle's `onRefresh`
 *   run, instance serving. The figure is the hand-out as the engine sees it, round trip into the
 *   sandbox included (the `instancestart` event's `durationMs`, `kind: "hot"`); in brackets the
 *   engine thread's own share (status `lastHotStartEngineMs`). Each hand-out starts from a
 *   settled pool (1 serving, 1 warm, nothing starting or retiring).
 * - **burst → N**: a fresh revision at one instance (`targetConcurrency` 1, `maxWorkers` N, the
 *   default 60 s / 6 s windows, `autoscaleTickMs` 100) gets `4N` callers at once; time until N
 *   instances serve (panic mode, cold launches).
 * - **rollback**: `registry.rollback()` to the warm previous version (standby, one instance):
 *   until the promise resolves (traffic switch + durable commit); the first reply from the target
 *   after that is shown in brackets.
 * - **idle memory per warm worker**: worker tier, growth of the engine's RSS (after a GC and a
 *   settle pause) per instance with W warm spares + 1 serving; process tier, the median warm
 *   child's own RSS from its heartbeat reply.
 *
 * @module
 */
import { createEngine, type Engine, type InstanceStartEvent } from "../mod.ts";
import type { IsolationTier } from "../engine/sdk/types.ts";

const COLD = 8;
const HOT = 12;
const BURSTS = 3;
const BURST_N = 4;
const ROLLBACKS = 20;
const WARM = 8;
const MIB = 1024 * 1024;

const BUNDLE = `let seed = Math.random();
export default {
  services: {
    Bench: {
      hello: (_input, ctx) => ({ id: ctx.bundle.instanceId, version: ctx.bundle.version, seed }),
      slow: async (input) => { await new Promise((r) => setTimeout(r, input.ms)); return 1; },
    },
  },
  hooks: { onRefresh() { seed = Math.random(); } },
};
`;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error("Timed out");
    await pause(2);
  }
}

function engineRss(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage().rss;
}

async function writeBundle(
  root: string,
  id: string,
  version: string,
  scaling: Record<string, number>,
): Promise<string> {
  const dir = `${root}/src/${id}-${version}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/bundle.json`,
    JSON.stringify({ id, version, services: { Bench: "1.0.0" }, scaling }),
  );
  await Deno.writeTextFile(`${dir}/mod.ts`, BUNDLE);
  return dir;
}

function revisionOf(engine: Engine, id: string, version = "1.0.0") {
  return engine.bundle(id).revisions.find((r) => r.version === version)!;
}

interface TierFigures {
  coldMs: number[];
  launchMs: number[];
  hotMs: number[];
  hotEngineMs: number[];
  burstMs: number[];
  rollbackMs: number[];
  rollbackReplyMs: number[];
  warmRssBytes: number;
}

async function measureTier(tier: IsolationTier, root: string): Promise<TierFigures> {
  const engine = await createEngine({
    dataDir: `${root}/${tier}/.bundlehost`,
    isolation: tier,
    autoscaleTickMs: 100,
    heartbeatMs: 200,
  });
  const starts: InstanceStartEvent[] = [];
  engine.events.on("instancestart", (e) => starts.push(e));
  const figures: TierFigures = {
    coldMs: [],
    launchMs: [],
    hotMs: [],
    hotEngineMs: [],
    burstMs: [],
    rollbackMs: [],
    rollbackReplyMs: [],
    warmRssBytes: 0,
  };
  try {
    // Cold start: release → first reply, one new version at a time.
    for (let i = 0; i <= COLD; i++) {
      const dir = await writeBundle(root, `cold-${tier}`, `1.0.${i}`, {});
      const seen = starts.length;
      const started = performance.now();
      await engine.registry.release({ path: dir });
      const reply = await engine.call("Bench", "hello", null, {
        route: { type: "ID", pattern: `cold-${tier}` },
      }) as { version: string };
      const ms = performance.now() - started;
      if (reply.version !== `1.0.${i}`) throw new Error(`Served by ${reply.version}`);
      if (i === 0) continue; // warm-up: module graph caches
      figures.coldMs.push(ms);
      const launch = starts.slice(seen).find((e) => e.kind === "cold");
      if (launch) figures.launchMs.push(launch.durationMs);
    }
    await engine.registry.stop(`cold-${tier}`);

    // Hot start: a scale-out hands out the warm spare (onRefresh included).
    const hot = `hot-${tier}`;
    await engine.registry.release({
      path: await writeBundle(root, hot, "1.0.0", {
        minWorkers: 1,
        maxWorkers: 2,
        warmWorkers: 1,
        targetConcurrency: 1,
        stableWindowMs: 300,
        panicWindowMs: 100,
        scaleDownDelayMs: 0,
      }),
    });
    const route = { type: "ID" as const, pattern: hot };
    for (let i = 0; i < HOT; i++) {
      await until(() => {
        const s = revisionOf(engine, hot).scaling!;
        return s.desired === 1 && s.serving === 1 && s.warm === 1 && s.starting === 0 &&
          s.retiring === 0;
      });
      const seen = starts.filter((e) => e.bundle === hot && e.kind === "hot").length;
      const held = [1, 2].map(() => engine.call("Bench", "slow", { ms: 400 }, { route }));
      await until(() => starts.filter((e) => e.bundle === hot && e.kind === "hot").length > seen);
      figures.hotMs.push(
        starts.filter((e) => e.bundle === hot && e.kind === "hot").at(-1)!
          .durationMs,
      );
      figures.hotEngineMs.push(revisionOf(engine, hot).scaling!.lastHotStartEngineMs!);
      await Promise.all(held);
    }
    await engine.registry.stop(hot);

    // Burst: time for a fresh revision to reach BURST_N serving instances.
    for (let b = 0; b < BURSTS; b++) {
      const id = `burst-${tier}-${b}`;
      await engine.registry.release({
        path: await writeBundle(root, id, "1.0.0", {
          minWorkers: 1,
          maxWorkers: BURST_N,
          targetConcurrency: 1,
        }),
      });
      let running = true;
      const started = performance.now();
      const callers = Array.from({ length: 4 * BURST_N }, async () => {
        while (running) {
          await engine.call("Bench", "slow", { ms: 20 }, { route: { type: "ID", pattern: id } });
        }
      });
      await until(() => (revisionOf(engine, id).scaling?.serving ?? 0) >= BURST_N);
      figures.burstMs.push(performance.now() - started);
      running = false;
      await Promise.all(callers);
      await engine.registry.delete(id);
    }

    // Rollback to the warm previous version, back and forth.
    const flip = `flip-${tier}`;
    for (const version of ["1.0.0", "2.0.0"]) {
      await engine.registry.release({ path: await writeBundle(root, flip, version, {}) });
    }
    for (let i = 0; i < ROLLBACKS; i++) {
      const started = performance.now();
      const target = await engine.registry.rollback(flip);
      figures.rollbackMs.push(performance.now() - started);
      const reply = await engine.call("Bench", "hello", null, {
        route: { type: "ID", pattern: flip },
      }) as { version: string };
      figures.rollbackReplyMs.push(performance.now() - started);
      if (reply.version !== target) throw new Error(`Served by ${reply.version}, not ${target}`);
    }
    await engine.registry.delete(flip);

    // Idle memory per warm worker.
    await pause(500);
    const before = engineRss();
    const mem = `mem-${tier}`;
    await engine.registry.release({
      path: await writeBundle(root, mem, "1.0.0", {
        minWorkers: 1,
        maxWorkers: WARM + 1,
        warmWorkers: WARM,
      }),
    });
    await until(() => revisionOf(engine, mem).scaling?.warm === WARM);
    await until(
      () => revisionOf(engine, mem).instances.every((i) => i.memory !== undefined),
      30_000,
    );
    await pause(1_000);
    if (tier === "worker") {
      figures.warmRssBytes = (engineRss() - before) / (WARM + 1);
    } else {
      const warm = revisionOf(engine, mem).instances.filter((i) => i.state === "warm");
      figures.warmRssBytes = median(warm.map((i) => i.memory!.rss));
    }
  } finally {
    await engine.close();
  }
  return figures;
}

async function main(): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-scaling-bench-" });
  try {
    const results: [IsolationTier, TierFigures][] = [];
    for (const tier of ["worker", "process"] as const) {
      results.push([tier, await measureTier(tier, root)]);
    }
    const ms = (v: number) => (v < 1 ? `${(v * 1000).toFixed(0)} µs` : `${v.toFixed(1)} ms`);
    const columns = [
      "cold start",
      "(launch)",
      "hot start",
      "(engine)",
      `burst → ${BURST_N}`,
      "rollback",
      "(1st reply)",
      "idle/warm",
    ];
    console.log(
      `Scaling, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, medians ` +
        `(cold ${COLD}, hot ${HOT}, bursts ${BURSTS}, rollbacks ${ROLLBACKS}, ${WARM} warm)\n`,
    );
    console.log(`${"tier".padEnd(10)}${columns.map((c) => c.padStart(13)).join("")}`);
    for (const [tier, f] of results) {
      const cells = [
        ms(median(f.coldMs)),
        ms(median(f.launchMs)),
        ms(median(f.hotMs)),
        ms(median(f.hotEngineMs)),
        ms(median(f.burstMs)),
        ms(median(f.rollbackMs)),
        ms(median(f.rollbackReplyMs)),
        `${(f.warmRssBytes / MIB).toFixed(1)} MiB`,
      ];
      console.log(`${tier.padEnd(10)}${cells.map((c) => c.padStart(13)).join("")}`);
    }
    for (const [tier, f] of results) {
      console.log(
        `\n${tier}: hot start range ${ms(Math.min(...f.hotMs))}–${ms(Math.max(...f.hotMs))} ` +
          `(engine ${ms(Math.min(...f.hotEngineMs))}–${ms(Math.max(...f.hotEngineMs))}); ` +
          `cold start range ${ms(Math.min(...f.coldMs))}–${ms(Math.max(...f.coldMs))}; ` +
          `rollback range ${ms(Math.min(...f.rollbackMs))}–${ms(Math.max(...f.rollbackMs))}`,
      );
    }
    console.log(
      "\nidle/warm: worker tier, engine RSS growth per instance (W warm + 1 serving, after GC); " +
        "process tier, the warm child's own RSS.",
    );
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
