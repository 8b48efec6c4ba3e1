import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { EventGuard, resolveLimits } from "./guard.ts";
import { KeyedBuckets } from "./rate_limit.ts";
import { BundlehostError } from "../base/errors.ts";

function code(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof BundlehostError, String(error));
    return error.code;
  }
}

Deno.test("KeyedBuckets allows a burst, then refills at the rate on the injected clock", async () => {
  const clock = new ManualClock(0);
  const buckets = new KeyedBuckets({ rate: 10, burst: 5 }, clock);
  const taken = Array.from({ length: 8 }, () => buckets.take("a"));
  assert.deepEqual(taken, [true, true, true, true, true, false, false, false]);
  assert.equal(buckets.take("b"), true, "another key has its own bucket");
  await clock.advance(100); // One token at 10/s.
  assert.equal(buckets.take("a"), true);
  assert.equal(buckets.take("a"), false);
  await clock.advance(60_000);
  assert.equal(Array.from({ length: 6 }, () => buckets.take("a")).filter(Boolean).length, 5);
});

Deno.test("KeyedBuckets forgets the least recently used key beyond its cap", () => {
  const clock = new ManualClock(0);
  const buckets = new KeyedBuckets({ rate: 1, burst: 1 }, clock, 3);
  for (const key of ["a", "b", "c", "d", "e"]) buckets.take(key);
  assert.equal(buckets.size, 3);
  assert.throws(() => new KeyedBuckets({ rate: 0, burst: 1 }, clock), RangeError);
});

Deno.test("EventGuard refuses over the topic and bundle rates, the budget and the hops, counting each", () => {
  const clock = new ManualClock(0);
  const guard = new EventGuard(
    resolveLimits({ topicRate: 2, bundlePublishRate: 1, detachedRate: 1, detachedBurst: 2 }),
    clock,
    8,
  );
  assert.equal(code(() => guard.takePublish("t")), undefined);
  assert.equal(code(() => guard.takePublish("t")), undefined);
  assert.equal(code(() => guard.takePublish("t")), "THROTTLED");
  assert.equal(code(() => guard.takePublish("u", "b1")), undefined);
  assert.equal(code(() => guard.takePublish("v", "b1")), "THROTTLED");
  assert.equal(code(() => guard.checkBudget("t", 256 * 1024 * 1024, 1)), "STORE_FULL");
  assert.equal(code(() => guard.checkHops(8, "x")), undefined);
  assert.equal(code(() => guard.checkHops(9, "x")), "HOP_LIMIT");
  assert.equal(code(() => guard.takeDetached("b1", "call")), undefined);
  assert.equal(code(() => guard.takeDetached("b1", "call")), undefined);
  assert.equal(code(() => guard.takeDetached("b1", "publish")), "THROTTLED");
  assert.deepEqual(guard.counters, {
    throttled: 2,
    storeFull: 1,
    hopLimited: 1,
    detachedThrottled: 1,
  });
  assert.throws(() => resolveLimits({ maxStoreBytes: 0 }), /events.maxStoreBytes/);
});
