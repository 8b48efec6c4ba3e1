/**
 * The reserve of pre-spawned workers (`engine/sandbox/host/worker_reserve.ts`): it spawns nothing
 * until asked to refill, never in the caller's turn, hands out what it holds, drops a spare that fails to start, and terminates
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

Deno.test("WorkerReserve spawns nothing until asked, hands out its spares, and refills", async () => {
  const { spawned, spawn } = counting();
  const reserve = new WorkerReserve(spawn, 2);
  try {
    assert.equal(reserve.take(), undefined, "empty at first");
    assert.equal(spawned.length, 0, "a take spawns nothing: that would block the caller");
    reserve.refillSoon();
    reserve.refillSoon();
    assert.equal(spawned.length, 0, "not in the caller's turn either");
    await waitFor(() => reserve.idle === 2, 10_000, "the reserve to fill");
    assert.equal(spawned.length, 2);
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
  reserve.refill();
  reserve.refillSoon();
  assert.equal(spawned.length, 4, "and spawns nothing more");
});

Deno.test("WorkerReserve refills one spare per turn, so a request waits for one spawn at most", async () => {
  const { spawned, spawn } = counting();
  const reserve = new WorkerReserve(spawn, 2);
  try {
    reserve.refillSoon();
    // The reserve's turn was queued before this one: it has run, and spawned one spare only.
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(spawned.length, 1, "one spawn in the first turn");
    await waitFor(() => reserve.idle === 2, 10_000, "the second spare, in a later turn");
    assert.equal(spawned.length, 2);
    reserve.take()?.terminate();
    reserve.refillSoon();
    await waitFor(() => reserve.idle === 2, 10_000, "the refill of the spare taken");
    assert.equal(spawned.length, 3, "only what was taken is spawned again");
  } finally {
    reserve.close();
  }
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
