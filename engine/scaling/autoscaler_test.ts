import assert from "node:assert/strict";
import {
  Autoscaler,
  type AutoscalerSettings,
  ConcurrencyMeter,
  PANIC_THRESHOLD,
} from "./autoscaler.ts";

const SETTINGS: AutoscalerSettings = {
  minWorkers: 1,
  maxWorkers: 10,
  targetConcurrency: 10,
  stableWindowMs: 60_000,
  panicWindowMs: 6_000,
  scaleDownDelayMs: 0,
  idleMs: 120_000,
};

/** A fake clock driving one autoscaler with one-second ticks; tracks the applied count. */
class Driver {
  now = 0;
  current: number;
  readonly scaler: Autoscaler;
  constructor(settings: Partial<AutoscalerSettings> = {}, current = 1) {
    this.scaler = new Autoscaler({ ...SETTINGS, ...settings }, 0);
    this.current = current;
  }
  /** One tick with this average concurrency; applies and returns the decision. */
  tick(concurrency: number, arrivals = concurrency > 0 ? 1 : 0) {
    this.now += 1_000;
    this.scaler.record(this.now, concurrency, arrivals);
    const decision = this.scaler.decide(this.now, this.current, this.current);
    this.current = decision.desired;
    return decision;
  }
  ticks(n: number, concurrency: number) {
    let last = this.tick(concurrency);
    for (let i = 1; i < n; i++) last = this.tick(concurrency);
    return last;
  }
}

Deno.test("ConcurrencyMeter averages calls in flight over time", () => {
  const meter = new ConcurrencyMeter(0);
  meter.begin(0);
  meter.begin(250);
  meter.end(500);
  meter.end(750);
  // 1 call for 250 ms, 2 for 250 ms, 1 for 250 ms, 0 for 250 ms → 1.0 over 1 s.
  assert.deepEqual(meter.take(1_000), { average: 1, arrivals: 2, current: 0 });
  meter.begin(1_000);
  assert.deepEqual(meter.take(2_000), { average: 1, arrivals: 1, current: 1 });
  assert.equal(meter.take(2_000).average, 1, "no time elapsed: the current count");
});

Deno.test("Autoscaler keeps concurrency per instance near the target in stable mode", () => {
  const d = new Driver({}, 3);
  // 30 calls in flight, target 10 → 3 instances, no panic (30/10/3 = 1 < 2).
  const decision = d.ticks(10, 30);
  assert.deepEqual([decision.desired, decision.mode], [3, "stable"]);
  assert.equal(decision.stableConcurrency, 30);
  // A gentle rise is followed in stable mode.
  assert.equal(d.ticks(60, 45).desired, 5);
  assert.equal(d.scaler.mode, "stable");
});

Deno.test("Autoscaler panics on a burst and follows the panic window", () => {
  const d = new Driver();
  d.ticks(30, 5);
  assert.equal(d.current, 1);
  const burst = d.tick(80);
  // Panic window: (5*5 + 80) / 6 = 17.5 → 2 instances; 17.5/10/1 = 1.75 < 2: not yet.
  assert.equal(burst.mode, "stable");
  const second = d.tick(80);
  // (5*4 + 160) / 6 = 30 → 3 instances, 30/10/1 = 3 ≥ PANIC_THRESHOLD.
  assert.ok(30 / 10 / 1 >= PANIC_THRESHOLD);
  assert.deepEqual([second.mode, second.reason, second.desired], ["panic", "panic", 3]);
  // The stable window alone would ask for ⌈(5*30 + 80*2)/32⌉ = 1 instance.
  assert.ok(Math.ceil(second.stableConcurrency / 10) < second.desired);
  const peak = d.ticks(4, 80);
  assert.equal(peak.desired, 8);
});

Deno.test("Autoscaler never scales down while panicking and leaves panic after a stable window", () => {
  const d = new Driver();
  d.ticks(6, 80);
  assert.deepEqual([d.scaler.mode, d.current], ["panic", 8]);
  // The burst ends: the panic window drops to zero but the count holds while panicking.
  const modes: string[] = [];
  for (let i = 0; i < 60; i++) {
    const decision = d.tick(0, 1);
    modes.push(decision.mode);
    if (decision.mode === "panic") assert.equal(decision.desired, 8, `tick ${i}`);
  }
  // Panic lasts one stable window (60 ticks) after the last over-threshold tick (which came
  // during the burst, once 8 instances were ready the ratio fell below 2): then stable again.
  const calmAt = modes.indexOf("stable");
  assert.ok(calmAt >= 50 && calmAt < 60, `stable again after ${calmAt} idle ticks`);
  assert.ok(modes.slice(calmAt).every((m) => m === "stable"));
  assert.equal(d.current, 1);
});

Deno.test("Autoscaler scales down only after the scale-down delay (hysteresis)", () => {
  const d = new Driver(
    { stableWindowMs: 10_000, panicWindowMs: 2_000, scaleDownDelayMs: 5_000 },
    4,
  );
  d.ticks(10, 40);
  assert.equal(d.current, 4);
  // Load halves: the stable window needs 10 s to reflect it, then the delay holds 5 s more.
  const seen: number[] = [];
  for (let i = 0; i < 20; i++) seen.push(d.tick(20).desired);
  assert.equal(seen.at(-1), 2);
  const firstDrop = seen.findIndex((n) => n < 4);
  // The stable recommendation first falls below 4 after 4 ticks (avg ≤ 30); the delay adds 5.
  assert.ok(firstDrop >= 4 + 4, `dropped after ${firstDrop + 1} ticks: ${seen.join(",")}`);
  // A rise is applied at once.
  d.tick(200);
  assert.ok(d.current > 2);
});

Deno.test("Autoscaler scales to zero after idleMs only when minWorkers is 0", () => {
  const zero = new Driver({ minWorkers: 0, idleMs: 5_000 });
  zero.ticks(3, 5);
  assert.equal(zero.current, 1);
  // Four idle ticks: not yet idle for 5 s; the floor is one instance while not idle.
  for (let i = 0; i < 4; i++) assert.equal(zero.tick(0, 0).desired, 1);
  const idle = zero.tick(0, 0);
  assert.deepEqual([idle.desired, idle.reason], [0, "idle"]);
  // A call arriving keeps it from idling: the decision goes back to ≥ 1.
  zero.current = 1;
  assert.equal(zero.tick(0.5, 1).desired, 1);

  const one = new Driver({ minWorkers: 1, idleMs: 5_000 }, 3);
  one.ticks(3, 25);
  for (let i = 0; i < 10; i++) one.tick(0, 0);
  assert.equal(one.current, 1, "idle goes down to minWorkers, never below");
});

Deno.test("Autoscaler clamps to maxWorkers and up to minWorkers", () => {
  const d = new Driver({ minWorkers: 2, maxWorkers: 5 }, 1);
  const first = d.tick(0.1);
  assert.deepEqual([first.desired, first.reason], [2, "min"]);
  assert.equal(d.ticks(10, 500).desired, 5);
});

Deno.test("Autoscaler.reset forgets samples and restarts the idle grace", () => {
  const d = new Driver({ minWorkers: 0, idleMs: 3_000 });
  d.ticks(5, 0);
  assert.equal(d.current, 0);
  d.scaler.reset(d.now);
  d.current = 1;
  assert.equal(d.tick(0, 0).desired, 1);
  assert.equal(d.scaler.mode, "stable");
});
