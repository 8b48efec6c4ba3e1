/**
 * The observability plugin inside an engine (in-process, OpenTelemetry off): what `/metrics`
 * reports for real calls, crashes and breaker changes, and for the broker's degraded, throttled
 * and timed-out outcomes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BundlehostError, type Engine } from "../mod.ts";
import { definePlugin } from "../engine/plugin/plugin.ts";
import type { AdmittedCall, CallOutcome } from "../engine/call/request.ts";
import { observability } from "../plugins/observability/mod.ts";
import { manifest, rejects, testEngine, waitFor } from "./_helpers.ts";

/** The value of the series of `name` whose labels are exactly `labels`, from Prometheus text. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const got = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((
        m,
      ) => [m[1], m[2]]),
    );
    const wanted = Object.entries(labels);
    if (wanted.length === Object.keys(got).length && wanted.every(([k, v]) => got[k] === v)) {
      return Number(match[3]);
    }
  }
  return undefined;
}

async function scrape(engine: Engine): Promise<string> {
  const response = await engine.fetch(new Request("http://engine/metrics"));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return await response.text();
}

const WORK = `export default {
  services: {
    WorkService: {
      ok() { return "fine"; },
      boom() { throw new Error("boom"); },
      crash() { Deno.exit(3); },
    },
  },
};`;

Deno.test("Observability counts calls by outcome, HTTP requests, cold starts, pool size and restarts", async () => {
  await using t = await testEngine({ plugins: [observability({ logFormat: "off" })] });
  await t.deploy(manifest("work", { services: { WorkService: "1.0.0" } }), { "mod.ts": WORK });
  await t.engine.call("WorkService", "ok", null);
  await t.engine.call("WorkService", "ok", null);
  await rejects(() => t.engine.call("WorkService", "boom", null), BundlehostError, "boom");
  await rejects(() => t.engine.call("NoService", "x", null), BundlehostError);
  const bundle = { bundlehost_bundle_id: "work", bundlehost_bundle_version: "1.0.0" };
  const call = { rpc_service: "WorkService", rpc_method: "ok", ...bundle };

  let text = await scrape(t.engine);
  assert.equal(
    sample(text, "bundlehost_calls_total", { ...call, bundlehost_call_outcome: "ok" }),
    2,
  );
  assert.equal(
    sample(text, "bundlehost_calls_total", {
      rpc_service: "WorkService",
      rpc_method: "boom",
      ...bundle, // the broker names the bundle a call failed in
      bundlehost_call_outcome: "error",
      error_type: "BUNDLE_ERROR",
    }),
    1,
  );
  assert.equal(
    sample(text, "bundlehost_calls_total", {
      // No installed bundle declares the service: its name never becomes a label value.
      rpc_service: "_unknown",
      rpc_method: "_unknown",
      bundlehost_call_outcome: "error",
      error_type: "NOT_FOUND",
    }),
    1,
  );
  assert.equal(
    sample(text, "bundlehost_call_duration_seconds_count", {
      ...call,
      bundlehost_call_outcome: "ok",
    }),
    2,
  );
  assert.equal(sample(text, "bundlehost_active_calls", { rpc_service: "WorkService" }), 0);
  const cold = { ...bundle, bundlehost_start_kind: "cold" };
  assert.equal(sample(text, "bundlehost_instance_starts_total", cold), 1);
  assert.equal(sample(text, "bundlehost_instance_start_duration_seconds_count", cold), 1);
  const ready = { ...bundle, bundlehost_isolation: "worker", bundlehost_instance_state: "ready" };
  assert.equal(sample(text, "bundlehost_instance_count", ready), 1);
  assert.equal(sample(text, "bundlehost_bundle_count", { bundlehost_bundle_state: "ACTIVE" }), 1);
  assert.equal(sample(text, "bundlehost_instance_restarts_total", bundle), undefined);

  // A crash is a restart, and the replacement a second cold start.
  await rejects(() => t.engine.call("WorkService", "crash", null), BundlehostError);
  await waitFor(async () =>
    sample(await scrape(t.engine), "bundlehost_instance_count", ready) === 1
  );
  text = await scrape(t.engine);
  assert.equal(sample(text, "bundlehost_instance_restarts_total", bundle), 1);
  assert.equal(sample(text, "bundlehost_instance_starts_total", cold), 2);

  // The HTTP edge: requests by route and status (the scrapes above count too).
  await (await t.engine.fetch(new Request("http://engine/nowhere"))).body?.cancel();
  text = await scrape(t.engine);
  const metricsScrapes = sample(text, "http_server_request_duration_seconds_count", {
    http_request_method: "GET",
    http_route: "/metrics",
    http_response_status_code: "200",
  });
  assert.ok(metricsScrapes !== undefined && metricsScrapes >= 3, `scrapes: ${metricsScrapes}`);
  assert.equal(
    sample(text, "http_server_request_duration_seconds_count", {
      http_request_method: "GET",
      http_response_status_code: "404",
    }),
    1,
  );
});

Deno.test("Observability counts degraded, throttled and timed-out outcomes of the broker", async () => {
  // Stands in for the broker's degradation: answers PriceService calls with the outcome named by
  // the method, as the broker reports a fallback or mock in `CallOutcome.degraded`.
  const degrader = definePlugin<Engine>({
    name: "degrader",
    wrapCall(call: AdmittedCall, next: (call: AdmittedCall) => Promise<CallOutcome>) {
      if (call.service !== "PriceService") return next(call);
      const [bundle, degraded] = call.method === "mocked"
        ? ["mock@1.0.0", "mock"]
        : ["fallback@2.0.0", call.method === "slow" ? "timeout" : "throttled"];
      return Promise.resolve({ result: 1, bundle, degraded });
    },
  });
  await using t = await testEngine({ plugins: [degrader, observability({ logFormat: "off" })] });
  // Declares PriceService and its methods, so their names may become label values.
  await t.deploy(manifest("price", { services: { PriceService: "1.0.0" } }), {
    "mod.ts":
      "export default { services: { PriceService: { slow() {}, limited() {}, mocked() {} } } };",
  });
  await t.deploy(
    manifest("limited", { services: { LimitService: "1.0.0" }, governance: { qps: 1 } }),
    { "mod.ts": "export default { services: { LimitService: { ok() { return 1; } } } };" },
  );
  await t.deploy(manifest("sleepy", { services: { SleepService: "1.0.0" } }), {
    "mod.ts": `export default { services: { SleepService: {
      nap(_input, ctx) { return new Promise((r) => setTimeout(r, 300, "late")); },
    } } };`,
  });
  for (const method of ["slow", "limited", "mocked"]) {
    await t.engine.call("PriceService", method, null);
  }
  await t.engine.call("LimitService", "ok", null);
  const throttled = await rejects(() => t.engine.call("LimitService", "ok", null), BundlehostError);
  assert.equal(throttled.code, "THROTTLED");
  const late = await rejects(
    () => t.engine.call("SleepService", "nap", null, { timeoutMs: 30 }),
    BundlehostError,
  );
  assert.equal(late.code, "TIMEOUT");

  const text = await scrape(t.engine);
  const price = { rpc_service: "PriceService" };
  const fallback = { ...price, bundlehost_bundle_id: "fallback" };
  const degraded = (labels: Record<string, string>, reason: string) =>
    sample(text, "bundlehost_degraded_calls_total", {
      ...labels,
      bundlehost_degraded_reason: reason,
    });
  assert.equal(degraded(fallback, "timeout"), 1);
  assert.equal(degraded(fallback, "throttled"), 1);
  assert.equal(degraded({ ...price, bundlehost_bundle_id: "mock" }, "mock"), 1);
  // Throttled and timed-out count the broker's refusals and the degraded calls alike.
  assert.equal(sample(text, "bundlehost_throttled_calls_total", price), 1);
  assert.equal(
    sample(text, "bundlehost_throttled_calls_total", { rpc_service: "LimitService" }),
    1,
  );
  assert.equal(sample(text, "bundlehost_timed_out_calls_total", price), 1);
  assert.equal(
    sample(text, "bundlehost_timed_out_calls_total", { rpc_service: "SleepService" }),
    1,
  );
  assert.equal(
    sample(text, "bundlehost_calls_total", {
      ...fallback,
      rpc_method: "slow",
      bundlehost_bundle_version: "2.0.0",
      bundlehost_call_outcome: "degraded",
    }),
    1,
  );
  assert.equal(
    sample(text, "bundlehost_calls_total", {
      rpc_service: "LimitService",
      rpc_method: "ok",
      bundlehost_call_outcome: "error",
      error_type: "THROTTLED",
    }),
    1,
  );
});

Deno.test("Observability reports circuit breaker transitions and state", async () => {
  await using t = await testEngine({ plugins: [observability({ logFormat: "off" })] });
  await t.deploy(
    manifest("flaky", {
      services: { WorkService: "1.0.0" },
      governance: {
        strategy: "errorCount",
        threshold: 0,
        minRequestAmount: 1,
        retryTimeoutMs: 60_000,
      },
    }),
    { "mod.ts": WORK },
  );
  // The broker makes a bundle's breaker on its first call.
  assert.equal(await t.engine.call("WorkService", "ok", null), "fine");
  let text = await scrape(t.engine);
  const flaky = { bundlehost_bundle_id: "flaky" };
  assert.equal(
    sample(text, "bundlehost_breaker_state", { ...flaky, bundlehost_breaker_state: "CLOSED" }),
    1,
  );

  await rejects(() => t.engine.call("WorkService", "boom", null), BundlehostError, "boom");
  const refused = await rejects(() => t.engine.call("WorkService", "ok", null), BundlehostError);
  assert.equal(refused.code, "CIRCUIT_OPEN");

  text = await scrape(t.engine);
  assert.equal(
    sample(text, "bundlehost_breaker_state", { ...flaky, bundlehost_breaker_state: "OPEN" }),
    1,
  );
  assert.equal(
    sample(text, "bundlehost_breaker_state", { ...flaky, bundlehost_breaker_state: "CLOSED" }),
    0,
  );
  assert.equal(
    sample(text, "bundlehost_breaker_transitions_total", {
      ...flaky,
      bundlehost_breaker_previous_state: "CLOSED",
      bundlehost_breaker_state: "OPEN",
    }),
    1,
  );
  assert.equal(
    sample(text, "bundlehost_calls_total", {
      rpc_service: "WorkService",
      rpc_method: "ok",
      bundlehost_call_outcome: "error",
      error_type: "CIRCUIT_OPEN",
    }),
    1,
  );
});

Deno.test("Observability's per-bundle gauges grow with what runs: a bundle scaled to zero has no series", async () => {
  await using t = await testEngine({ plugins: [observability({ logFormat: "off" })] });
  await t.deploy(manifest("busy", { services: { BusyService: "1.0.0" } }), {
    "mod.ts": WORK.replace("WorkService", "BusyService"),
  });
  await t.deploy(
    manifest("idle", {
      services: { IdleService: "1.0.0" },
      scaling: { minWorkers: 0, idleMs: 200 },
    }),
    { "mod.ts": WORK.replace("WorkService", "IdleService") },
  );
  assert.equal(await t.engine.call("IdleService", "ok", null), "fine");
  await waitFor(() => t.engine.bundle("idle").revisions[0]?.instances.length === 0, 15_000);
  const text = await scrape(t.engine);
  const labels = (id: string) => ({
    bundlehost_bundle_id: id,
    bundlehost_bundle_version: "1.0.0",
    bundlehost_isolation: "worker",
    bundlehost_instance_state: "ready",
  });
  assert.equal(sample(text, "bundlehost_instance_count", labels("busy")), 1);
  assert.doesNotMatch(text, /^bundlehost_instance_count\{[^}]*bundlehost_bundle_id="idle"/m);
  assert.equal(sample(text, "bundlehost_bundle_count", { bundlehost_bundle_state: "ACTIVE" }), 2);
  // No bundle dropped a log line: no per-bundle series at all.
  assert.doesNotMatch(text, /^bundlehost_log_dropped/m);
  // Its call is still counted, under its own labels.
  assert.equal(
    sample(text, "bundlehost_calls_total", {
      rpc_service: "IdleService",
      rpc_method: "ok",
      bundlehost_bundle_id: "idle",
      bundlehost_bundle_version: "1.0.0",
      bundlehost_call_outcome: "ok",
    }),
    1,
  );
});
