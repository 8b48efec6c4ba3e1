import assert from "node:assert/strict";
import { type BreakerRule, type BreakerState, CircuitBreaker, STRATEGIES } from "./breaker.ts";
import { SlidingWindow } from "./window.ts";
import { ManualClock } from "../base/clock.ts";
import type { BreakerStrategy } from "../manifest/manifest.ts";

const BASE: Omit<BreakerRule, "strategy" | "threshold"> = {
  maxRtMs: 100,
  minRequestAmount: 4,
  statIntervalMs: 1000,
  retryTimeoutMs: 5000,
  probeNum: 2,
};

/** Per strategy: its threshold, and a "bad" and a "good" call under it. */
const CASES: Record<BreakerStrategy, { threshold: number; bad: { error: boolean; rtMs: number } }> =
  {
    slowRequestRatio: { threshold: 0.5, bad: { error: false, rtMs: 500 } },
    errorRatio: { threshold: 0.5, bad: { error: true, rtMs: 1 } },
    errorCount: { threshold: 2, bad: { error: true, rtMs: 1 } },
  };
const GOOD = { error: false, rtMs: 1 };

function run(breaker: CircuitBreaker, result: { error: boolean; rtMs: number }): boolean {
  const permit = breaker.tryPass();
  if (!permit) return false;
  breaker.complete(permit, result);
  return true;
}

// One conformance suite, three strategies: the state machine must behave the same way.
for (const strategy of Object.keys(CASES) as BreakerStrategy[]) {
  const { threshold, bad } = CASES[strategy];
  const make = () => {
    const clock = new ManualClock(1_000_000);
    const changes: string[] = [];
    const breaker = new CircuitBreaker(
      { ...BASE, strategy, threshold },
      (from: BreakerState, to: BreakerState) => changes.push(`${from}>${to}`),
      clock,
    );
    return { clock, changes, breaker };
  };

  Deno.test(`CircuitBreaker (${strategy}) stays CLOSED below minRequestAmount`, () => {
    const { breaker } = make();
    for (let i = 0; i < BASE.minRequestAmount - 1; i++) assert.ok(run(breaker, bad));
    assert.equal(breaker.state, "CLOSED");
  });

  Deno.test(`CircuitBreaker (${strategy}) goes CLOSED → OPEN → HALF_OPEN → CLOSED, and OPEN again`, async () => {
    const { clock, changes, breaker } = make();
    for (let i = 0; i < 6; i++) run(breaker, bad);
    assert.equal(breaker.state, "OPEN");
    assert.equal(breaker.tryPass(), undefined, "OPEN refuses calls");
    await clock.advance(BASE.retryTimeoutMs - 1);
    assert.equal(breaker.tryPass(), undefined, "still OPEN just before retryTimeoutMs");
    await clock.advance(1);
    const probe1 = breaker.tryPass();
    assert.equal(breaker.state, "HALF_OPEN");
    assert.deepEqual(probe1, { probe: true });
    const probe2 = breaker.tryPass();
    assert.ok(probe2?.probe);
    assert.equal(breaker.tryPass(), undefined, "no more than probeNum probes");
    breaker.complete(probe1!, GOOD);
    assert.equal(breaker.state, "HALF_OPEN", "one good probe of two is not enough");
    breaker.complete(probe2!, GOOD);
    assert.equal(breaker.state, "CLOSED");
    // Trip again, then fail a probe: straight back to OPEN.
    for (let i = 0; i < 6; i++) run(breaker, bad);
    assert.equal(breaker.state, "OPEN");
    await clock.advance(BASE.retryTimeoutMs);
    const probe = breaker.tryPass()!;
    breaker.complete(probe, bad);
    assert.equal(breaker.state, "OPEN");
    assert.equal(breaker.tryPass(), undefined, "the retry timer restarted");
    assert.deepEqual(changes, [
      "CLOSED>OPEN",
      "OPEN>HALF_OPEN",
      "HALF_OPEN>CLOSED",
      "CLOSED>OPEN",
      "OPEN>HALF_OPEN",
      "HALF_OPEN>OPEN",
    ]);
  });

  Deno.test(`CircuitBreaker (${strategy}) forgets calls older than statIntervalMs`, async () => {
    const { clock, breaker } = make();
    for (let i = 0; i < 3; i++) run(breaker, bad);
    await clock.advance(BASE.statIntervalMs + 1);
    for (let i = 0; i < 3; i++) run(breaker, GOOD);
    run(breaker, bad);
    assert.equal(breaker.state, "CLOSED");
  });

  Deno.test(`CircuitBreaker (${strategy}) obeys forced states`, () => {
    const { changes, breaker } = make();
    breaker.force("FORCED_OPEN");
    assert.equal(breaker.tryPass(), undefined);
    breaker.force("FORCED_CLOSED");
    for (let i = 0; i < 10; i++) assert.ok(run(breaker, bad));
    assert.equal(breaker.state, "FORCED_CLOSED");
    breaker.force(undefined);
    assert.equal(breaker.state, "CLOSED");
    assert.deepEqual(changes, [
      "CLOSED>FORCED_OPEN",
      "FORCED_OPEN>FORCED_CLOSED",
      "FORCED_CLOSED>CLOSED",
    ]);
  });
}

Deno.test("STRATEGIES judge calls by their own measure", () => {
  const rule = { ...BASE, strategy: "errorRatio" as const, threshold: 0.5 };
  assert.equal(STRATEGIES.slowRequestRatio.isBad({ error: false, rtMs: 101 }, rule), true);
  assert.equal(STRATEGIES.slowRequestRatio.isBad({ error: false, rtMs: 100 }, rule), false);
  assert.equal(STRATEGIES.errorRatio.isBad({ error: false, rtMs: 10_000 }, rule), false);
  assert.equal(STRATEGIES.errorCount.isBad({ error: true, rtMs: 1 }, rule), true);
  // Sentinel: ratios trip strictly above the threshold; a count trips above it too.
  assert.equal(STRATEGIES.errorRatio.shouldTrip({ total: 4, errors: 2, slow: 0 }, rule), false);
  assert.equal(STRATEGIES.errorRatio.shouldTrip({ total: 4, errors: 3, slow: 0 }, rule), true);
  assert.equal(
    STRATEGIES.errorCount.shouldTrip({ total: 9, errors: 2, slow: 0 }, { ...rule, threshold: 2 }),
    false,
  );
  assert.equal(
    STRATEGIES.errorCount.shouldTrip({ total: 9, errors: 3, slow: 0 }, { ...rule, threshold: 2 }),
    true,
  );
  assert.equal(
    STRATEGIES.errorRatio.shouldTrip({ total: 4, errors: 4, slow: 0 }, { ...rule, threshold: 1 }),
    true,
  );
});

Deno.test("SlidingWindow counts only buckets inside the interval", () => {
  const w = new SlidingWindow(1000, 10);
  w.record(0, true, false);
  w.record(450, false, true);
  w.record(999, false, false);
  assert.deepEqual(w.snapshot(999), { total: 3, errors: 1, slow: 1 });
  assert.deepEqual(w.snapshot(1099), { total: 2, errors: 0, slow: 1 }, "bucket [0,100) expired");
  w.record(1500, true, false);
  assert.deepEqual(w.snapshot(1500), { total: 2, errors: 1, slow: 0 }, "bucket [400,500) expired");
  assert.deepEqual(w.snapshot(5000), { total: 0, errors: 0, slow: 0 });
  w.record(5000, true, true);
  w.reset();
  assert.deepEqual(w.snapshot(5000), { total: 0, errors: 0, slow: 0 });
});
