import assert from "node:assert/strict";
import { analyseStep, CANARY_DEFAULTS, resolveCanaryPlan } from "./canary.ts";
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
