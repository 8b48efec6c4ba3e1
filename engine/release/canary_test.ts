import assert from "node:assert/strict";
import {
  analyseStep,
  CANARY_DEFAULTS,
  type CanaryHost,
  CanaryRun,
  MAX_HOLDS,
  resolveCanaryPlan,
} from "./canary.ts";
import { ManualClock } from "../base/clock.ts";
import type { CanaryPlan } from "../store/canary_state.ts";
import { LATENCY_RING, OutcomeStats } from "../core/outcomes.ts";

Deno.test("OutcomeStats counts a window from its mark and takes p99 over recent calls", () => {
  const stats = new OutcomeStats();
  stats.record(true, 1_000);
  const mark = stats.mark();
  for (let i = 1; i <= 100; i++) stats.record(i % 10 === 0, i);
  const window = stats.since(mark);
  assert.deepEqual([window.calls, window.errors, window.errorRatio], [100, 10, 0.1]);
  assert.equal(window.meanMs, 50.5);
  assert.equal(window.p99Ms, 99);
  assert.deepEqual(stats.totals, { calls: 101, errors: 11 });
  // Beyond the ring, the percentile uses the most recent calls only.
  for (let i = 0; i < LATENCY_RING; i++) stats.record(false, 5);
  assert.equal(stats.since(mark).p99Ms, 5);
  assert.deepEqual(new OutcomeStats().since(mark).calls, 0);
});

Deno.test("analyseStep fails on errors or p99 latency, waits below minCalls, else passes", () => {
  const plan = { ...CANARY_DEFAULTS, minCalls: 10, maxErrorRatio: 0.1, maxLatencyMs: 50 };
  const window = { calls: 20, errors: 1, errorRatio: 0.05, meanMs: 5, p99Ms: 20 };
  assert.deepEqual(analyseStep(window, plan), { verdict: "pass" });
  assert.equal(analyseStep({ ...window, errors: 3, errorRatio: 0.15 }, plan).verdict, "fail");
  const slow = analyseStep({ ...window, p99Ms: 80 }, plan);
  assert.equal(slow.verdict, "fail");
  assert.match((slow as { reason: string }).reason, /p99 latency 80\.0 ms above 50 ms/);
  assert.equal(
    analyseStep({ ...window, calls: 9, errors: 9, errorRatio: 1 }, plan).verdict,
    "wait",
  );
});

Deno.test("resolveCanaryPlan applies defaults and refuses bad steps and numbers", () => {
  assert.deepEqual(resolveCanaryPlan(), CANARY_DEFAULTS);
  assert.deepEqual(resolveCanaryPlan({ steps: [5, 100], minCalls: 3 }).steps, [5, 100]);
  for (const steps of [[], [50, 10], [0, 50], [10, 101], [10, 10]]) {
    assert.throws(() => resolveCanaryPlan({ steps }), RangeError, JSON.stringify(steps));
  }
  assert.throws(() => resolveCanaryPlan({ maxErrorRatio: 2 }), /maxErrorRatio/);
  assert.throws(() => resolveCanaryPlan({ stepMs: 1 }), /stepMs/);
});

/** A host that records what the run asks for; outcomes are a real {@linkcode OutcomeStats}. */
function recordingHost() {
  const stats = new OutcomeStats();
  const did: string[] = [];
  const host: CanaryHost = {
    step: (run) => Promise.resolve(void did.push(`step ${run.state.weight}`)),
    promote: () => Promise.resolve(void did.push("promote")),
    rollBack: (_run, reason) => Promise.resolve(void did.push(`rollback: ${reason}`)),
    outcomes: () => stats,
    emit: () => {},
  };
  return { stats, did, host };
}

function startRun(clock: ManualClock, host: CanaryHost, plan: Partial<CanaryPlan> = {}) {
  const resolved = { ...CANARY_DEFAULTS, steps: [10, 50, 100], minCalls: 5, ...plan };
  const at = new Date(clock.now()).toISOString();
  return new CanaryRun(
    "shop",
    {
      ...resolved,
      version: "1.1.0",
      from: "1.0.0",
      step: 0,
      weight: 0,
      status: "running",
      startedAt: at,
      updatedAt: at,
    },
    host,
    clock,
  );
}

/** Lets the run's promise callbacks finish. */
const turn = () => new Promise((r) => setTimeout(r, 0));

Deno.test("CanaryRun steps up after each stepMs of its clock and promotes after the last step", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const { stats, did, host } = recordingHost();
  const run = startRun(clock, host);
  await turn();
  assert.deepEqual(did, ["step 10"]);
  for (let i = 0; i < 5; i++) stats.record(false, 5);
  await clock.advance(CANARY_DEFAULTS.stepMs - 1);
  assert.deepEqual(did, ["step 10"], "a step is judged only after stepMs");
  await clock.advance(1);
  assert.deepEqual(did, ["step 10", "step 50"]);
  for (let i = 0; i < 5; i++) stats.record(false, 5);
  await clock.advance(CANARY_DEFAULTS.stepMs);
  await run.done;
  assert.deepEqual(did, ["step 10", "step 50", "promote"]);
  assert.equal(run.state.updatedAt, new Date(clock.now()).toISOString(), "times from the clock");
});

Deno.test("CanaryRun rolls back within a second of engine time once errors cross the threshold", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const { stats, did, host } = recordingHost();
  const run = startRun(clock, host);
  await turn();
  for (let i = 0; i < 10; i++) stats.record(i % 2 === 0, 5);
  await clock.advance(1_000);
  await run.done;
  assert.equal(did.length, 2);
  assert.match(did[1]!, /^rollback: error ratio 0\.500 above 0\.05 \(5 of 10 calls\)$/);
});

Deno.test("CanaryRun holds a step without enough calls, then rolls back as inconclusive", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const { stats, did, host } = recordingHost();
  const run = startRun(clock, host, { stepMs: 10_000 });
  await turn();
  stats.record(false, 5);
  await clock.advance(10_000 * (MAX_HOLDS - 1));
  assert.deepEqual(did, ["step 10"], "held, not judged");
  await clock.advance(10_000);
  await run.done;
  assert.deepEqual(did, ["step 10", "rollback: inconclusive: 1 calls, fewer than 5"]);
});

Deno.test("CanaryRun abort stops its loop at once, leaving no timer", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const { did, host } = recordingHost();
  const run = startRun(clock, host);
  await turn();
  run.abort();
  await run.done;
  assert.deepEqual(did, ["step 10"]);
  assert.equal(clock.pending, 0);
});
