import assert from "node:assert/strict";
import { ConcurrencyLimiter, QpsLimiter } from "./throttle.ts";

Deno.test("QpsLimiter admits exactly qps calls per window and rejects the rest", async () => {
  let now = 10_000;
  const limiter = new QpsLimiter("test", 5, 0, () => now);
  const results = await Promise.allSettled(Array.from({ length: 12 }, () => limiter.acquire()));
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 5);
  const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  assert.equal(rejected.length, 7);
  assert.equal(rejected[0]!.reason.code, "THROTTLED");
  now += 1001;
  await limiter.acquire();
});

Deno.test("QpsLimiter paces queued calls and refuses waits beyond maxQueueingTimeMs", async () => {
  const limiter = new QpsLimiter("test", 100, 25);
  const admitted: number[] = [];
  const calls = Array.from({ length: 6 }, (_, i) => limiter.acquire().then(() => admitted.push(i)));
  const all = Promise.allSettled(calls);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(admitted, [0], "only the first call passes at once; the next ones are queued");
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
  assert.deepEqual(admitted, [0, 1, 2], "queued calls are admitted in order");
});

Deno.test("ConcurrencyLimiter bounds calls in flight and hands slots to waiters", async () => {
  const limiter = new ConcurrencyLimiter("test", 2, 1000);
  const a = await limiter.acquire();
  const b = await limiter.acquire();
  assert.equal(limiter.active, 2);
  let third = false;
  const waiting = limiter.acquire().then((release) => {
    third = true;
    return release;
  });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(third, false);
  a();
  a(); // releasing twice is harmless
  const c = await waiting;
  assert.equal(limiter.active, 2);
  b();
  c();
  assert.equal(limiter.active, 0);
  const rejecting = new ConcurrencyLimiter("test", 1, 0);
  const only = await rejecting.acquire();
  await assert.rejects(rejecting.acquire(), { code: "THROTTLED" });
  only();
});
