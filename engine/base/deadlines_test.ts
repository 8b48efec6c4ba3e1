import assert from "node:assert/strict";
import { DeadlineScheduler } from "./deadlines.ts";

/** Polls until `check` holds (generous bound: the machine may be loaded). */
async function until(check: () => boolean): Promise<void> {
  const end = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not reached within 5 s");
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("DeadlineScheduler fires each deadline once, in time order, never before it is due", async () => {
  const scheduler = new DeadlineScheduler();
  const fired: { name: string; late: number }[] = [];
  const start = Date.now();
  for (const [name, after] of [["b", 30], ["a", 10], ["c", 50]] as const) {
    const at = start + after;
    scheduler.schedule(at, () => fired.push({ name, late: Date.now() - at }));
  }
  await until(() => fired.length === 3);
  assert.deepEqual(fired.map((f) => f.name), ["a", "b", "c"]);
  assert.ok(fired.every((f) => f.late >= 0), "never before the deadline");
  assert.equal(scheduler.size, 0);
});

Deno.test("DeadlineScheduler cancel stops a deadline and leaves the rest", async () => {
  const scheduler = new DeadlineScheduler();
  const fired: string[] = [];
  const now = Date.now();
  const keep = scheduler.schedule(now + 15, () => fired.push("keep"));
  const drop = scheduler.schedule(now + 15, () => fired.push("drop"));
  const later = scheduler.schedule(now + 40, () => fired.push("later"));
  scheduler.cancel(drop);
  scheduler.cancel(later);
  assert.equal(scheduler.size, 1);
  const marker = scheduler.schedule(now + 60, () => fired.push("marker"));
  await until(() => fired.includes("marker"));
  assert.deepEqual(fired, ["keep", "marker"], "cancelled deadlines never fire");
  scheduler.cancel(keep); // after firing: a no-op
  scheduler.cancel(marker);
  assert.equal(scheduler.size, 0);
});

Deno.test("DeadlineScheduler re-arms for an earlier deadline and for ones added while firing", async () => {
  const scheduler = new DeadlineScheduler();
  const fired: string[] = [];
  const now = Date.now();
  scheduler.schedule(now + 2_000, () => fired.push("late"));
  scheduler.schedule(now + 5, () => {
    fired.push("early");
    scheduler.schedule(Date.now() + 5, () => fired.push("chained"));
  });
  await until(() => fired.length >= 2);
  assert.deepEqual(fired, ["early", "chained"], "the early ones did not wait for the late one");
  await until(() => fired.length === 3);
  assert.deepEqual(fired, ["early", "chained", "late"]);
});
