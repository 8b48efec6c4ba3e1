/**
 * Scaling with real sandboxes (docs/architecture.md, "Scaling semantics"): warm spares and hot starts with `onRefresh` (both
 * tiers), spreading concurrent calls, KPA-style scale-out under a burst and back in, scale to zero
 * with the activator's bounded buffer, soft-limit retirement, and instant rollback to a warm
 * version under concurrent load. Timing figures are read, never asserted.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type Engine,
  type InstanceStartEvent,
  ManifestError,
  ManualClock,
  type RevisionStatus,
  type ScaleEvent,
  UnavailableError,
} from "../mod.ts";
import { parseManifest } from "../engine/manifest/manifest.ts";
import { manifest, manualTime, rejects, testEngine, waitFor } from "./_helpers.ts";

/** A bundle that reports its identity, its refreshes and a per-instance random seed. */
const SCALE = `let seed = Math.random();
let refreshes = [];
let startedAs;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export default {
  services: {
    Scale: {
      whoami: (_input, ctx) => ({ id: ctx.bundle.instanceId, seed, refreshes, startedAs }),
      slow: async (input, ctx) => { await sleep(input.ms); return ctx.bundle.instanceId; },
    },
  },
  hooks: {
    onStart(ctx) { startedAs = ctx.bundle.instanceId; },
    onRefresh(ctx) { refreshes.push(ctx.bundle.instanceId); seed = Math.random(); },
  },
};`;

interface Whoami {
  id: string;
  seed: number;
  refreshes: string[];
  startedAs: string;
}

function revision(engine: Engine, id: string, version = "1.0.0"): RevisionStatus {
  const found = engine.bundle(id).revisions.find((r) => r.version === version);
  assert.ok(found, `${id}@${version} is installed`);
  return found;
}

function roles(engine: Engine, id: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const i of revision(engine, id).instances) counts[i.state] = (counts[i.state] ?? 0) + 1;
  return counts;
}

function record<T extends Event>(engine: Engine, type: "scale" | "instancestart"): T[] {
  const seen: T[] = [];
  engine.events.on(type, (event) => seen.push(event as unknown as T));
  return seen;
}

Deno.test("InstancePool keeps warmWorkers initialised spares beside the serving instances", async () => {
  await using t = await testEngine();
  await t.deploy(
    manifest("spares", {
      services: { Scale: "1.0.0" },
      scaling: { minWorkers: 1, maxWorkers: 4, warmWorkers: 2, maxCallsPerInstance: 1 },
    }),
    { "mod.ts": SCALE },
  );
  assert.deepEqual(roles(t.engine, "spares"), { ready: 1, warm: 2 });
  const scaling = revision(t.engine, "spares").scaling!;
  assert.deepEqual([scaling.desired, scaling.serving, scaling.warm, scaling.spares], [1, 1, 2, 2]);
  // Each call retires its instance (maxCallsPerInstance 1): a spare is handed out, and the pool
  // launches a new spare in the background, so the spares come back every time.
  for (let i = 0; i < 3; i++) {
    await t.engine.call("Scale", "whoami", null);
    await waitFor(
      () => {
        const r = roles(t.engine, "spares");
        return r.ready === 1 && r.warm === 2 && r.retiring === undefined;
      },
      10_000,
      `spares back after call ${i}`,
    );
  }
  assert.equal(revision(t.engine, "spares").scaling!.hotStarts, 3);
});

