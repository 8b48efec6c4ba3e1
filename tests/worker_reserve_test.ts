/**
 * The reserve of pre-spawned workers (`engine/sandbox/host/worker_reserve.ts`): it spawns nothing
 * until first used, hands out what it holds, drops a spare that fails to start, and terminates
 * every spare on close. The spares are real Web Workers; what a handed-out spare can reach is
 * attacked in `escape_handout_test.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { spawnSpare } from "../engine/sandbox/host/worker.ts";
import { WorkerReserve } from "../engine/sandbox/host/worker_reserve.ts";
import { waitFor } from "./_helpers.ts";

/** A spawn function that counts and keeps what it spawned. */
function counting(make: () => Worker = spawnSpare) {
  const spawned: Worker[] = [];
  return { spawned, spawn: () => spawned[spawned.push(make()) - 1]! };
}

Deno.test("WorkerReserve fills on first use, hands out its spares, and refills on demand", () => {
  const { spawned, spawn } = counting();
  const reserve = new WorkerReserve(spawn, 2);
  try {
    assert.equal(spawned.length, 0, "an unused reserve spawns nothing");
    assert.equal(reserve.take(), undefined, "empty at first use");
    assert.equal(reserve.idle, 2);
    const first = reserve.take();
    const second = reserve.take();
    assert.ok(first && second && first !== second);
    assert.deepEqual([first, second], spawned);
    assert.equal(reserve.idle, 0);
    reserve.refill();
    assert.equal(reserve.idle, 2);
    assert.equal(spawned.length, 4);
    first.terminate();
    second.terminate();
  } finally {
    reserve.close();
  }
  assert.equal(reserve.idle, 0);
  assert.equal(reserve.take(), undefined, "a closed reserve hands out nothing");
  assert.equal(spawned.length, 4, "and spawns nothing more");
});

Deno.test("WorkerReserve drops a spare that fails to start, without ending the process", async () => {
  const broken = () =>
    new Worker("data:text/javascript,throw new Error('spare failed')", { type: "module" });
  const { spawn } = counting(broken);
  const reserve = new WorkerReserve(spawn, 1);
  try {
    reserve.refill();
    assert.equal(reserve.idle, 1);
    await waitFor(() => reserve.idle === 0, 10_000, "the failed spare to be dropped");
  } finally {
    reserve.close();
  }
});
