import assert from "node:assert/strict";
import { every, ManualClock, sleep, systemClock } from "./clock.ts";

Deno.test("ManualClock moves now and monotonic together, only when advanced", async () => {
  const clock = new ManualClock(1_000_000);
  assert.deepEqual([clock.now(), clock.monotonic()], [1_000_000, 0]);
  await clock.advance(250);
  assert.deepEqual([clock.now(), clock.monotonic()], [1_000_250, 250]);
});

Deno.test("ManualClock fires timers in time order, each at its due time", async () => {
  const clock = new ManualClock(0);
  const fired: [string, number][] = [];
  clock.setTimeout(() => fired.push(["b", clock.now()]), 20);
  const dropped = clock.setTimeout(() => fired.push(["x", clock.now()]), 15);
  clock.setTimeout(() => fired.push(["a", clock.now()]), 10);
  clock.clearTimeout(dropped);
  assert.equal(clock.pending, 2);
  await clock.advance(30);
  assert.deepEqual(fired, [["a", 10], ["b", 20]]);
  assert.equal(clock.now(), 30);
});

Deno.test("sleep waits for the clock's time, not the wall clock's", async () => {
  const clock = new ManualClock(0);
  let woke = false;
  const slept = sleep(clock, 60_000).then(() => woke = true);
  await clock.advance(59_999);
  assert.equal(woke, false);
  await clock.advance(1);
  await slept;
  assert.equal(woke, true);
});

Deno.test("every repeats until stopped", async () => {
  const clock = new ManualClock(0);
  const at: number[] = [];
  const timer = every(clock, 100, () => at.push(clock.now()));
  await clock.advance(400);
  assert.deepEqual(at, [100, 200, 300, 400]);
  timer.stop();
  await clock.advance(1_000);
  assert.equal(at.length, 4);
  assert.equal(clock.pending, 0);
});

Deno.test("systemClock reads real time and runs real timers", async () => {
  const before = systemClock.monotonic();
  const wall = Date.now();
  await sleep(systemClock, 5);
  assert.ok(systemClock.monotonic() - before >= 4, "monotonic time moved by the sleep");
  assert.ok(systemClock.now() >= wall);
  let fired = false;
  systemClock.clearTimeout(systemClock.setTimeout(() => fired = true, 0, { unref: true }));
  await sleep(systemClock, 5);
  assert.equal(fired, false, "a cleared timer never fires");
});

Deno.test("systemClock waits beyond the longest runtime timer and can cancel such a wait", () => {
  // A wait of two hours is armed in steps; cancelling it leaves no timer (the test would leak one).
  let fired = false;
  const handle = systemClock.setTimeout(() => fired = true, 2 * 60 * 60 * 1000);
  systemClock.clearTimeout(handle);
  systemClock.clearTimeout(undefined);
  assert.equal(fired, false);
});
