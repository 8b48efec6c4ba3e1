import assert from "node:assert/strict";
import { droppedNote, LOG_GATE_PER_WINDOW, LogGate } from "./log_gate.ts";

const admitted = (results: (number | false)[]) => results.filter((r) => r !== false).length;

Deno.test("LogGate bounds records per synchronous run, however long it takes", async () => {
  let now = 0;
  const gate = new LogGate(() => now);
  const run: (number | false)[] = [];
  for (let i = 0; i < 3 * LOG_GATE_PER_WINDOW; i++) {
    now = i; // the run spans many 100 ms windows
    run.push(gate.admit());
  }
  assert.equal(admitted(run), LOG_GATE_PER_WINDOW);
  await Promise.resolve(); // the run ends
  now = 10_000;
  const dropped = 2 * LOG_GATE_PER_WINDOW;
  assert.equal(gate.admit(), dropped, "the next record that passes reports the dropped ones");
  assert.match(droppedNote(dropped).message, /^1000 log records dropped in the sandbox/);
});

Deno.test("LogGate bounds records per 100 ms across runs", async () => {
  let now = 0;
  const gate = new LogGate(() => now);
  const results: (number | false)[] = [];
  for (let i = 0; i < 2 * LOG_GATE_PER_WINDOW; i++) {
    results.push(gate.admit());
    await Promise.resolve(); // each record in its own run
  }
  assert.equal(admitted(results), LOG_GATE_PER_WINDOW);
  now = 100;
  assert.equal(gate.admit(), LOG_GATE_PER_WINDOW);
});
