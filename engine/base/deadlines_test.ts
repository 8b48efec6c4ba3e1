import assert from "node:assert/strict";
import { deadlines, DeadlineScheduler, deadlinesFor, RESOLUTION_MS } from "./deadlines.ts";
import { ManualClock, systemClock } from "./clock.ts";

const START = Date.UTC(2026, 0, 1);

function scheduler() {
  const clock = new ManualClock(START);
  return { clock, scheduler: new DeadlineScheduler({ clock }) };
}

Deno.test("DeadlineScheduler fires each deadline once, in time order, never before it is due", async () => {
  const { clock, scheduler: s } = scheduler();
  const fired: { name: string; late: number }[] = [];
  for (const [name, after] of [["b", 30], ["a", 10], ["c", 50]] as const) {
    const at = START + after;
    s.schedule(at, () => fired.push({ name, late: clock.now() - at }));
  }
  assert.equal(clock.pending, 1, "one timer for every deadline");
  await clock.advance(9);
  assert.equal(fired.length, 0, "nothing before the first deadline");
  await clock.advance(41);
  assert.deepEqual(fired.map((f) => f.name), ["a", "b", "c"]);
  assert.ok(
    fired.every((f) => f.late >= 0 && f.late < RESOLUTION_MS),
    "due, at most a bucket late",
  );
  assert.equal(s.size, 0);
  assert.equal(clock.pending, 0, "no timer left armed");
});

Deno.test("DeadlineScheduler cancel stops a deadline and leaves the rest", async () => {
  const { clock, scheduler: s } = scheduler();
  const fired: string[] = [];
  const keep = s.schedule(START + 15, () => fired.push("keep"));
  const drop = s.schedule(START + 15, () => fired.push("drop"));
  const later = s.schedule(START + 40, () => fired.push("later"));
  s.cancel(drop);
  s.cancel(later);
  assert.equal(s.size, 1);
  await clock.advance(100);
  assert.deepEqual(fired, ["keep"], "cancelled deadlines never fire");
  s.cancel(keep); // after firing: a no-op
  assert.equal(s.size, 0);
  const only = s.schedule(START + 200, () => fired.push("only"));
  s.cancel(only);
  assert.equal(clock.pending, 0, "cancelling the last deadline disarms the timer");
});

Deno.test("DeadlineScheduler re-arms for an earlier deadline and for ones added while firing", async () => {
  const { clock, scheduler: s } = scheduler();
  const fired: string[] = [];
  s.schedule(START + 2_000, () => fired.push("late"));
  s.schedule(START + 5, () => {
    fired.push("early");
    s.schedule(clock.now() + 5, () => fired.push("chained"));
  });
  assert.equal(clock.nextTimer, START + 5, "armed for the earlier deadline");
  await clock.advance(20);
  assert.deepEqual(fired, ["early", "chained"], "the early ones did not wait for the late one");
  await clock.advance(2_000);
  assert.deepEqual(fired, ["early", "chained", "late"]);
});

Deno.test("DeadlineScheduler on the system clock fires a real deadline", async () => {
  const s = new DeadlineScheduler();
  const at = Date.now() + 10;
  const fired = new Promise<number>((resolve) => s.schedule(at, () => resolve(Date.now())));
  assert.ok(await fired >= at, "never before its deadline");
});

Deno.test("deadlinesFor gives one scheduler per clock and the shared one for the system clock", () => {
  const clock = new ManualClock(START);
  assert.equal(deadlinesFor(systemClock), deadlines);
  assert.equal(deadlinesFor(clock), deadlinesFor(clock));
  assert.notEqual(deadlinesFor(clock), deadlines);
});
