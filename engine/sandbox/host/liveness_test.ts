import assert from "node:assert/strict";
import { ManualClock } from "../../base/clock.ts";
import { Liveness, type LivenessTarget } from "./liveness.ts";

/** A target whose sandbox answers pings while `answering` is true. */
function target(clock: ManualClock) {
  const state = { answering: true, dead: false, reasons: [] as string[], pings: [] as number[] };
  let liveness: Liveness | undefined;
  const t: LivenessTarget = {
    ping(timeoutMs) {
      state.pings.push(timeoutMs);
      if (state.answering) {
        liveness?.pong();
        return Promise.resolve();
      }
      return new Promise((_, reject) =>
        clock.setTimeout(() => reject(new Error("late")), timeoutMs)
      );
    },
    dead: () => state.dead,
    unresponsive(reason) {
      state.dead = true;
      state.reasons.push(reason);
      liveness?.stop();
    },
  };
  return { state, t, bind: (l: Liveness) => (liveness = l) };
}

Deno.test("Liveness keeps an instance that answers its heartbeats", async () => {
  const clock = new ManualClock(0);
  const { state, t, bind } = target(clock);
  const liveness = bind(new Liveness(clock, t, { heartbeatMs: 100, unresponsiveMs: 250 }));
  liveness.start();
  await clock.advance(1_000);
  assert.equal(state.pings.length, 10);
  assert.deepEqual(state.reasons, []);
  liveness.stop();
  await clock.advance(1_000);
  assert.equal(state.pings.length, 10, "no heartbeat after stop");
});

Deno.test("Liveness ends an instance that misses its heartbeats for unresponsiveMs", async () => {
  const clock = new ManualClock(0);
  const { state, t, bind } = target(clock);
  const liveness = bind(new Liveness(clock, t, { heartbeatMs: 100, unresponsiveMs: 250 }));
  liveness.start();
  await clock.advance(200);
  state.answering = false;
  await clock.advance(250);
  assert.deepEqual(state.reasons, [], "the last reply was at 200 ms");
  await clock.advance(200);
  assert.deepEqual(state.reasons, ["unresponsive: no heartbeat reply for 250 ms"]);
});

Deno.test("Liveness probes after a timed-out call, within the tier's bound when it is smaller", async () => {
  const clock = new ManualClock(0);
  const { state, t, bind } = target(clock);
  const liveness = bind(new Liveness(clock, t, { probeMs: 1_000, tierProbeMs: 250 }));
  liveness.probe();
  await clock.advance(300);
  assert.deepEqual(state.pings, [250]);
  assert.deepEqual(state.reasons, [], "it answered the probe");
  state.answering = false;
  liveness.probe();
  await clock.advance(249);
  assert.deepEqual(state.reasons, []);
  await clock.advance(1);
  assert.deepEqual(state.reasons, [
    "unresponsive: no reply to a liveness probe within 250 ms after a call timed out",
  ]);
});

Deno.test("Liveness does not end an instance that died while its probe was out", async () => {
  const clock = new ManualClock(0);
  const { state, t, bind } = target(clock);
  const liveness = bind(new Liveness(clock, t, {}));
  state.answering = false;
  liveness.probe();
  state.dead = true;
  await clock.advance(1_000);
  assert.deepEqual(state.reasons, []);
});
