import assert from "node:assert/strict";
import { FrameDecoder } from "../wire/framing.ts";
import { ChildInput } from "./child_input.ts";

/** A pipe that records its writes and finishes each only when told. */
function pipe() {
  const writes: Uint8Array[] = [];
  const finish: (() => void)[] = [];
  const stream = new WritableStream<Uint8Array>({
    write(chunk) {
      writes.push(chunk);
      return new Promise<void>((resolve) => finish.push(resolve));
    },
  });
  return { writer: stream.getWriter(), writes, finish };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("Messages sent in one tick leave the engine in one write, as frames", async () => {
  const { writer, writes } = pipe();
  const input = new ChildInput(writer, 1024 * 1024, () => true);
  input.send({ type: "ping", id: 1 });
  input.send({ type: "ping", id: 2 });
  await tick();
  assert.equal(writes.length, 1);
  const decoded: unknown[] = [];
  const decoder = new FrameDecoder({
    onFrame: (value) => decoded.push(value),
    onInvalid: (why) => assert.fail(why),
    onStray: () => assert.fail("stray bytes"),
  });
  decoder.push(writes[0]!);
  assert.deepEqual(decoded, [{ type: "ping", id: 1 }, { type: "ping", id: 2 }]);
});

Deno.test("A child that stops reading its input fails the sends past the bound, not the engine", async () => {
  const { writer, finish } = pipe();
  const maxFrameBytes = 64 * 1024;
  const input = new ChildInput(writer, maxFrameBytes, () => true);
  const chunk = { type: "call", data: "x".repeat(20 * 1024) };
  let sent = 0;
  let refused: unknown;
  for (let i = 0; i < 20 && refused === undefined; i++) {
    try {
      input.send(chunk);
      sent++;
    } catch (error) {
      refused = error;
    }
    await tick(); // each send leaves in a write the child never finishes reading
  }
  assert.ok(refused instanceof RangeError, "a send past the bound fails");
  assert.match(
    (refused as Error).message,
    /The bundle is not reading its input \(\d+ bytes queued\)/,
  );
  assert.ok(sent >= 5 && sent <= 7, `about two frames' worth went out first (${sent} sends)`);
  // Once the child reads again, the engine may send again.
  for (const done of finish.splice(0)) done();
  await tick();
  input.send(chunk);
});

Deno.test("After the child ended, a message is still checked but nothing is written", async () => {
  const { writer, writes } = pipe();
  const input = new ChildInput(writer, 1024, () => false);
  input.send({ type: "ping", id: 1 });
  assert.throws(() => input.send({ type: "call", data: "x".repeat(4096) }), RangeError);
  await tick();
  assert.equal(writes.length, 0);
});
