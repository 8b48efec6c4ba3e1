import assert from "node:assert/strict";
import { ManualClock } from "../../base/clock.ts";
import { deadlinesFor } from "../../base/deadlines.ts";
import { CallTimeoutError } from "../../base/errors.ts";
import type { AdmittedCall } from "../../call/request.ts";
import type { HostMessage } from "../wire/protocol.ts";
import { PendingRequests } from "./pending_requests.ts";

/** A table on a manual clock that records what it sends and what it hands back. */
function table(options: { refuse?: boolean; refusal?: Error } = {}) {
  const clock = new ManualClock(0);
  const sent: HostMessage[] = [];
  const cancelled: number[] = [];
  const expired: number[] = [];
  let undeliverable: ((error: unknown) => void) | undefined;
  const pending = new PendingRequests(deadlinesFor(clock), {
    refused: () => options.refusal,
    send(message, _transfer, onUndeliverable) {
      if (options.refuse) throw new Error("cannot clone");
      sent.push(message);
      undeliverable = onUndeliverable;
    },
    cancelled(id, p) {
      cancelled.push(id);
      p.reject(new Error(`cancelled ${p.label}`));
    },
    expired(id, p) {
      expired.push(id);
      p.reject(new Error(`expired ${p.label}`));
    },
  });
  return { clock, pending, sent, cancelled, expired, undeliverable: () => undeliverable };
}

function call(signal?: AbortSignal): AdmittedCall {
  return { service: "S", method: "m", input: null, deadline: 1_000, hops: 0, signal };
}

const ping = (id: number): HostMessage => ({ type: "ping", id });

Deno.test("Pending requests count calls and fetches in flight, not hooks or pings", async () => {
  const { pending, sent } = table();
  const a = pending.open("call", "S.m", 1_000, call(), ping);
  const b = pending.open("fetch", "fetch GET", 1_000, call(), ping);
  const c = pending.open("ping", "ping", 1_000, undefined, ping);
  const d = pending.open("hook", "onStart", 1_000, undefined, ping);
  assert.deepEqual(sent.map((m) => (m as { id: number }).id), [1, 2, 3, 4], "one fresh id each");
  assert.equal(pending.size, 4);
  assert.equal(pending.inflight, 2);
  assert.equal(pending.kindOf(2), "fetch");
  assert.equal(pending.callOf(1)?.service, "S");
  assert.equal(pending.callOf(3), undefined);
  for (const id of [1, 2, 3, 4]) pending.take(id)!.resolve(id);
  assert.deepEqual(await Promise.all([a, b, c, d]), [1, 2, 3, 4]);
  assert.equal(pending.size, 0);
  assert.equal(pending.inflight, 0);
  assert.equal(pending.take(1), undefined, "a request is taken once");
});

Deno.test("A request whose deadline passes goes to the instance; a ping fails on its own", async () => {
  const { clock, pending, expired } = table();
  const slow = pending.open("call", "S.m", 100, call(), ping);
  const heartbeat = pending.open("ping", "ping", 50, undefined, ping);
  const answered = pending.open("call", "S.m", 100, call(), ping);
  pending.take(3)!.resolve("in time");
  const failures = [
    assert.rejects(heartbeat, CallTimeoutError),
    assert.rejects(slow, /expired S\.m/),
  ];
  await clock.advance(200);
  await Promise.all(failures);
  assert.equal(await answered, "in time");
  assert.deepEqual(expired, [1], "only the call went to the instance");
  assert.equal(pending.inflight, 0);
});

Deno.test("A caller's abort goes to the instance once, and its listener is removed when answered", async () => {
  const { pending, cancelled } = table();
  const controller = new AbortController();
  const aborted = pending.open("call", "S.m", 1_000, call(controller.signal), ping);
  controller.abort();
  controller.abort();
  await assert.rejects(aborted, /cancelled S\.m/);
  assert.deepEqual(cancelled, [1]);
  const later = new AbortController();
  const done = pending.open("call", "S.m", 1_000, call(later.signal), ping);
  pending.take(2)!.resolve("ok");
  later.abort();
  assert.equal(await done, "ok");
  assert.deepEqual(cancelled, [1], "an answered call is not cancelled");
});

Deno.test("A message that cannot be sent fails its request and leaves nothing in flight", async () => {
  const refused = table({ refuse: true });
  await assert.rejects(
    refused.pending.open("call", "S.m", 1_000, call(), ping),
    /Cannot send to bundle: cannot clone/,
  );
  assert.equal(refused.pending.inflight, 0);

  const late = table();
  const request = late.pending.open("call", "S.m", 1_000, call(), ping);
  late.undeliverable()!(new Error("not cloneable"));
  await assert.rejects(request, /Cannot send to bundle: not cloneable/);
  assert.equal(late.pending.size, 0);
});

Deno.test("Failing all pending requests settles each once and empties the table", async () => {
  const { clock, pending, expired } = table();
  const requests = [
    pending.open("call", "S.m", 100, call(), ping),
    pending.open("hook", "onStart", 100, undefined, ping),
  ];
  const failures = requests.map((request) => assert.rejects(request, /instance died/));
  pending.failAll(new Error("instance died"));
  await Promise.all(failures);
  await clock.advance(500);
  assert.deepEqual(expired, [], "no deadline fires after the table was emptied");
  assert.equal(pending.size, 0);
  assert.equal(pending.inflight, 0);
});

Deno.test("A request the instance refuses fails at once, unsent and not in flight", async () => {
  const { pending, sent } = table({ refusal: new Error("instance ended") });
  await assert.rejects(pending.open("call", "S.m", 1_000, call(), ping), /instance ended/);
  assert.deepEqual(sent, []);
  assert.equal(pending.size, 0);
  assert.equal(pending.inflight, 0);
});
