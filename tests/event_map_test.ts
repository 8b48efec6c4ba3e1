/**
 * Event maps through the real broker: a chain of service calls in other bundles, each step's
 * output feeding the next, with every error policy (`stop`, `skip`, `degrade` via a mock bundle
 * and via a fallback call), a retry that resumes at the failed step, and the map versioned with
 * the orchestrating bundle's releases.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { DeliveryEvent } from "../mod.ts";
import { manifest, sharing, type TestEngine, testEngine, waitFor } from "./_helpers.ts";
import { drained } from "./_events.ts";

/**
 * A bundle whose methods each add `{ [name]: true }` to their input, and fail when the input's
 * `fail` list names them (`"<name>-once"`: only the first time per order).
 */
function stepModule(services: Record<string, Record<string, string>>): string {
  const body = Object.entries(services).map(([service, methods]) =>
    `${service}: { ${
      Object.entries(methods).map(([m, name]) => `${m}: step(${JSON.stringify(name)})`).join(", ")
    }, calls: () => calls, received: () => received }`
  ).join(",\n");
  return `
const calls = {};
const received = [];
const failedOnce = new Set();
const step = (name) => (input) => {
  calls[name + ":" + input.order] = (calls[name + ":" + input.order] ?? 0) + 1;
  const fail = input.fail ?? [];
  if (fail.includes(name)) throw new Error(name + " failed");
  if (fail.includes(name + "-once") && !failedOnce.has(name + input.order)) {
    failedOnce.add(name + input.order);
    throw new Error(name + " failed once");
  }
  const output = { ...input, [name]: true };
  received.push(output);
  return output;
};
export default { services: { ${body} } };`;
}

const STEPS = [
  { call: "InventoryService.reserve", onError: "stop" },
  { call: "BillingService.charge", onError: "degrade", fallback: "BillingService.defer" },
  { call: "LoyaltyService.award", onError: "skip" },
  { call: "MailService.notify" },
];

async function world(t: TestEngine): Promise<void> {
  const deploy = (id: string, services: Record<string, Record<string, string>>, extra = {}) =>
    t.deploy(
      manifest(id, {
        services: Object.fromEntries(Object.keys(services).map((s) => [s, "1.0.0"])),
        scaling: { minWorkers: 1, maxWorkers: 1 },
        ...extra,
      }),
      { "mod.ts": stepModule(services) },
    );
  await deploy("inventory", { InventoryService: { reserve: "reserve" } });
  await deploy("billing", { BillingService: { charge: "charge", defer: "defer" } });
  await deploy("billing-mock", { BillingService: { charge: "mock" } }, { mock: true });
  await deploy("loyalty", { LoyaltyService: { award: "award" } });
  await deploy("mail", { MailService: { notify: "notify" } });
}

/** Releases the orchestrating bundle (no services, only an event map) through the registry. */
async function releaseFlow(t: TestEngine, version: string, steps: unknown[]): Promise<void> {
  const dir = await t.bundle(
    manifest("orders-flow", {
      version,
      eventMaps: { "order.created": { steps, maxAttempts: 2 } },
    }),
    { "mod.ts": "export default { services: {} };" },
  );
  await t.engine.registry.release({ path: dir });
}

type Mail = Record<string, unknown> & { order: string };

async function mails(t: TestEngine): Promise<Map<string, Mail>> {
  const received = await t.engine.call("MailService", "received", null) as Mail[];
  return new Map(received.map((m) => [m.order, m]));
}