for (const tier of ["worker", "process"] as const) {
  Deno.test(`InstancePool runs onRefresh on every hand-out with a new instanceId (${tier} tier)`, async () => {
    await using t = await testEngine({ isolation: tier });
    const starts = record<InstanceStartEvent>(t.engine, "instancestart");
    await t.deploy(
      manifest(`refresh-${tier}`, {
        services: { Scale: "1.0.0" },
        scaling: { minWorkers: 1, maxWorkers: 3, warmWorkers: 1, maxCallsPerInstance: 1 },
      }),
      { "mod.ts": SCALE },
    );
    const seen: Whoami[] = [];
    for (let i = 0; i < 4; i++) {
      // A spare is warm again (the pool relaunches one in the background after each hand-out).
      await waitFor(() => roles(t.engine, `refresh-${tier}`).warm === 1, 20_000, "a warm spare");
      seen.push((await t.engine.call("Scale", "whoami", null)) as Whoami);
    }
    // The first call ran on the instance launched for serving; every later one on a warm spare
    // handed out after the previous instance retired.
    assert.deepEqual(seen[0]!.refreshes, []);
    for (const who of seen.slice(1)) {
      assert.deepEqual(who.refreshes, [who.id], "onRefresh ran once, with the new id");
      assert.notEqual(who.startedAs, who.id, "the hand-out replaced the id it started with");
    }
    const ids = seen.map((w) => w.id);
    assert.equal(new Set(ids).size, ids.length, "no two hand-outs share an instanceId");
    assert.equal(new Set(seen.map((w) => w.seed)).size, seen.length, "randomness reseeded");
    const hot = starts.filter((e) => e.kind === "hot");
    assert.deepEqual(hot.slice(0, 3).map((e) => e.instanceId), ids.slice(1));
    for (const event of hot) assert.ok(event.durationMs >= 0);
  });
}

Deno.test("Revision spreads calls issued in the same tick over the serving instances", async () => {
  await using t = await testEngine();
  await t.deploy(
    manifest("spread", { services: { Scale: "1.0.0" }, scaling: { minWorkers: 4, maxWorkers: 4 } }),
    { "mod.ts": SCALE },
  );
  const ids = await Promise.all(
    Array.from(
      { length: 12 },
      () => t.engine.call("Scale", "slow", { ms: 100 }) as Promise<string>,
    ),
  );
  const perInstance = new Map<string, number>();
  for (const id of ids) perInstance.set(id, (perInstance.get(id) ?? 0) + 1);
  assert.deepEqual([...perInstance.values()], [3, 3, 3, 3], JSON.stringify([...perInstance]));
});

