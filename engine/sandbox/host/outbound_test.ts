/**
 * What the engine keeps of the trace context a guest posts: a guest can continue its call's trace
 * (a span it made), never move a call into another trace, and never carry a `tracestate` the W3C
 * rules refuse.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { AdmittedCall } from "../../call/request.ts";
import { parseGuestMessage } from "../wire/guest_message.ts";
import { guestTrace, withGuestTrace } from "./outbound.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALL = `00-${TRACE}-00f067aa0ba902b7-03`;
const OWN = `00-${TRACE}-b7ad6b7169203331-01`;
const OTHER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const parent: AdmittedCall = {
  service: "S",
  method: "m",
  input: null,
  deadline: 1_000,
  hops: 0,
  traceparent: CALL,
  tracestate: "congo=t61rcWkgMzE",
};

Deno.test("guestTrace continues the call's trace with the guest's span and the call's tracestate", () => {
  assert.deepEqual(guestTrace(parent, { traceparent: OWN }), {
    traceparent: OWN,
    tracestate: "congo=t61rcWkgMzE",
  });
  assert.deepEqual(guestTrace(parent, { traceparent: OWN, tracestate: "rojo=1" }), {
    traceparent: OWN,
    tracestate: "rojo=1",
  });
});

Deno.test("guestTrace keeps the call's context when the guest names another trace", () => {
  assert.deepEqual(guestTrace(parent, { traceparent: OTHER, tracestate: "evil=1" }), {
    traceparent: CALL,
    tracestate: "congo=t61rcWkgMzE",
  });
  assert.deepEqual(guestTrace(parent, {}), { traceparent: CALL, tracestate: "congo=t61rcWkgMzE" });
});

Deno.test("withGuestTrace replaces both fields, or neither", () => {
  const traced = withGuestTrace(parent, { traceparent: OWN })!;
  assert.equal(traced.traceparent, OWN);
  assert.equal(traced.tracestate, "congo=t61rcWkgMzE");
  assert.equal(withGuestTrace(parent, {}), parent);
  const bare = { ...parent };
  delete bare.tracestate;
  assert.ok(!("tracestate" in withGuestTrace(bare, { traceparent: OWN })!));
});

Deno.test("parseGuestMessage keeps a tracestate only when valid and beside a traceparent", () => {
  const call = { type: "broker-call", id: 1, service: "S", method: "m", input: null };
  const publish = { type: "publish", id: 2, topic: "t.x", data: "{}" };
  for (const message of [call, publish]) {
    const ok = parseGuestMessage({ ...message, traceparent: OWN, tracestate: "a=1,b=2" });
    assert.equal((ok as { tracestate?: string }).tracestate, "a=1,b=2");
    for (const tracestate of ["A=1", "a=1, b=2", "x".repeat(600), 7]) {
      const bad = parseGuestMessage({ ...message, traceparent: OWN, tracestate });
      assert.ok(!("tracestate" in (bad as object)), JSON.stringify(tracestate));
    }
    const alone = parseGuestMessage({ ...message, tracestate: "a=1" });
    assert.ok(!("tracestate" in (alone as object)));
    const future = parseGuestMessage({ ...message, traceparent: `cc${OWN.slice(2)}` });
    assert.ok(!("traceparent" in (future as object)), "only version 00 crosses the channel");
  }
});
