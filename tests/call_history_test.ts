/**
 * The engine's in-memory call history (engine/runtime/call_history.ts) on a manual clock:
 * intervals close as time passes, quiet intervals are zeros, the ring and the bundles per sample
 * stay bounded, and the call-chain wrapper attributes failures to the right bundle.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ManualClock } from "../engine/base/clock.ts";
import { CallHistory, OTHER_BUNDLES } from "../engine/runtime/call_history.ts";
import { BundlehostError } from "../engine/base/errors.ts";
import type { AdmittedCall, CallOutcome } from "../engine/call/request.ts";

const call = (service: string, kind: "service" | "fetch" = "service"): AdmittedCall => ({
  kind,
  service,
  method: "m",
  input: null,
  deadline: 0,
  hops: 0,
});

Deno.test("CallHistory closes an interval once the clock is past it, with counts and percentiles", async () => {
  const clock = new ManualClock(10_000);
  const history = new CallHistory(clock, { intervalMs: 1_000, size: 5 });
  for (let i = 1; i <= 100; i++) history.record("hello", i, i > 95);
  assert.deepEqual(history.snapshot().samples, [], "the open interval is not a sample yet");
  await clock.advance(1_000);
  const [sample] = history.snapshot().samples;
  assert.deepEqual(sample?.time, 10_000);
  assert.deepEqual(sample?.calls, 100);
  assert.deepEqual(sample?.errors, 5);
  // Bucket upper bounds: within a quarter above the true value.
  assert(sample!.p99Ms! >= 99 && sample!.p99Ms! <= 99 * 1.25, `p99 ${sample!.p99Ms}`);
  assert(sample!.p50Ms! >= 50 && sample!.p50Ms! <= 50 * 1.25, `p50 ${sample!.p50Ms}`);
  assert.deepEqual(sample?.bundles.hello?.calls, 100);
});

Deno.test("CallHistory fills quiet intervals with zeros and keeps only the ring's size", async () => {
  const clock = new ManualClock(0);
  const history = new CallHistory(clock, { intervalMs: 1_000, size: 4 });
  history.record("a", 1, false);
  await clock.advance(3_000);
  let samples = history.snapshot().samples;
  assert.deepEqual(samples.map((s) => [s.time, s.calls]), [[0, 1], [1_000, 0], [2_000, 0]]);
  history.record("a", 1, false);
  await clock.advance(1_000_000);
  samples = history.snapshot().samples;
  assert.deepEqual(samples.length, 4, "never more than the ring holds, however long the gap");
  assert(samples.every((s) => s.calls === 0), "the call before the gap has left the ring");
  assert.deepEqual(samples.at(-1)!.time, 1_003_000 - 1_000);
  for (let i = 1; i < samples.length; i++) {
    assert.deepEqual(samples[i]!.time - samples[i - 1]!.time, 1_000, "samples are contiguous");
  }
});

Deno.test("CallHistory counts bundles beyond its limit together", async () => {
  const clock = new ManualClock(0);
  const history = new CallHistory(clock, { intervalMs: 1_000, maxBundles: 2 });
  for (const id of ["a", "b", "c", "d", "a"]) history.record(id, 1, false);
  await clock.advance(1_000);
  const bundles = history.snapshot().samples[0]!.bundles;
  assert.deepEqual(Object.keys(bundles).sort(), [OTHER_BUNDLES, "a", "b"].sort());
  assert.deepEqual(bundles.a?.calls, 2);
  assert.deepEqual(bundles[OTHER_BUNDLES]?.calls, 2);
});

Deno.test("CallHistory.wrap records outcomes, failures by the serving bundle, and 5xx fetches", async () => {
  const clock = new ManualClock(0);
  const history = new CallHistory(clock, { intervalMs: 1_000 });
  const owners: Record<string, string> = { Greeter: "greeter" };
  const ok = history.wrap(
    (c): Promise<CallOutcome> =>
      Promise.resolve({
        result: c.kind === "fetch" ? { status: 503 } : 1,
        bundle: "greeter@1.0.0",
      }),
    (service) => owners[service],
  );
  const failing = history.wrap(() => {
    throw new BundlehostError("BUNDLE_ERROR", "boom");
  }, (service) => owners[service]);
  await ok(call("Greeter"));
  const unlabelled = history.wrap(
    () => Promise.resolve({ result: 1, bundle: "plain" }),
    () => undefined,
  );
  await unlabelled(call("Plain"));
  await ok(call("web", "fetch"));
  await assert.rejects(() => failing(call("Greeter@^1")), BundlehostError);
  await assert.rejects(() => failing(call("Nobody")), BundlehostError);
  await clock.advance(1_000);
  const sample = history.snapshot().samples[0]!;
  assert.deepEqual([sample.calls, sample.errors], [5, 3]);
  assert.equal(sample.bundles.plain?.calls, 1, "a label without a version is the id");
  assert.deepEqual(sample.bundles.greeter, { ...sample.bundles.greeter!, calls: 3, errors: 2 });
  assert.deepEqual(
    Object.keys(sample.bundles).sort(),
    ["greeter", "plain"],
    "a call no bundle served counts only in total",
  );
});

Deno.test("CallHistory refuses an interval under 100 ms", () => {
  let threw = false;
  try {
    new CallHistory(new ManualClock(0), { intervalMs: 10 });
  } catch (error) {
    threw = error instanceof RangeError;
  }
  assert(threw);
});

Deno.test("CallHistory counts runs of the same bundle in the interval each call ended in", async () => {
  const clock = new ManualClock(0);
  const history = new CallHistory(clock, { intervalMs: 1_000, maxBundles: 1 });
  history.record("a", 1, false);
  history.record("a", 1, false);
  history.record("b", 1, true);
  history.record("b", 1, false);
  await clock.advance(1_000);
  history.record("b", 1, false);
  history.record("b", 1, false);
  history.record("a", 1, false);
  await clock.advance(1_000);
  const [first, second] = history.snapshot().samples;
  assert.deepEqual(
    Object.fromEntries(Object.entries(first!.bundles).map(([id, c]) => [id, [c.calls, c.errors]])),
    { a: [2, 0], [OTHER_BUNDLES]: [2, 1] },
  );
  // A new interval starts its own tallies: "b" now comes first and has the interval's one slot.
  assert.deepEqual(
    Object.fromEntries(Object.entries(second!.bundles).map(([id, c]) => [id, [c.calls, c.errors]])),
    { b: [2, 0], [OTHER_BUNDLES]: [1, 0] },
  );
});
