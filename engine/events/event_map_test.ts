import assert from "node:assert/strict";
import { BundlehostError } from "../base/errors.ts";
import type { CallOutcome } from "../call/request.ts";
import type { RouteSpec } from "../sdk/types.ts";
import { EventMapStepError, runEventMap } from "./event_map.ts";
import type { EventMapStep } from "../manifest/events_schema.ts";

/** A stub broker: each method appends its name; methods listed in `failing` throw. */
function broker(failing: string[]) {
  const calls: { call: string; input: unknown; route?: RouteSpec }[] = [];
  const invoke = (service: string, method: string, input: unknown, route?: RouteSpec) => {
    calls.push({ call: `${service}.${method}`, input, ...(route ? { route } : {}) });
    if (failing.includes(`${service}.${method}`)) {
      return Promise.reject(new BundlehostError("BUNDLE_ERROR", `${method} failed`));
    }
    const result = [...(input as string[]), method];
    return Promise.resolve<CallOutcome>({ result, bundle: `${service.toLowerCase()}@1.0.0` });
  };
  return { calls, invoke };
}

const step = (call: string, onError: EventMapStep["onError"] = "stop", fallback?: string) =>
  fallback === undefined ? { call, onError } : { call, onError, fallback };

Deno.test("runEventMap feeds each step's output to the next", async () => {
  const b = broker([]);
  const run = await runEventMap([step("A.one"), step("B.two"), step("C.three")], [], b);
  assert.deepEqual(run.output, ["one", "two", "three"]);
  assert.deepEqual(b.calls.map((c) => c.input), [[], ["one"], ["one", "two"]]);
  assert.deepEqual(run.steps.map((s) => s.status), ["ok", "ok", "ok"]);
});

Deno.test("runEventMap stop ends the chain with the failed step named", async () => {
  const b = broker(["B.two"]);
  const error = await runEventMap([step("A.one"), step("B.two"), step("C.three")], [], b).then(
    () => assert.fail("expected a rejection"),
    (e: unknown) => e as EventMapStepError,
  );
  assert.ok(error instanceof EventMapStepError);
  assert.deepEqual([error.step, error.call, error.code], [1, "B.two", "BUNDLE_ERROR"]);
  assert.deepEqual(b.calls.map((c) => c.call), ["A.one", "B.two"]);
});

Deno.test("runEventMap skip passes the failed step's input on", async () => {
  const b = broker(["B.two"]);
  const run = await runEventMap([step("A.one"), step("B.two", "skip"), step("C.three")], [], b);
  assert.deepEqual(run.output, ["one", "three"]);
  assert.equal(run.steps[1]?.status, "skipped");
  assert.match(run.steps[1]?.error ?? "", /two failed/);
});

Deno.test("runEventMap degrade asks for a mock, then the fallback, then goes on", async () => {
  const withFallback = broker(["B.two"]);
  const steps = [step("B.two", "degrade", "B.backup"), step("C.three")];
  const run = await runEventMap(steps, [], withFallback);
  assert.deepEqual(withFallback.calls[0]?.route, { mock: "fail" });
  assert.deepEqual(run.output, ["backup", "three"]);
  assert.deepEqual(run.steps[0], {
    call: "B.backup",
    status: "degraded",
    bundle: "b@1.0.0",
    degraded: "fallback",
  });
  const nothing = broker(["B.two", "B.backup"]);
  const unserved = await runEventMap(steps, ["x"], nothing);
  assert.deepEqual(unserved.output, ["x", "three"]);
  assert.deepEqual([unserved.steps[0]?.status, unserved.steps[0]?.degraded], [
    "degraded",
    "unserved",
  ]);
});

Deno.test("runEventMap checkpoints between steps and resumes from a checkpoint", async () => {
  const b = broker([]);
  const saved: [number, unknown][] = [];
  const steps = [step("A.one"), step("B.two"), step("C.three")];
  await runEventMap(steps, [], {
    ...b,
    checkpoint: (i, input) => Promise.resolve(void saved.push([i, input])),
  });
  assert.deepEqual(saved, [[1, ["one"]], [2, ["one", "two"]]]);
  const resumed = broker([]);
  const run = await runEventMap(steps, [], { ...resumed, start: { step: 2, input: ["x"] } });
  assert.deepEqual(resumed.calls.map((c) => c.call), ["C.three"]);
  assert.deepEqual(run.output, ["x", "three"]);
});