Deno.test("Autoscaler scales out under a burst in panic mode and back in without failing a call", async () => {
  await using t = await testEngine({ autoscaleTickMs: 50 });
  const scales = record<ScaleEvent>(t.engine, "scale");
  await t.deploy(
    manifest("burst", {
      services: { Scale: "1.0.0" },
      scaling: {
        minWorkers: 1,
        maxWorkers: 4,
        targetConcurrency: 2,
        stableWindowMs: 1_000,
        panicWindowMs: 200,
        scaleDownDelayMs: 200,
      },
    }),
    { "mod.ts": SCALE },
  );
  let loading = true;
  const served = new Set<string>();
  const failures: unknown[] = [];
  // 16 callers, each with one call in flight at a time: concurrency 16, target 2 per instance.
  const callers = Array.from({ length: 16 }, async () => {
    while (loading) {
      try {
        served.add(await t.engine.call("Scale", "slow", { ms: 30 }) as string);
      } catch (error) {
        failures.push(error);
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  });
  await waitFor(() => revision(t.engine, "burst").scaling!.serving === 4, 15_000, "4 serving");
  await waitFor(() => served.size >= 4, 5_000, "calls on every instance");
  loading = false;
  await Promise.all(callers);
  const out = scales.filter((e) => e.to > e.from);
  assert.ok(out.some((e) => e.reason === "panic" && e.mode === "panic"), JSON.stringify(out));
  assert.ok(out.every((e) => e.concurrency > 0));
  // Idle now: panic ends a stable window after the burst, then the count steps back to one.
  await waitFor(
    () => {
      const s = revision(t.engine, "burst");
      return s.scaling!.desired === 1 && s.instances.length === 1;
    },
    15_000,
    "scale back in to one instance",
  );
  const back = scales.filter((e) => e.to < e.from);
  assert.ok(back.length > 0 && back.every((e) => e.reason === "stable"), JSON.stringify(back));
  const status = revision(t.engine, "burst").scaling!;
  assert.equal(status.mode, "stable");
  assert.equal(status.lastScale?.to, 1);
  assert.deepEqual([status.lastDecision?.desired, status.lastDecision?.mode], [1, "stable"]);
  assert.deepEqual(failures, []);
  assert.equal(revision(t.engine, "burst").restarts, 0);
});

Deno.test("Engine scales a minWorkers 0 bundle to zero after idleMs and serves the next call", async () => {
  // Autoscaler ticks and the idle period run on the engine's clock, which the test moves.
  const clock = new ManualClock(Date.now());
  await using t = await testEngine({ ...manualTime(clock), autoscaleTickMs: 1_000 });
  const scales = record<ScaleEvent>(t.engine, "scale");
  await t.deploy(
    manifest("zero", {
      services: { Scale: "1.0.0" },
      scaling: { minWorkers: 0, idleMs: 5_000, maxBuffered: 2 },
    }),
    { "mod.ts": SCALE },
  );
  await t.engine.call("Scale", "whoami", null);
  await clock.advance(4_000);
  assert.equal(scales.length, 0, "not idle for idleMs yet");
  await clock.advance(2_000);
  await waitFor(() => revision(t.engine, "zero").instances.length === 0, 10_000, "scale to zero");
  assert.deepEqual(
    scales.map((e) => [e.from, e.to, e.reason]),
    [[1, 0, "idle"]],
  );
  assert.equal(t.engine.bundle("zero").state, "ACTIVE");
  // The first call after zero waits in the activator while an instance cold-starts.
  const first = await t.engine.call("Scale", "whoami", null) as Whoami;
  assert.equal(typeof first.id, "string");
  assert.deepEqual(
    scales.at(-1) && [scales.at(-1)!.from, scales.at(-1)!.to, scales.at(-1)!.reason],
    [
      0,
      1,
      "cold-start",
    ],
  );
  // At zero again, a burst beyond maxBuffered (2) is refused with 503, the rest is served.
  await clock.advance(7_000);
  await waitFor(() => revision(t.engine, "zero").instances.length === 0, 10_000, "zero again");
  const results = await Promise.allSettled(
    Array.from({ length: 5 }, () => t.engine.call("Scale", "whoami", null)),
  );
  const refused = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 2);
  assert.equal(refused.length, 3);
  for (const r of refused) {
    assert.ok(r.reason instanceof UnavailableError, String(r.reason));
    assert.match(r.reason.message, /scaling\.maxBuffered/);
  }
});

Deno.test("Engine fails a buffered call at its own deadline while the cold start is slower", async () => {
  const clock = new ManualClock(Date.now());
  await using t = await testEngine({ ...manualTime(clock), autoscaleTickMs: 1_000 });
  await t.deploy(
    manifest("slowstart", {
      services: { Scale: "1.0.0" },
      scaling: { minWorkers: 0, idleMs: 2_000 },
    }),
    {
      "mod.ts": SCALE.replace(
        "onStart(ctx) {",
        "async onStart(ctx) { await new Promise((r) => setTimeout(r, 600));",
      ),
    },
  );
  await clock.advance(3_000);
  await waitFor(() => revision(t.engine, "slowstart").instances.length === 0, 10_000, "zero");
  const buffered = t.engine.call("Scale", "whoami", null, { timeoutMs: 100 });
  buffered.catch(() => {}); // Checked below, once the clock passed its deadline.
  await waitFor(() => revision(t.engine, "slowstart").scaling!.buffered === 1, 5_000, "buffered");
  await clock.advance(100);
  await rejects(() => buffered, UnavailableError, "has no ready instance");
  // The cold start it triggered still completes and serves the next call.
  assert.equal(typeof ((await t.engine.call("Scale", "whoami", null)) as Whoami).id, "string");
});

Deno.test("InstancePool retires an instance at maxLifetimeMs: onRetire runs, calls in flight finish", async () => {
  const clock = new ManualClock(Date.now());
  await using t = await testEngine({ ...manualTime(clock), autoscaleTickMs: 1_000 });
  const logs: string[] = [];
  t.engine.events.on("log", (e) => logs.push(e.message));
  await t.deploy(
    manifest("lifetime", {
      services: { Scale: "1.0.0" },
      scaling: { minWorkers: 1, maxWorkers: 2, maxLifetimeMs: 5_000 },
    }),
    {
      "mod.ts": SCALE.replace(
        "onRefresh(ctx) {",
        "onRetire(ctx) { ctx.log.info('retire ' + ctx.bundle.instanceId); },\n    onRefresh(ctx) {",
      ),
    },
  );
  const first = (await t.engine.call("Scale", "whoami", null) as Whoami).id;
  const inflight = t.engine.call("Scale", "slow", { ms: 600 });
  await waitFor(() => revision(t.engine, "lifetime").instances[0]!.inflight === 1, 5_000, "sent");
  await clock.advance(4_000);
  assert.ok(!logs.includes(`retire ${first}`), "not retired before maxLifetimeMs");
  await clock.advance(1_000);
  await waitFor(() => logs.includes(`retire ${first}`), 5_000, "onRetire");
  assert.equal(await inflight, first, "the call in flight finished on the retiring instance");
  const next = (await t.engine.call("Scale", "whoami", null) as Whoami).id;
  assert.notEqual(next, first);
  assert.equal(revision(t.engine, "lifetime").restarts, 0);
});

Deno.test("Engine stop drains calls in flight: the last call ends the drain, the clock ends its grace", async () => {
  // The clock stands still unless moved: the first drain ends because its call ended, the second
  // because the clock passed drainMs while a call was still running (it is cut off).
  const clock = new ManualClock(Date.now());
  await using t = await testEngine({ ...manualTime(clock), drainMs: 1_000 });
  await t.deploy(manifest("drain", { services: { Scale: "1.0.0" } }), { "mod.ts": SCALE });
  const inflight = () => revision(t.engine, "drain").instances.reduce((n, i) => n + i.inflight, 0);
  const short = t.engine.call("Scale", "slow", { ms: 300 });
  await waitFor(() => inflight() === 1, 5_000, "the short call sent");
  await t.engine.runtime.stop("drain");
  assert.equal(typeof await short, "string", "the call finished during the drain");
  assert.equal(t.engine.runtime.stateOf("drain", "1.0.0"), "RESOLVED");

  await t.engine.runtime.start("drain");
  const long = t.engine.call("Scale", "slow", { ms: 60_000 }).then(() => "done", (e) => e.code);
  await waitFor(() => inflight() === 1, 5_000, "the long call sent");
  const stopped = t.engine.runtime.stop("drain");
  await waitFor(() => t.engine.runtime.stateOf("drain", "1.0.0") === "STOPPING", 5_000, "stopping");
  // A second of engine time per poll: the drain's grace timer may be armed a little later.
  await waitFor(
    async () => {
      await clock.advance(1_000);
      return t.engine.runtime.stateOf("drain", "1.0.0") === "RESOLVED";
    },
    10_000,
    "the grace to end",
  );
  await stopped;
  assert.notEqual(await long, "done", "cut off when the grace ended");
});

Deno.test("Registry rollback to the warm previous version fails no call and routes every later call to it", async () => {
  await using t = await testEngine({ rollbackWarmMs: 60_000 });
  const release = async (version: string) => {
    const dir = await t.bundle(manifest("app", { version, services: { Scale: "1.0.0" } }), {
      "mod.ts": SCALE,
    });
    await t.engine.registry.release({ path: dir });
  };
  await release("1.0.0");
  await release("2.0.0");
  // The version that served before stays ACTIVE and warm (standby: one instance, no traffic).
  const v1 = revision(t.engine, "app", "1.0.0");
  assert.deepEqual([v1.state, v1.scaling?.standby, v1.instances.length], ["ACTIVE", true, 1]);
  const starts = record<InstanceStartEvent>(t.engine, "instancestart");

  let loading = true;
  let acked = Infinity;
  const failures: unknown[] = [];
  const wrong: string[] = [];
  const servedBy = new Set<string>();
  const callers = Array.from({ length: 8 }, async () => {
    while (loading) {
      const issued = performance.now();
      try {
        const outcome = await t.engine.invoke({
          service: "Scale",
          method: "slow",
          input: { ms: 5 },
        });
        servedBy.add(outcome.bundle);
        if (issued > acked && outcome.bundle !== "app@1.0.0") wrong.push(outcome.bundle);
      } catch (error) {
        failures.push(error);
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  });
  await waitFor(() => servedBy.has("app@2.0.0"), 5_000, "load on 2.0.0");
  const coldBefore = starts.filter((e) => e.kind === "cold").length;
  assert.equal(await t.engine.registry.rollback("app"), "1.0.0");
  acked = performance.now();
  assert.equal(starts.filter((e) => e.kind === "cold").length, coldBefore, "no cold start");
  await new Promise((r) => setTimeout(r, 300));
  loading = false;
  await Promise.all(callers);
  assert.deepEqual(failures, []);
  assert.deepEqual(wrong, [], "no call issued after the rollback resolved went to 2.0.0");
  assert.ok(servedBy.has("app@1.0.0"));
  // Now 2.0.0 is the warm standby, so rolling forward again is just as instant.
  const v2 = revision(t.engine, "app", "2.0.0");
  assert.deepEqual([v2.state, v2.scaling?.standby], ["ACTIVE", true]);
  assert.equal(revision(t.engine, "app", "1.0.0").scaling?.standby, false);
});

Deno.test("Registry stops the warm previous version after rollbackWarmMs", async () => {
  const clock = new ManualClock(Date.now());
  await using t = await testEngine({ ...manualTime(clock), rollbackWarmMs: 60_000 });
  for (const version of ["1.0.0", "2.0.0"]) {
    const dir = await t.bundle(manifest("fade", { version, services: { Scale: "1.0.0" } }), {
      "mod.ts": SCALE,
    });
    await t.engine.registry.release({ path: dir });
  }
  assert.equal(revision(t.engine, "fade", "1.0.0").state, "ACTIVE");
  await clock.advance(59_999);
  assert.equal(revision(t.engine, "fade", "1.0.0").state, "ACTIVE", "warm until rollbackWarmMs");
  await clock.advance(1);
  await waitFor(
    () => revision(t.engine, "fade", "1.0.0").state === "RESOLVED",
    5_000,
    "the standby version to stop",
  );
  assert.equal(revision(t.engine, "fade", "2.0.0").state, "ACTIVE");
});

Deno.test("parseManifest validates the scaling fields and names the offending one", () => {
  const scaling = parseManifest({ id: "m", version: "1.0.0" }).scaling;
  assert.deepEqual(
    [scaling.stableWindowMs, scaling.panicWindowMs, scaling.scaleDownDelayMs, scaling.maxBuffered],
    [60_000, 6_000, 30_000, 1_000],
  );
  assert.equal(scaling.maxCallsPerInstance, undefined);
  const refused = (value: Record<string, unknown>) =>
    assert.throws(
      () => parseManifest({ id: "m", version: "1.0.0", scaling: value }),
      (error: unknown) => error instanceof ManifestError && error.field.startsWith("scaling."),
      JSON.stringify(value),
    );
  refused({ panicWindowMs: 70_000 });
  refused({ maxBuffered: -1 });
  refused({ maxCallsPerInstance: 0 });
  refused({ scaleDownDelayMs: 1.5 });
  refused({ panicWindow: 10 });
});
