import assert from "node:assert/strict";
import { ManifestError } from "../base/errors.ts";
import { parseManifest } from "../manifest/manifest.ts";
import { backoffDelay } from "./bus.ts";
import { MAX_EVENT_PAYLOAD_BYTES, payloadJson, topicProblem } from "../base/topic.ts";

Deno.test("backoffDelay doubles per attempt within jitter and stays under the cap", () => {
  const base = { backoffMs: 1_000, maxBackoffMs: 60_000 };
  for (const [attempt, low, high] of [[1, 500, 1_000], [2, 1_000, 2_000], [4, 4_000, 8_000]]) {
    assert.equal(backoffDelay(attempt!, { ...base, random: () => 0 }), low);
    assert.equal(backoffDelay(attempt!, { ...base, random: () => 0.999_999 }), high);
  }
  assert.equal(backoffDelay(30, { ...base, random: () => 0.999_999 }), 60_000);
  assert.equal(backoffDelay(1_000, { ...base, random: () => 0 }), 30_000);
});

Deno.test("topicProblem accepts dotted lower-case topics and refuses reserved or malformed ones", () => {
  for (const ok of ["order.created", "a", "inventory_v2.low-stock", "x".repeat(128)]) {
    assert.equal(topicProblem(ok), undefined, ok);
  }
  for (const bad of ["", "Order", "-x", "a b", "x".repeat(129), "bundlehost.schedule", 7]) {
    assert.ok(topicProblem(bad), String(bad));
  }
});

Deno.test("payloadJson normalises through JSON and bounds the size in bytes", () => {
  assert.equal(payloadJson(undefined), "null");
  assert.equal(payloadJson({ a: [1, "é"] }), '{"a":[1,"é"]}');
  assert.throws(() => payloadJson({ n: 1n }), TypeError);
  assert.throws(() => payloadJson("x".repeat(MAX_EVENT_PAYLOAD_BYTES)), RangeError);
  // Three bytes per character in UTF-8: fewer characters reach the limit.
  assert.throws(() => payloadJson("✓".repeat(MAX_EVENT_PAYLOAD_BYTES / 3)), RangeError);
  assert.equal(payloadJson("✓".repeat(1_000)).length, 1_002);
});

Deno.test("parseManifest reads subscribe, schedule and eventMaps and names refused fields", () => {
  const m = parseManifest({
    id: "orders",
    version: "1.0.0",
    services: { OrderService: "1.0.0" },
    subscribe: { "order.created": "OrderService.onCreated" },
    schedule: { "*/5 * * * *": { handler: "OrderService.report", missed: "skip" } },
    eventMaps: { "order.paid": [{ call: "Mail.send", onError: "skip" }] },
  });
  assert.deepEqual(m.subscribe, { "order.created": { handler: "OrderService.onCreated" } });
  assert.deepEqual(m.schedule["*/5 * * * *"], {
    handler: "OrderService.report",
    timezone: "UTC",
    missed: "skip",
  });
  assert.deepEqual(m.eventMaps["order.paid"], { steps: [{ call: "Mail.send", onError: "skip" }] });
  const field = (extra: Record<string, unknown>): [string, string] => {
    try {
      parseManifest({ id: "x", version: "1.0.0", services: { S: "1.0.0" }, ...extra });
    } catch (error) {
      assert.ok(error instanceof ManifestError);
      return [error.field, error.message];
    }
    return assert.fail("expected a refusal");
  };
  assert.deepEqual(field({ subscribe: { "Order Created": "S.m" } })[0], "subscribe.Order Created");
  assert.deepEqual(field({ subscribe: { t: "Other.m" } })[0], "subscribe.t.handler");
  assert.deepEqual(
    field({ subscribe: { t: { handler: "S.m", retries: 2 } } })[0],
    "subscribe.t.retries",
  );
  assert.deepEqual(
    field({ subscribe: { t: { handler: "S.m", maxAttempts: 0 } } })[0],
    "subscribe.t.maxAttempts",
  );
  assert.match(
    field({ schedule: { "* * *": "S.m" } })[1],
    /field "schedule.\* \* \*" must be a cron/,
  );
  assert.deepEqual(
    field({ schedule: { "@daily": { handler: "S.m", timezone: "Nowhere/X" } } })[0],
    "schedule.@daily.timezone",
  );
  assert.deepEqual(field({ eventMaps: { t: [{ call: "S" }] } })[0], "eventMaps.t.steps[0].call");
  assert.deepEqual(
    field({ eventMaps: { t: [{ call: "S.m", onError: "retry" }] } })[0],
    "eventMaps.t.steps[0].onError",
  );
});
