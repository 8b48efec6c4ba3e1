import assert from "node:assert/strict";
import { ConcurrencyLimiter, QpsLimiter } from "./throttle.ts";
import { ManualClock } from "../base/clock.ts";

const START = Date.UTC(2026, 0, 1);

/** Lets promise callbacks of settled work run. */
const turn = () => new Promise((r) => setTimeout(r, 0));

Deno.test("QpsLimiter admits exactly qps calls per window and rejects the rest", async () => {
  const clock = new ManualClock(START);
  const limiter = new QpsLimiter("test", 5, 0, clock);
  const results = await Promise.allSettled(Array.from({ length: 12 }, () => limiter.acquire()));
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 5);
  const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  assert.equal(rejected.length, 7);
  assert.equal(rejected[0]!.reason.code, "THROTTLED");
  await clock.advance(999);
  await assert.rejects(limiter.acquire(), { code: "THROTTLED" }, "the window is not over yet");
  await clock.advance(2);
  await limiter.acquire();
});

Deno.test("QpsLimiter paces queued calls and refuses waits beyond maxQueueingTimeMs", async () => {
  const clock = new ManualClock(START);
  const limiter = new QpsLimiter("test", 100, 25, clock);
  const admitted: [number, number][] = [];
  const calls = Array.from(
    { length: 6 },
    (_, i) => limiter.acquire().then(() => admitted.push([i, clock.now() - START])),
  );
  const all = Promise.allSettled(calls);
  await turn();
  assert.deepEqual(admitted, [[0, 0]], "only the first call passes at once; the next are queued");
  await clock.advance(100);
  const settled = await all;
  // 10 ms apart: the 2nd and 3rd wait 10 and 20 ms; the others would wait more than 25 ms.
  assert.deepEqual(settled.map((r) => r.status), [
    "fulfilled",
    "fulfilled",
    "fulfilled",
    "rejected",
    "rejected",
    "rejected",
  ]);
  assert.deepEqual(admitted, [[0, 0], [1, 10], [2, 20]], "admitted in order, 1000 / qps apart");
});

Deno.test("QpsLimiter refuses a pacing wait that would end past the call's deadline", async () => {
  const clock = new ManualClock(START);
  const limiter = new QpsLimiter("test", 10, 500, clock);
  await limiter.acquire();
  await assert.rejects(limiter.acquire(START + 50), { code: "THROTTLED" });
  const paced = limiter.acquire(START + 100);
  await clock.advance(100);
  await paced;
});

Deno.test("ConcurrencyLimiter bounds calls in flight and hands slots to waiters", async () => {
  const clock = new ManualClock(START);
  const limiter = new ConcurrencyLimiter("test", 2, 1000, clock);
  const a = await limiter.acquire();
  const b = await limiter.acquire();
  assert.equal(limiter.active, 2);
  let third = false;
  const waiting = limiter.acquire().then((release) => {
    third = true;
    return release;
  });
  await clock.advance(999);
  assert.equal(third, false, "no slot yet, and the wait has not timed out");
  a();
  a(); // releasing twice is harmless
  const c = await waiting;
  assert.equal(clock.pending, 0, "the admitted waiter's timeout is cleared");
  assert.equal(limiter.active, 2);
  b();
  c();
  assert.equal(limiter.active, 0);
  const rejecting = new ConcurrencyLimiter("test", 1, 0, clock);
  const only = await rejecting.acquire();
  await assert.rejects(rejecting.acquire(), { code: "THROTTLED" });
  only();
});

Deno.test("ConcurrencyLimiter gives up on a wait at maxQueueingTimeMs or at the deadline", async () => {
  const clock = new ManualClock(START);
  const limiter = new ConcurrencyLimiter("test", 1, 1000, clock);
  const held = await limiter.acquire();
  const queued = limiter.acquire();
  const short = limiter.acquire(START + 200);
  const outcomes: string[] = [];
  queued.catch(() => outcomes.push(`queued at ${clock.now() - START}`));
  short.catch(() => outcomes.push(`short at ${clock.now() - START}`));
  await clock.advance(1000);
  assert.deepEqual(outcomes, ["short at 200", "queued at 1000"]);
  await assert.rejects(queued, { code: "THROTTLED" });
  await assert.rejects(limiter.acquire(START + 1000), { code: "THROTTLED" }, "deadline passed");
  held();
  assert.equal(limiter.active, 0);
});
