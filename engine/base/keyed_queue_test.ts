/**
 * `keyed_queue.ts`: operations on one bundle id run one at a time in the order asked, a failure
 * (thrown or rejected) releases the lock and reaches only its own caller, other ids are not held
 * up, and nothing is kept for an id once its operations are done.
 *
 * @module
 */
import assert from "node:assert/strict";
import { KeyedQueue } from "./keyed_queue.ts";

/** Lets every pending promise callback run. */
const turn = () => new Promise((r) => setTimeout(r, 0));

Deno.test("KeyedQueue runs operations on one id one after another, in order", async () => {
  const locks = new KeyedQueue();
  const log: string[] = [];
  const gate = Promise.withResolvers<void>();
  const first = locks.run("a", async () => {
    log.push("first start");
    await gate.promise;
    log.push("first end");
    return 1;
  });
  const second = locks.run("a", () => {
    log.push("second");
    return Promise.resolve(2);
  });
  const third = locks.run("a", () => {
    log.push("third");
    return Promise.resolve(3);
  });
  await turn();
  assert.deepEqual(log, ["first start"], "later operations wait for the first");
  assert.equal(locks.held, 1);
  gate.resolve();
  assert.deepEqual(await Promise.all([first, second, third]), [1, 2, 3]);
  assert.deepEqual(log, ["first start", "first end", "second", "third"]);
});

Deno.test("KeyedQueue releases the lock after a failure and keeps the error with its caller", async () => {
  const locks = new KeyedQueue();
  const rejected = locks.run("a", () => Promise.reject(new RangeError("rejected")));
  const thrown = locks.run("a", () => {
    throw new TypeError("thrown");
  });
  const after = locks.run("a", () => Promise.resolve("after"));
  await assert.rejects(rejected, RangeError);
  await assert.rejects(thrown, TypeError);
  assert.equal(await after, "after");
});

Deno.test("KeyedQueue does not hold one id up behind another", async () => {
  const locks = new KeyedQueue();
  const gate = Promise.withResolvers<void>();
  const blocked = locks.run("a", () => gate.promise.then(() => "a"));
  assert.equal(await locks.run("b", () => Promise.resolve("b")), "b");
  await turn();
  assert.equal(locks.held, 1, "only the blocked id is held");
  gate.resolve();
  assert.equal(await blocked, "a");
});

Deno.test("KeyedQueue keeps nothing for an id once its operations are done", async () => {
  const locks = new KeyedQueue();
  const runs = Array.from(
    { length: 100 },
    (_, i) =>
      locks.run(
        `id-${i % 10}`,
        () => i % 3 === 0 ? Promise.reject(new Error("no")) : Promise.resolve(i),
      ),
  );
  assert.equal(locks.held, 10);
  await Promise.allSettled(runs);
  await turn();
  assert.equal(locks.held, 0);
});

Deno.test("KeyedQueue keeps an id's queue while a later operation still runs", async () => {
  const locks = new KeyedQueue();
  const log: string[] = [];
  const first = Promise.withResolvers<void>();
  const second = Promise.withResolvers<void>();
  const a = locks.run("a", () => first.promise);
  const b = locks.run("a", async () => {
    await second.promise;
    log.push("second end");
  });
  first.resolve();
  await a;
  await turn();
  assert.equal(locks.held, 1, "the second operation still holds the id");
  const c = locks.run("a", () => {
    log.push("third");
    return Promise.resolve();
  });
  await turn();
  assert.deepEqual(log, [], "the third waits for the second");
  second.resolve();
  await Promise.all([b, c]);
  assert.deepEqual(log, ["second end", "third"]);
});
