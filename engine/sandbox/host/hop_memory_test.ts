import assert from "node:assert/strict";
import { HOP_WINDOW_MS, HopMemory } from "./hop_memory.ts";
import { ManualClock } from "../../base/clock.ts";

const CALL = { service: "S", method: "m", input: null, deadline: 0 };

Deno.test("HopMemory keeps the deepest recent call, ignores calls made outside any call, and forgets", async () => {
  const clock = new ManualClock(0);
  const memory = new HopMemory(clock);
  assert.deepEqual(memory.inherited(), { hops: 0 });
  memory.remember({ ...CALL, hops: 6, traceparent: "t6" });
  memory.remember({ ...CALL, hops: 0 }); // A hop-0 call from anyone cannot reset it.
  memory.remember({ ...CALL, hops: 8, detached: true });
  assert.deepEqual(memory.inherited(), { hops: 6, traceparent: "t6" });
  await clock.advance(HOP_WINDOW_MS); // Still in the previous window.
  memory.remember({ ...CALL, hops: 2 });
  assert.equal(memory.inherited().hops, 6);
  await clock.advance(HOP_WINDOW_MS);
  assert.equal(memory.inherited().hops, 2);
  await clock.advance(2 * HOP_WINDOW_MS);
  assert.deepEqual(memory.inherited(), { hops: 0 });
});
