/**
 * The observability plugin's building blocks: Prometheus naming and text format, the metric
 * registry, the metric catalogue against the README's table, log formats, and the protocol's
 * validation of trace context coming from a sandbox.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseGuestMessage } from "../engine/sandbox/wire/guest_message.ts";
import { isTraceparent } from "../engine/base/trace_context.ts";
import { formatHuman, formatJson, LogSink } from "../plugins/observability/logs.ts";
import { MetricRegistry } from "../plugins/observability/metrics.ts";
import { prometheusName, renderPrometheus } from "../plugins/observability/prometheus.ts";
import { METRICS } from "../plugins/observability/semconv.ts";
import { ROOT } from "./_helpers.ts";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

Deno.test("prometheusName translates OpenTelemetry names, units and counters", () => {
  const name = (
    n: string,
    unit: string,
    type: "counter" | "updowncounter" | "gauge" | "histogram",
  ) => prometheusName({ name: n, unit, type, description: "" });
  assert.equal(
    name("bundlehost.call.duration", "s", "histogram"),
    "bundlehost_call_duration_seconds",
  );
  assert.equal(name("bundlehost.calls", "{call}", "counter"), "bundlehost_calls_total");
  assert.equal(
    name("bundlehost.active_calls", "{call}", "updowncounter"),
    "bundlehost_active_calls",
  );
  assert.equal(
    name("http.server.request.body.size", "By", "histogram"),
    "http_server_request_body_size_bytes",
  );
  assert.equal(name("x.latency_seconds", "s", "gauge"), "x_latency_seconds");
  assert.equal(name("jobs.done_total", "1", "counter"), "jobs_done_total");
});

Deno.test("renderPrometheus writes cumulative buckets, sorted labels and escaped values", () => {
  const text = renderPrometheus([
    {
      descriptor: {
        name: "t.d",
        unit: "s",
        type: "histogram",
        description: "Line\nbreak",
        buckets: [0.1, 1],
      },
      points: [{ attributes: { z: "1", a: 'q"\\\n' }, counts: [2, 1, 3], sum: 9.5, count: 6 }],
    },
    {
      descriptor: { name: "t.g", unit: "{x}", type: "updowncounter", description: "G" },
      points: [],
    },
  ]);
  assert.equal(
    text,
    [
      "# HELP t_d_seconds Line\\nbreak",
      "# TYPE t_d_seconds histogram",
      't_d_seconds_bucket{a="q\\"\\\\\\n",z="1",le="0.1"} 2',
      't_d_seconds_bucket{a="q\\"\\\\\\n",z="1",le="1"} 3',
      't_d_seconds_bucket{a="q\\"\\\\\\n",z="1",le="+Inf"} 6',
      't_d_seconds_sum{a="q\\"\\\\\\n",z="1"} 9.5',
      't_d_seconds_count{a="q\\"\\\\\\n",z="1"} 6',
      "# HELP t_g G",
      "# TYPE t_g gauge",
      "",
    ].join("\n"),
  );
});

Deno.test("MetricRegistry keeps one series per attribute set and bucket bounds inclusive", () => {
  const registry = new MetricRegistry();
  const counter = registry.counter({ name: "c", unit: "{x}", type: "counter", description: "C" });
  counter.add(1, { a: "1", b: "2" });
  counter.add(2, { b: "2", a: "1", gone: undefined });
  assert.throws(() => counter.add(-1), RangeError);
  const histogram = registry.histogram({
    name: "h",
    unit: "s",
    type: "histogram",
    description: "H",
    buckets: [1, 2],
  });
  histogram.record(1);
  histogram.record(1.5);
  histogram.record(7);
  assert.throws(
    () => registry.counter({ name: "c", unit: "", type: "counter", description: "" }),
    TypeError,
  );
  assert.throws(
    () =>
      registry.histogram({
        name: "h2",
        unit: "s",
        type: "histogram",
        description: "",
        buckets: [2, 1],
      }),
    TypeError,
  );
  let observed = 0;
  registry.gauge({ name: "g", unit: "{x}", type: "gauge", description: "G" }, (observe) => {
    observe(++observed, { k: "v" });
  });
  const [dropped, c, h, g] = registry.collect();
  assert.equal(dropped?.descriptor.name, "bundlehost.metric.dropped_series");
  assert.deepEqual(c?.points, [{ attributes: { a: "1", b: "2" }, value: 3 }]);
  assert.deepEqual(h?.points, [{ attributes: {}, counts: [1, 1, 1], sum: 9.5, count: 3 }]);
  assert.deepEqual(g?.points, [{ attributes: { k: "v" }, value: 1 }]);
  assert.match(registry.render(), /^g\{k="v"\} 2$/m);
});

Deno.test("README's metric table lists every metric with its Prometheus name and unit", async () => {
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  for (const metric of Object.values(METRICS)) {
    const row = readme.split("\n").find((line) => line.startsWith(`| \`${metric.name}\` `));
    assert.ok(row, `README has no row for ${metric.name}`);
    const cells = row.split("|").map((cell) => cell.trim());
    assert.equal(cells[2], `\`${prometheusName(metric)}\``, `${metric.name}: ${row}`);
    assert.equal(cells[4], `\`${metric.unit}\``, `${metric.name} unit: ${row}`);
  }
});

Deno.test("Grafana dashboard queries only metrics the plugin records", async () => {
  const dashboard = JSON.parse(
    await Deno.readTextFile(`${ROOT}/plugins/observability/grafana_dashboard.json`),
  );
  const known = new Set<string>();
  for (const metric of Object.values(METRICS)) {
    const name = prometheusName(metric);
    known.add(name);
    if (metric.type === "histogram") {
      for (const s of ["_bucket", "_sum", "_count"]) known.add(name + s);
    }
  }
  const used = new Set<string>();
  const panels = dashboard.panels.filter((p: { type: string }) => p.type !== "row");
  assert.ok(panels.length >= 10);
  for (const panel of panels) {
    assert.ok(panel.targets.length > 0, `panel "${panel.title}" has no query`);
    for (const target of panel.targets) {
      // Metric names, not label names: every selector here starts with one, then "{".
      for (const [, name] of target.expr.matchAll(/\b((?:bundlehost|http_server)_[a-z_]+)\{/g)) {
        assert.ok(known.has(name!), `panel "${panel.title}" queries unknown metric ${name}`);
        used.add(name!).add(name!.replace(/_(bucket|sum|count)$/, ""));
      }
    }
  }
  // Every metric appears on the dashboard.
  for (const metric of Object.values(METRICS)) {
    assert.ok(used.has(prometheusName(metric)), `no panel shows ${prometheusName(metric)}`);
  }
});

Deno.test("Log formats carry bundle, instance and trace ids", () => {
  const record = {
    time: new Date("2026-01-02T03:04:05.678Z"),
    level: "warn" as const,
    message: "slow",
    bundle: "hello",
    version: "1.0.0",
    instance: "i-1",
    traceparent: TRACEPARENT,
  };
  assert.equal(
    formatHuman(record),
    "2026-01-02T03:04:05.678Z WARN  [hello@1.0.0] slow (trace 4bf92f3577b34da6a3ce929d0e0e4736)",
  );
  assert.deepEqual(JSON.parse(formatJson(record)), {
    time: "2026-01-02T03:04:05.678Z",
    level: "warn",
    source: "hello@1.0.0",
    message: "slow",
    bundle: "hello",
    version: "1.0.0",
    instance: "i-1",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
  });
  assert.equal(
    formatHuman({ time: record.time, level: "info", message: "up" }),
    "2026-01-02T03:04:05.678Z INFO  [engine] up",
  );
});

Deno.test("LogSink prints at or above its level, warn and error to stderr", () => {
  const printed: string[] = [];
  const saved = {
    info: console.info,
    warn: console.warn,
    debug: console.debug,
    error: console.error,
  };
  console.info = (line: string) => printed.push(`out ${line}`);
  console.debug = (line: string) => printed.push(`dbg ${line}`);
  console.warn = (line: string) => printed.push(`err ${line}`);
  console.error = (line: string) => printed.push(`err ${line}`);
  try {
    const sink = new LogSink({ format: "json", level: "info" });
    const time = new Date(0);
    sink.write({ time, level: "debug", message: "hidden" });
    sink.write({ time, level: "info", message: "shown" });
    sink.write({ time, level: "error", message: "bad", traceparent: TRACEPARENT });
  } finally {
    Object.assign(console, saved);
  }
  assert.equal(printed.length, 2);
  assert.match(printed[0]!, /^out \{"time".*"message":"shown"\}$/);
  assert.match(printed[1]!, /^err .*"traceId":"4bf92f3577b34da6a3ce929d0e0e4736"/);
});

Deno.test("isTraceparent accepts W3C trace context only", () => {
  assert.ok(isTraceparent(TRACEPARENT));
  assert.ok(!isTraceparent(TRACEPARENT.toUpperCase()));
  assert.ok(!isTraceparent(`ff${TRACEPARENT.slice(2)}`));
  assert.ok(!isTraceparent(`00-${"0".repeat(32)}-00f067aa0ba902b7-01`));
  assert.ok(!isTraceparent(`00-4bf92f3577b34da6a3ce929d0e0e4736-${"0".repeat(16)}-01`));
  assert.ok(!isTraceparent(`${TRACEPARENT}-00`));
  assert.ok(!isTraceparent(42));
});

Deno.test("parseGuestMessage keeps a guest's trace context only when well formed", () => {
  const call = { type: "broker-call", id: 1, service: "S", method: "m", input: null };
  assert.equal(
    (parseGuestMessage({ ...call, traceparent: TRACEPARENT }) as { traceparent?: string })
      .traceparent,
    TRACEPARENT,
  );
  const forged = parseGuestMessage({ ...call, traceparent: "00-zz" }) as Record<string, unknown>;
  assert.equal(forged.type, "broker-call");
  assert.ok(!("traceparent" in forged));
  const log = { type: "log", level: "info", message: "x" };
  assert.equal(
    (parseGuestMessage({ ...log, traceparent: TRACEPARENT }) as { traceparent?: string })
      .traceparent,
    TRACEPARENT,
  );
  assert.ok(!("traceparent" in (parseGuestMessage({ ...log, traceparent: 7 }) as object)));
});
