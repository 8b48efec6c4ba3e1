import assert from "node:assert/strict";
import { ConnectionTable } from "./connection_table.ts";

/** A table whose closes are recorded by name. */
function table(max: number, headTimeoutMs = 5_000) {
  const closed: string[] = [];
  const t = new ConnectionTable(max, headTimeoutMs);
  const admit = (name: string, now: number) => t.admit(now, () => closed.push(name));
  return { t, closed, admit };
}

Deno.test("ConnectionTable closes idle connections once the head timeout has passed", () => {
  const { t, closed, admit } = table(10, 5_000);
  admit("a", 0);
  admit("b", 1_000);
  assert.equal(t.sweep(4_999), 0);
  assert.equal(t.sweep(5_000), 1);
  assert.deepEqual(closed, ["a"]);
  assert.equal(t.sweep(6_000), 1);
  assert.deepEqual(closed, ["a", "b"]);
  assert.equal(t.counts().timedOut, 2);
  // Closing until their descriptors are freed.
  assert.equal(t.closing, 2);
  assert.equal(t.counts().open, 2);
});

Deno.test("ConnectionTable never times out a connection with a request in flight", () => {
  const { t, closed, admit } = table(10, 1_000);
  const entry = admit("busy", 0)!;
  t.begin(entry);
  assert.equal(t.sweep(60_000), 0);
  assert.deepEqual(closed, []);
  // Idle again: the next head has its own full timeout, counted from the end of the request.
  t.end(entry, 60_000);
  assert.equal(t.sweep(60_999), 0);
  assert.equal(t.sweep(61_000), 1);
  assert.deepEqual(closed, ["busy"]);
});

Deno.test("ConnectionTable closes the connection idle the longest to make room at the cap", async () => {
  const { t, closed, admit } = table(3);
  const a = admit("a", 0)!;
  const b = admit("b", 1)!;
  admit("c", 2);
  // a served a request and went idle last: b is now the longest idle.
  t.begin(a);
  t.end(a, 3);
  assert.equal(t.makeRoom(), "wait");
  assert.deepEqual(closed, ["b"]);
  // b still holds its descriptor: no second eviction, no admission.
  assert.equal(t.makeRoom(), "wait");
  assert.equal(admit("d", 4), undefined);
  assert.deepEqual(closed, ["b"]);
  const freed = t.freed();
  t.remove(b);
  await freed;
  assert.equal(t.makeRoom(), "room");
  assert.ok(admit("e", 5));
  assert.deepEqual(t.counts(), { open: 3, busy: 0, timedOut: 0, evicted: 1, refused: 1 });
});

Deno.test("ConnectionTable finds no room when every connection is busy", () => {
  const { t, closed, admit } = table(2);
  t.begin(admit("a", 0)!);
  t.begin(admit("b", 0)!);
  assert.equal(t.makeRoom(), "busy");
  assert.equal(admit("c", 1), undefined);
  assert.deepEqual(closed, []);
  assert.equal(t.counts().refused, 1);
});

Deno.test("ConnectionTable forgets closed connections and frees their slots", () => {
  const { t, closed, admit } = table(1);
  const a = admit("a", 0)!;
  t.begin(a);
  t.remove(a);
  // The handler returning after the close must not bring the connection back.
  t.end(a, 1);
  assert.equal(t.counts().open, 0);
  assert.ok(admit("b", 2));
  assert.deepEqual(closed, []);
});

Deno.test("ConnectionTable rejects a cap that is not a positive integer", () => {
  assert.throws(() => new ConnectionTable(0, 1_000), RangeError);
  assert.throws(() => new ConnectionTable(1.5, 1_000), RangeError);
});
