import assert from "node:assert/strict";
import { droppedNote, LOG_GATE_PER_WINDOW, LogGate } from "./log_gate.ts";

/** A gate on a manual clock whose reports and scheduled flushes the test controls. */
function manualGate() {
  const clock = { now: 0 };
  const reports: number[] = [];
  const scheduled: (() => void)[] = [];
  const gate = new LogGate((n) => reports.push(n), () => clock.now, (f) => scheduled.push(f));
  return { gate, clock, reports, scheduled };
}

Deno.test("LogGate bounds records per synchronous run, however long it takes", async () => {
  const { gate, clock, reports } = manualGate();
  let admitted = 0;
  for (let i = 0; i < 3 * LOG_GATE_PER_WINDOW; i++) {
    clock.now = i; // the run spans many 100 ms windows
    if (gate.admit()) admitted++;
  }
  assert.equal(admitted, LOG_GATE_PER_WINDOW);
  await Promise.resolve(); // the run ends
  clock.now = 10_000;
  assert.equal(gate.admit(), true);
  assert.deepEqual(reports, [2 * LOG_GATE_PER_WINDOW], "reported before the next record passes");
  assert.match(droppedNote(1000).message, /^1000 log records dropped in the sandbox/);
  assert.equal(droppedNote(1000).dropped, 1000);
});

Deno.test("LogGate bounds records per 100 ms across runs", async () => {
  const { gate, clock, reports } = manualGate();
  let admitted = 0;
  for (let i = 0; i < 2 * LOG_GATE_PER_WINDOW; i++) {
    if (gate.admit()) admitted++;
    await Promise.resolve(); // each record in its own run
  }
  assert.equal(admitted, LOG_GATE_PER_WINDOW);
  clock.now = 100;
  assert.equal(gate.admit(), true);
  assert.deepEqual(reports, [LOG_GATE_PER_WINDOW]);
});

Deno.test("LogGate reports the tail of a flood once its flush runs, with no record after it", () => {
  const { gate, reports, scheduled } = manualGate();
  for (let i = 0; i < LOG_GATE_PER_WINDOW + 7; i++) gate.admit();
  assert.deepEqual(reports, []);
  assert.equal(scheduled.length, 1, "one flush scheduled for the whole flood");
  scheduled[0]!();
  assert.deepEqual(reports, [7]);
  scheduled[0]!();
  assert.deepEqual(reports, [7], "nothing reported twice");
});
