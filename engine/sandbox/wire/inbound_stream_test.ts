import assert from "node:assert/strict";
import { InboundStream } from "./inbound_stream.ts";
import { MAX_STREAM_CHUNK_BYTES, STREAM_WINDOW_BYTES } from "./streams.ts";

const chunk = (size: number) => new Uint8Array(size);

Deno.test("InboundStream refuses chunks past the credit, over the chunk limit and after the end", () => {
  const stream = new InboundStream({ grant() {}, cancel() {} });
  for (let sent = 0; sent < STREAM_WINDOW_BYTES; sent += MAX_STREAM_CHUNK_BYTES) {
    assert.equal(stream.push(chunk(MAX_STREAM_CHUNK_BYTES)), undefined);
  }
  // Nobody read: the window is full, and the queue holds exactly it.
  assert.equal(stream.queued, STREAM_WINDOW_BYTES);
  assert.match(stream.push(chunk(1))!, /1 bytes with only 0 bytes of credit/);
  assert.match(stream.push(chunk(MAX_STREAM_CHUNK_BYTES + 1))!, /over the 65536 byte limit/);
  stream.end();
  assert.match(stream.push(chunk(1))!, /after the end/);
});

Deno.test("InboundStream grants credit back as its reader reads, in quarter-window batches", async () => {
  const grants: number[] = [];
  const stream = new InboundStream({ grant: (bytes) => grants.push(bytes), cancel() {} });
  const reader = stream.readable.getReader();
  let read = 0;
  for (let round = 0; round < 8; round++) {
    assert.equal(stream.push(chunk(32 * 1024)), undefined);
    const { value } = await reader.read();
    read += value!.byteLength;
  }
  assert.equal(read, 8 * 32 * 1024);
  assert.deepEqual(grants, [65_536, 65_536, 65_536, 65_536]);
  // Credit came back: the sender may send a whole window again.
  for (let sent = 0; sent < STREAM_WINDOW_BYTES; sent += MAX_STREAM_CHUNK_BYTES) {
    assert.equal(stream.push(chunk(MAX_STREAM_CHUNK_BYTES)), undefined);
  }
  stream.end();
  let rest = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += value.byteLength;
  }
  assert.equal(rest, STREAM_WINDOW_BYTES);
});

Deno.test("InboundStream tells the sender when its reader cancels, and fails with a cut", async () => {
  const cancelled: string[] = [];
  const stream = new InboundStream({ grant() {}, cancel: (why) => cancelled.push(why) });
  await stream.readable.cancel(new Error("client left"));
  assert.deepEqual(cancelled, ["client left"]);
  assert.equal(stream.push(chunk(10)), undefined, "late chunks are dropped, not faults");

  const cut = new InboundStream({ grant() {}, cancel() {} });
  cut.push(chunk(10));
  cut.fail(new Error("Stream cut: too large"));
  await assert.rejects(cut.readable.getReader().read(), /Stream cut: too large/);
});
