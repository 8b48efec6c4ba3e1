import assert from "node:assert/strict";
import { ManualClock } from "../../base/clock.ts";
import { serialize } from "node:v8";
import { ChannelBudget, resolveChannelLimits } from "./channel_limits.ts";
import { GuestInbox } from "./inbox.ts";
import { countSerializedValues } from "./value_scan.ts";

Deno.test("countSerializedValues counts what the decoder would build, and stops at the cap", () => {
  const backing = new Uint8Array(16);
  const value = {
    view: backing.subarray(4, 8),
    buffer: new ArrayBuffer(3),
    floats: new Float32Array(2),
    map: new Map([["k", new Set([1n, -2])]]),
    date: new Date(1),
    error: new RangeError("r"),
    nested: [undefined, null, { deep: "x€" }, true, false, 1.5, 2 ** 40],
    sparse: Object.assign(new Array(10), { 3: "s" }),
    regexp: /a+/gi,
    shared: [backing, backing],
  };
  const payload = serialize(value);
  const scan = countSerializedValues(payload, 1_000);
  assert.ok(scan.ok, JSON.stringify(scan));
  assert.ok(scan.values >= 30 && scan.values < 60, `${scan.values} values`);
  assert.deepEqual(countSerializedValues(serialize([[], {}]), 3), { ok: true, values: 3 });
  const many = serialize(Array.from({ length: 1_000 }, () => ({})));
  const over = countSerializedValues(many, 500);
  assert.ok(!over.ok && /holds more than 500 values/.test(over.reason));
});

Deno.test("countSerializedValues refuses truncated, headerless and unknown input", () => {
  const payload = serialize({ a: "long string" });
  const cut = countSerializedValues(payload.subarray(0, payload.byteLength - 3), 100);
  assert.ok(!cut.ok && /malformed: truncated/.test(cut.reason), JSON.stringify(cut));
  const headless = countSerializedValues(Uint8Array.of(0x6f, 0x7b, 0), 100);
  assert.ok(!headless.ok && /no serialization header/.test(headless.reason));
  const unknown = countSerializedValues(Uint8Array.of(0xff, 0x0f, 0x01), 100);
  assert.ok(!unknown.ok && /serialization tag 0x1/.test(unknown.reason), JSON.stringify(unknown));
});

Deno.test("ChannelBudget enforces a tenth of each per-second budget per 100 ms window", async () => {
  const clock = new ManualClock(0);
  const limits = resolveChannelLimits({ maxMessagesPerSecond: 100, maxBytesPerSecond: 1_000 });
  const budget = new ChannelBudget(limits, clock);
  for (let i = 0; i < 10; i++) assert.equal(budget.charge(1, 10), undefined);
  assert.match(budget.charge(1, 0)!, /11 messages within 100 ms exceed the budget of 100 messages/);
  await clock.advance(99);
  assert.match(budget.charge(1, 0)!, /12 messages/, "the same window until 100 ms passed");
  await clock.advance(1); // a new window
  assert.equal(budget.charge(10, 100), undefined);
  assert.match(budget.charge(0, 1)!, /101 bytes within 100 ms exceed the budget of 1000 bytes/);
  assert.throws(() => resolveChannelLimits({ maxMessageValues: 0 }), /maxMessageValues must be/);
});

Deno.test("GuestInbox charges only messages the engine did not ask for", () => {
  const delivered: unknown[] = [];
  const failures: string[] = [];
  const inbox = new GuestInbox({
    limits: resolveChannelLimits({ maxMessagesPerSecond: 10 }), // one per 100 ms window
    clock: new ManualClock(0),
    deliver: (value) => delivered.push(value),
    fail: (reason) => failures.push(reason),
    solicited: (value) => (value as { type?: string }).type === "reply",
  });
  for (let id = 0; id < 100; id++) inbox.value({ type: "reply", id });
  assert.equal(delivered.length, 100);
  inbox.value({ type: "log" });
  assert.deepEqual(failures, []);
  inbox.value({ type: "log" });
  assert.equal(failures.length, 1);
  assert.match(failures[0]!, /2 messages within 100 ms exceed the budget of 10 messages/);
  inbox.value({ type: "reply", id: 1 });
  assert.equal(delivered.length, 101, "nothing is delivered once the sandbox is failed");
});