Deno.test("Event map runs its chain through the broker and honours each error policy", async () => {
  await using t = await testEngine({
    events: { backoffMs: 10, maxBackoffMs: 50 },
    // A mock bundle provides the billing service too: granted by the operator.
    ...sharing({ BillingService: ["billing", "billing-mock"] }),
  });
  await world(t);
  await releaseFlow(t, "1.0.0", STEPS);
  const outcomes: DeliveryEvent[] = [];
  t.engine.events.on("delivery", (e) => outcomes.push(e));
  const publish = (order: string, fail: string[] = []) =>
    t.engine.eventBus.publish("order.created", { order, fail });

  assert.equal((await publish("ok")).deliveries, 1);
  await publish("skip", ["award"]);
  await publish("mock", ["charge"]);
  await publish("fallback", ["charge", "mock"]);
  await publish("unserved", ["charge", "mock", "defer"]);
  await publish("stop", ["reserve"]);
  await drained(t.engine);

  const got = await mails(t);
  const fields = (order: string) => {
    const { order: _o, fail: _f, ...rest } = got.get(order)!;
    return Object.keys(rest).sort();
  };
  // Each step's output is the next step's input.
  assert.deepEqual(fields("ok"), ["award", "charge", "notify", "reserve"]);
  // skip: the failed step's input goes on.
  assert.deepEqual(fields("skip"), ["charge", "notify", "reserve"]);
  // degrade: the mock bundle serves when billing fails…
  assert.deepEqual(fields("mock"), ["award", "mock", "notify", "reserve"]);
  // …then the declared fallback call…
  assert.deepEqual(fields("fallback"), ["award", "defer", "notify", "reserve"]);
  // …and with nothing to serve, the chain goes on with the step's input.
  assert.deepEqual(fields("unserved"), ["award", "notify", "reserve"]);
  // stop: the chain ends, the delivery is retried, then dead-lettered.
  assert.equal(got.has("stop"), false);
  const letters = await t.engine.eventBus.deadLetters();
  assert.equal(letters.length, 1);
  assert.deepEqual(letters[0]!.payload, { order: "stop", fail: ["reserve"] });
  assert.equal(letters[0]!.attempts, 2);
  assert.match(
    letters[0]!.error,
    /Event map step 0 \(InventoryService\.reserve\) failed: .*reserve failed/,
  );
  const charges = await t.engine.call("BillingService", "calls", null, {
    route: { type: "ID", pattern: "billing" },
  }) as Record<string, number>;
  assert.equal(charges["charge:stop"], undefined, "no step after a stopped one runs");

  assert.ok(outcomes.some((e) => e.outcome === "delivered" && e.degraded === "error"));
  assert.equal(outcomes.filter((e) => e.outcome === "delivered").length, 5);
});

Deno.test("Event map retries resume at the failed step and the map follows the active release", async () => {
  await using t = await testEngine({
    events: { backoffMs: 10, maxBackoffMs: 50 },
    // A mock bundle provides the billing service too: granted by the operator.
    ...sharing({ BillingService: ["billing", "billing-mock"] }),
  });
  await world(t);
  await releaseFlow(t, "1.0.0", STEPS);

  // notify fails once (stop): the retry starts at notify with the checkpointed input.
  await t.engine.eventBus.publish("order.created", { order: "resume", fail: ["notify-once"] });
  await drained(t.engine);
  const resumed = (await mails(t)).get("resume")!;
  assert.equal(resumed.award, true);
  const reserves = await t.engine.call("InventoryService", "calls", null) as Record<
    string,
    number
  >;
  assert.equal(reserves["reserve:resume"], 1, "steps before the failed one ran once");
  const notifies = await t.engine.call("MailService", "calls", null) as Record<string, number>;
  assert.equal(notifies["notify:resume"], 2);

  // 1.1.0 drops the loyalty step: events published from now on run its map.
  await releaseFlow(t, "1.1.0", [STEPS[0], STEPS[1], STEPS[3]]);
  await t.engine.eventBus.publish("order.created", { order: "v110" });
  await drained(t.engine);
  assert.equal((await mails(t)).get("v110")!.award, undefined);

  // A rollback brings the 1.0.0 map back.
  await t.engine.registry.rollback("orders-flow", "1.0.0");
  await waitFor(() => t.engine.bundle("orders-flow").current === "1.0.0");
  await t.engine.eventBus.publish("order.created", { order: "rolled-back" });
  await drained(t.engine);
  assert.equal((await mails(t)).get("rolled-back")!.award, true);
});
