/**
 * Scheduled events with an injected clock: slots fire at their times, never twice across engine
 * restarts on the same data folder, and missed slots follow each schedule's policy (`once`: the
 * latest missed slot fires once on start, flagged `catchUp`; `skip`: none).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine, type DeliveryEvent, type Engine, ManualClock } from "../mod.ts";
import { SCHEDULE_TOPIC } from "../engine/base/topic.ts";
import { FAST, manifest, writeBundle } from "./_helpers.ts";
import { DATA_PERMISSIONS, fileRecorderModule, readSeen } from "./_events.ts";

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const MIN = 60_000;
const at = (minutes: number, seconds = 0) => T0 + minutes * MIN + seconds * 1_000;
const iso = (time: number) => new Date(time).toISOString();

/** Firings as `[cron, scheduledAt, catchUp]`, sorted (deliveries of one slot run in any order). */
const rows = (fired: Scheduled[]) =>
  fired.map((e) => [e.cron, e.scheduledAt, e.catchUp] as const).sort((a, b) =>
    `${a[1]} ${a[0]}`.localeCompare(`${b[1]} ${b[0]}`)
  );

interface Scheduled {
  bundle: string;
  cron: string;
  scheduledAt: string;
  catchUp: boolean;
}

/** A temporary data folder; engines on it run on a manual clock. */
async function site() {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-schedule-" });
  const dataDir = `${root}/.bundlehost`;
  let engine: Engine | undefined;
  const outcomes: DeliveryEvent[] = [];
  return {
    dataDir,
    outcomes,
    /** (Re)starts the engine at `now`. */
    async start(now: number): Promise<{ engine: Engine; clock: ManualClock }> {
      await engine?.close();
      const clock = new ManualClock(now);
      engine = await createEngine({
        ...FAST,
        dataDir,
        events: { clock, pollMs: 24 * 60 * MIN },
      });
      engine.events.on("delivery", (e) => outcomes.push(e));
      // Timers due now (the first scan, a catch-up's delivery) run without moving time.
      const started = engine;
      await clock.advance(0, () => started.eventBus.idle());
      return { engine, clock };
    },
    /** Moves the clock, letting every firing and delivery finish on the way. */
    async advanceTo(clock: ManualClock, time: number): Promise<void> {
      // First let work already started (a schedule armed by a start) finish at the current time.
      await engine!.eventBus.idle();
      await clock.advanceTo(time, () => engine!.eventBus.idle());
    },
    async seen(): Promise<Scheduled[]> {
      const lines = await readSeen(dataDir, "reports");
      for (const line of lines) assert.equal(line.topic, SCHEDULE_TOPIC);
      return lines.map((line) => line.payload as Scheduled);
    },
    async [Symbol.asyncDispose]() {
      await engine?.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

async function releaseReports(engine: Engine, root: string): Promise<void> {
  const dir = await writeBundle(
    `${root}/src`,
    manifest("reports", {
      services: { Reports: "1.0.0" },
      permissions: DATA_PERMISSIONS,
      schedule: {
        "*/5 * * * *": "Reports.handle",
        "*/10 * * * *": { handler: "Reports.handle", missed: "skip" },
      },
    }),
    { "mod.ts": fileRecorderModule("Reports") },
  );
  await engine.registry.release({ path: dir });
}

Deno.test("Scheduler fires each slot at its time", async () => {
  await using s = await site();
  const { engine, clock } = await s.start(at(1, 30));
  await releaseReports(engine, s.dataDir);
  await s.advanceTo(clock, at(4, 59));
  assert.deepEqual(await s.seen(), [], "a new schedule does not fire slots before it existed");

  await s.advanceTo(clock, at(21));
  const seen = await s.seen();
  const five = seen.filter((e) => e.cron === "*/5 * * * *").map((e) => e.scheduledAt);
  const ten = seen.filter((e) => e.cron === "*/10 * * * *").map((e) => e.scheduledAt);
  assert.deepEqual(five, [at(5), at(10), at(15), at(20)].map(iso));
  assert.deepEqual(ten, [at(10), at(20)].map(iso));
  assert.ok(seen.every((e) => e.bundle === "reports" && e.catchUp === false));
  // Each firing was stored at its slot's time (the event's publishedAt is the clock at firing).
  for (const line of await readSeen(s.dataDir, "reports")) {
    assert.equal(line.publishedAt, (line.payload as Scheduled).scheduledAt);
  }
  assert.ok(s.outcomes.every((e) => e.outcome === "delivered" && e.delivery.kind === "schedule"));
  const marks = (await engine.eventBus.stats()).schedules.map((m) => [m.key, m.mark]);
  assert.deepEqual(marks, [["reports */5 * * * *", iso(at(20))], [
    "reports */10 * * * *",
    iso(at(20)),
  ]]);
});

Deno.test("Scheduler never fires a slot twice across restarts and catches up missed slots once", async () => {
  await using s = await site();
  let { engine, clock } = await s.start(at(1, 30));
  await releaseReports(engine, s.dataDir);
  await s.advanceTo(clock, at(5));
  const count = async () => (await s.seen()).length;
  assert.equal(await count(), 1, "*/5 fired 00:05");

  // Restart within the same slot: 00:05 was fired, and fires no more.
  ({ engine, clock } = await s.start(at(5, 30)));
  await s.advanceTo(clock, at(9, 59));
  assert.equal(await count(), 1);
  await s.advanceTo(clock, at(10));
  assert.deepEqual(
    rows((await s.seen()).slice(1)),
    [["*/10 * * * *", iso(at(10)), false], ["*/5 * * * *", iso(at(10)), false]],
  );

  // Down from 00:10:30 to 00:27:10: */5 missed 00:15, 00:20, 00:25 and fires 00:25 once;
  // */10 (missed: "skip") missed 00:20 and fires nothing for it.
  ({ engine, clock } = await s.start(at(27, 10)));
  const caughtUp = (await s.seen()).slice(3);
  assert.deepEqual(rows(caughtUp), [
    ["*/5 * * * *", iso(at(25)), true],
  ]);
  const line = (await readSeen(s.dataDir, "reports")).at(-1)!;
  assert.equal(line.publishedAt, iso(at(27, 10)), "the catch-up fires on start");
  await s.advanceTo(clock, at(30));
  assert.deepEqual(rows((await s.seen()).slice(4)), [
    ["*/10 * * * *", iso(at(30)), false],
    ["*/5 * * * *", iso(at(30)), false],
  ]);

  // A stopped bundle's schedules are disarmed; starting it again catches up once.
  await engine.registry.stop("reports");
  await s.advanceTo(clock, at(46));
  assert.equal(await count(), 6);
  await engine.registry.start("reports");
  await s.advanceTo(clock, at(46, 1));
  assert.deepEqual(rows((await s.seen()).slice(6)), [
    ["*/5 * * * *", iso(at(45)), true],
  ]);
  const ids = (await readSeen(s.dataDir, "reports")).map((l) => l.id);
  assert.equal(new Set(ids).size, ids.length, "every firing is its own event");
});
