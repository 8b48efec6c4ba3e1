import assert from "node:assert/strict";
import { MessageBatcher, unbatch } from "./batcher.ts";

/** Posts recorded as the list of messages each carried. */
function recorder(): { posts: unknown[][]; batcher: (busy?: () => boolean) => MessageBatcher } {
  const posts: unknown[][] = [];
  return {
    posts,
    batcher: (busy) =>
      new MessageBatcher((data) => {
        const messages: unknown[] = [];
        unbatch(data, (m) => messages.push(m));
        posts.push(messages);
      }, busy),
  };
}

const task = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("MessageBatcher posts what one tick sent in one post, and each tick on its own when idle", async () => {
  const { posts, batcher } = recorder();
  const b = batcher();
  b.send({ n: 1 });
  b.send({ n: 2 });
  await Promise.resolve();
  b.send({ n: 3 }); // A later microtask: the first batch went out already.
  await task();
  assert.deepEqual(posts, [[{ n: 1 }, { n: 2 }], [{ n: 3 }]]);
});

Deno.test("MessageBatcher waits for the event loop's I/O poll while the other side is busy", async () => {
  const { posts, batcher } = recorder();
  let busy = true;
  const b = batcher(() => busy);
  b.send({ n: 1 });
  await Promise.resolve();
  b.send({ n: 2 }); // Another request's message in the same turn joins the batch.
  await Promise.resolve();
  assert.deepEqual(posts, [], "nothing goes out before the turn ends");
  await task();
  assert.deepEqual(posts, [[{ n: 1 }, { n: 2 }]]);
  busy = false;
  b.send({ n: 3 });
  await Promise.resolve();
  assert.deepEqual(posts[1], [{ n: 3 }], "an idle side gets its message at once");
});

Deno.test("MessageBatcher re-posts one by one when a message cannot be cloned", async () => {
  const delivered: unknown[] = [];
  const refused: unknown[] = [];
  const b = new MessageBatcher((data) => {
    structuredClone(data);
    delivered.push(data);
  });
  b.send({ ok: 1 });
  b.send({ bad: () => 0 }, undefined, (error) => refused.push(error));
  b.send({ ok: 2 });
  await task();
  assert.deepEqual(delivered, [{ ok: 1 }, { ok: 2 }]);
  assert.equal(refused.length, 1);
  assert.ok(refused[0] instanceof DOMException);
});
