import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { cronProblem, CronSlots } from "./cron.ts";

const t = (iso: string) => Date.parse(iso);

Deno.test("CronSlots gives the next slot after and the latest slot at or before a time", () => {
  const slots = new CronSlots("*/5 * * * *");
  assert.equal(slots.next(t("2026-01-01T00:03:00Z")), t("2026-01-01T00:05:00Z"));
  assert.equal(slots.next(t("2026-01-01T00:05:00Z")), t("2026-01-01T00:10:00Z"));
  assert.equal(slots.latest(t("2026-01-01T00:05:00Z")), t("2026-01-01T00:05:00Z"));
  assert.equal(slots.latest(t("2026-01-01T00:04:59.999Z")), t("2026-01-01T00:00:00Z"));
});

Deno.test("CronSlots reads an expression in its time zone", () => {
  // 09:00 in Tokyo (UTC+9, no DST) is midnight UTC.
  const tokyo = new CronSlots("0 9 * * *", "Asia/Tokyo");
  assert.equal(tokyo.next(t("2026-03-01T12:00:00Z")), t("2026-03-02T00:00:00Z"));
  const sixFields = new CronSlots("30 * * * * *");
  assert.equal(sixFields.next(t("2026-01-01T00:00:00Z")), t("2026-01-01T00:00:30Z"));
  assert.equal(new CronSlots("@daily").next(t("2026-01-01T01:00:00Z")), t("2026-01-02T00:00:00Z"));
});

Deno.test("cronProblem refuses malformed, one-off and never-firing expressions", () => {
  assert.equal(cronProblem("*/5 * * * *"), undefined);
  assert.equal(cronProblem("@hourly"), undefined);
  assert.match(cronProblem("*/5 * * *")!, /5 or 6/);
  assert.match(cronProblem("2026-01-01T00:00:00")!, /5 or 6/);
  assert.match(cronProblem("61 * * * *")!, /not a valid cron expression/);
  assert.equal(cronProblem("0 0 30 2 *"), "never fires");
});

Deno.test("ManualClock fires due timers in time order as it advances", async () => {
  const clock = new ManualClock(1_000);
  const fired: [string, number][] = [];
  clock.setTimeout(() => fired.push(["b", clock.now()]), 200);
  const cancelled = clock.setTimeout(() => fired.push(["x", clock.now()]), 50);
  clock.setTimeout(() => {
    fired.push(["a", clock.now()]);
    clock.setTimeout(() => fired.push(["c", clock.now()]), 100);
  }, 100);
  clock.clearTimeout(cancelled);
  await clock.advance(199);
  assert.deepEqual(fired, [["a", 1_100]]);
  assert.equal(clock.nextTimer, 1_200);
  await clock.advance(1);
  assert.deepEqual(fired, [["a", 1_100], ["b", 1_200], ["c", 1_200]]);
  assert.equal(clock.now(), 1_200);
  assert.equal(clock.nextTimer, undefined);
});
