/**
 * End-to-end OpenTelemetry export: the real engine (`main.ts`) runs in a child process with
 * `OTEL_DENO=true` and exports to a real OTLP/HTTP receiver on loopback. One HTTP call crosses two
 * bundles (a worker-tier bundle calling a process-tier one), each making spans of its own with
 * `npm:@opentelemetry/api`; the test checks the trace's parent/child links, the metrics' names
 * and units, and the trace ids on log records.
 *
 * @module
 */
import assert from "node:assert/strict";
import { waitFor, writeBundle } from "./_helpers.ts";
import { type ReceivedSpan, startOtlpReceiver } from "./_otlp.ts";
import { startEngineProcess } from "./_server.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const PAGE_TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
/** What the bundles' manifests allow, and the exact version they import (the one deno.lock has). */
const OTEL_API_RANGE = "npm:@opentelemetry/api@^1";
const OTEL_API = "npm:@opentelemetry/api@1.10.0";

const FRONT = `
import { trace } from "${OTEL_API}";
const tracer = trace.getTracer("front-bundle");
export default {
  services: {
    FrontService: {
      async order(input, ctx) {
        const joined = await tracer.startActiveSpan("front.prepare", async (span) => {
          try {
            console.log("front prepares order", input.sku);
            return await ctx.broker.get("QuoteService").quote({ sku: input.sku });
          } finally {
            span.end();
          }
        });
        // A span in a trace of its own: the engine must keep the call in the request's trace.
        const detached = await tracer.startActiveSpan("front.detached", { root: true }, async (span) => {
          try {
            return await ctx.broker.get("QuoteService").quote({ sku: "detached" });
          } finally {
            span.end();
          }
        });
        return { joined, detached };
      },
    },
  },
  fetch() {
    return tracer.startActiveSpan("front.page", (span) => {
      span.end();
      return new Response("page");
    });
  },
};`;

const QUOTE = (downstream: string) => `
import { trace } from "${OTEL_API}";
const tracer = trace.getTracer("quote-bundle");
export default {
  services: {
    QuoteService: {
      async quote(input) {
        return await tracer.startActiveSpan("quote.compute", async (span) => {
          try {
            span.setAttribute("quote.sku", input.sku);
            console.log("quote computes marker-" + input.sku);
            const response = await fetch("${downstream}/price?sku=" + input.sku);
            return { sku: input.sku, price: Number(await response.text()) };
          } finally {
            span.end();
          }
        });
      },
    },
  },
};`;

function only(spans: ReceivedSpan[], predicate: (s: ReceivedSpan) => boolean, what: string) {
  const found = spans.filter(predicate);
  assert.equal(found.length, 1, `expected one ${what}, got ${found.length}`);
  return found[0]!;
}

Deno.test("Observability exports one connected trace, named metrics and trace-tagged logs over OTLP", async () => {
  await using receiver = startOtlpReceiver();
  const outgoing: string[] = [];
  await using downstream = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      outgoing.push(req.headers.get("traceparent") ?? "");
      return new Response("42");
    },
  );
  const downstreamUrl = `http://127.0.0.1:${downstream.addr.port}`;
  const root = await Deno.makeTempDir({ prefix: "bundlehost-otlp-" });
  const dataDir = `${root}/data`;
  try {
    // main.ts may read its data folder only, so the sources and the ceiling live there.
    const sources = `${dataDir}/sources`;
    const net = [`127.0.0.1:${downstream.addr.port}`];
    await writeBundle(sources, {
      id: "front",
      version: "1.0.0",
      services: { FrontService: "1.0.0" },
      imports: [OTEL_API_RANGE],
    }, { "mod.ts": FRONT });
    await writeBundle(sources, {
      id: "quote",
      version: "2.1.0",
      services: { QuoteService: "1.0.0" },
      imports: [OTEL_API_RANGE],
      isolation: "process",
      permissions: { net },
    }, { "mod.ts": QUOTE(downstreamUrl) });
    await Deno.writeTextFile(`${dataDir}/ceiling.json`, JSON.stringify({ net }));
    await using engine = await startEngineProcess(
      dataDir,
      ["--bundles", sources, "--ceiling", `${dataDir}/ceiling.json`],
      {
        OTEL_DENO: "true",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "bundlehost-test",
        OTEL_METRIC_EXPORT_INTERVAL: "300",
        OTEL_BSP_SCHEDULE_DELAY: "100",
        OTEL_BLRP_SCHEDULE_DELAY: "100",
      },
    );

    const response = await fetch(`${engine.url}/rpc/FrontService/order`, {
      method: "POST",
      headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` },
      body: JSON.stringify({ sku: "tea-02" }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    assert.deepEqual(await response.json(), {
      result: {
        joined: { sku: "tea-02", price: 42 },
        detached: { sku: "detached", price: 42 },
      },
    });

    // A bundle's own HTTP handler, in a trace of its own.
    const page = await fetch(`${engine.url}/b/front/page`, {
      headers: { traceparent: `00-${PAGE_TRACE_ID}-${CALLER_SPAN}-01` },
    });
    assert.equal(await page.text(), "page");

    const inTrace = () => receiver.spans.filter((s) => s.traceId === TRACE_ID);
    const names = ["quote.compute", "QuoteService/quote", "front.prepare", "FrontService/order"];
    await waitFor(
      // All 11 spans of the trace (the server span, the front call, front.prepare, two quote
      // calls, two quote.compute, two runtime fetch spans and Deno's own under each), and
      // front.detached, in a trace of its own: each exporter sends in its own time.
      () =>
        names.every((n) => inTrace().some((s) => s.name === n)) &&
        inTrace().some((s) => s.kind === 2) && inTrace().length >= 11 &&
        receiver.spans.some((s) => s.name === "front.detached"),
      20_000,
      `the request's spans (got ${receiver.spans.map((s) => s.name).join(", ")}; ${
        receiver.rejected.join(", ")
      })`,
    );
    const spans = inTrace();

    // HTTP edge: Deno's server span, parented by the caller's traceparent, named after the route.
    const server = only(spans, (s) => s.kind === 2, "server span");
    assert.equal(server.name, "POST /rpc/:service/:method");
    assert.equal(server.parentSpanId, CALLER_SPAN);
    assert.equal(server.attributes["http.route"], "/rpc/:service/:method");

    // Broker → front (worker): the call span, child of the server span.
    const front = only(spans, (s) => s.name === "FrontService/order", "front call span");
    assert.equal(front.kind, 3);
    assert.equal(front.scope, "bundlehost");
    assert.equal(front.parentSpanId, server.spanId);
    assert.equal(front.attributes["rpc.system"], "bundlehost");
    assert.equal(front.attributes["rpc.service"], "FrontService");
    assert.equal(front.attributes["rpc.method"], "order");
    assert.equal(front.attributes["bundlehost.bundle.id"], "front");
    assert.equal(front.attributes["bundlehost.bundle.version"], "1.0.0");
    assert.equal(front.attributes["bundlehost.route.mode"], "default");
    assert.equal(front.attributes["bundlehost.call.hops"], 0);
    assert.equal(front.attributes["bundlehost.call.outcome"], "ok");

    // The front bundle's own span joins the trace under its call span.
    const prepare = only(spans, (s) => s.name === "front.prepare", "front.prepare");
    assert.equal(prepare.scope, "front-bundle");
    assert.equal(prepare.parentSpanId, front.spanId);

    // Front → quote (process tier): parented by the bundle's own active span.
    const quoteCalls = spans.filter((s) => s.name === "QuoteService/quote");
    assert.equal(quoteCalls.length, 2, "two calls to the quote bundle");
    const joinedCall = only(quoteCalls, (s) => s.parentSpanId === prepare.spanId, "joined call");
    assert.equal(joinedCall.attributes["bundlehost.call.hops"], 1);
    assert.equal(joinedCall.attributes["bundlehost.bundle.id"], "quote");
    assert.equal(joinedCall.attributes["bundlehost.bundle.version"], "2.1.0");
    // The detached span was in another trace: the engine kept that call under the front call.
    const detachedCall = only(quoteCalls, (s) => s.parentSpanId === front.spanId, "detached call");
    const detachedRoot = only(receiver.spans, (s) => s.name === "front.detached", "front.detached");
    assert.notEqual(detachedRoot.traceId, TRACE_ID);

    // Inside the child process, the quote bundle's span is a child of the call that reached it.
    const computes = spans.filter((s) => s.name === "quote.compute");
    assert.equal(computes.length, 2);
    const compute = only(computes, (s) => s.parentSpanId === joinedCall.spanId, "joined compute");
    only(computes, (s) => s.parentSpanId === detachedCall.spanId, "detached compute");
    assert.equal(compute.scope, "quote-bundle");
    assert.equal(compute.attributes["quote.sku"], "tea-02");

    // On the way out: the bundle's fetch carries the trace (Deno's client span under compute).
    const fetchSpan = only(
      spans,
      (s) => s.kind === 3 && s.parentSpanId === compute.spanId,
      "fetch",
    );
    assert.ok(
      outgoing.includes(`00-${TRACE_ID}-${fetchSpan.spanId}-01`),
      `downstream saw ${outgoing.join(", ")}`,
    );

    // /b/:bundleId/*: the same call path as /rpc — a call span under the request's server span,
    // and the bundle's handler under the call span.
    const pageSpans = () => receiver.spans.filter((s) => s.traceId === PAGE_TRACE_ID);
    // Three processes' exporters each send in their own time: wait for all three spans.
    await waitFor(
      () =>
        ["front.page", "GET /b/:bundleId/*", "/b/front GET"].every((n) =>
          pageSpans().some((s) => s.name === n)
        ),
      10_000,
      "the page request's spans",
    );
    const pageServer = only(pageSpans(), (s) => s.kind === 2, "page server span");
    assert.equal(pageServer.name, "GET /b/:bundleId/*");
    assert.equal(pageServer.parentSpanId, CALLER_SPAN);
    const pageCall = only(pageSpans(), (s) => s.name === "/b/front GET", "page call span");
    assert.equal(pageCall.kind, 3);
    assert.equal(pageCall.parentSpanId, pageServer.spanId);
    assert.equal(pageCall.attributes["bundlehost.bundle.id"], "front");
    assert.equal(pageCall.attributes["bundlehost.call.outcome"], "ok");
    assert.equal(
      only(pageSpans(), (s) => s.name === "front.page", "front.page").parentSpanId,
      pageCall.spanId,
    );

    // Logs: bundle console output carries the trace id and the span active when it logged.
    await waitFor(
      () => receiver.logs.some((l) => l.body.includes("marker-tea-02")),
      10_000,
      "the quote bundle's log record",
    );
    const quoteLog = receiver.logs.find((l) => l.body.includes("marker-tea-02"))!;
    assert.equal(quoteLog.traceId, TRACE_ID);
    assert.equal(quoteLog.spanId, compute.spanId);
    assert.match(quoteLog.body, /\[quote@2\.1\.0\]/);
    const frontLog = receiver.logs.find((l) => l.body.includes("front prepares order"))!;
    assert.equal(frontLog.traceId, TRACE_ID);
    assert.equal(frontLog.spanId, prepare.spanId);
    // Engine events are records too, outside any trace.
    const started = receiver.logs.find((l) => l.body.includes("[quote@2.1.0] STARTING → ACTIVE"));
    assert.ok(started, "the lifecycle change is a log record");
    assert.equal(started.traceId, "");

    // Metrics: Bundlehost's instruments with the documented names and units.
    const metric = (name: string) => receiver.metrics.filter((m) => m.name === name);
    const counted = (service: string, value: number) =>
      metric("bundlehost.calls").at(-1)?.points.some((p) =>
        p.attributes["rpc.service"] === service && p.value === value
      ) === true;
    // The front call ends after its two quote calls: wait for an export that holds all three.
    await waitFor(
      () =>
        counted("QuoteService", 2) && counted("FrontService", 1) &&
        metric("bundlehost.instance.count").length > 0,
      10_000,
      `metrics (got ${[...new Set(receiver.metrics.map((m) => m.name))].join(", ")})`,
    );
    const calls = metric("bundlehost.calls").at(-1)!;
    assert.equal(calls.scope, "bundlehost");
    assert.equal(calls.unit, "{call}");
    assert.equal(calls.type, "sum");
    assert.equal(calls.monotonic, true);
    const frontPoint = calls.points.find((p) => p.attributes["rpc.service"] === "FrontService");
    assert.deepEqual(frontPoint?.attributes, {
      "rpc.service": "FrontService",
      "rpc.method": "order",
      "bundlehost.bundle.id": "front",
      "bundlehost.bundle.version": "1.0.0",
      "bundlehost.call.outcome": "ok",
    });
    assert.equal(frontPoint?.value, 1);
    const duration = metric("bundlehost.call.duration").at(-1)!;
    assert.equal(duration.type, "histogram");
    assert.equal(duration.unit, "s");
    const starts = metric("bundlehost.instance.starts").at(-1)!;
    assert.ok(
      starts.points.some((p) =>
        p.attributes["bundlehost.bundle.id"] === "quote" &&
        p.attributes["bundlehost.start.kind"] === "cold" && p.value >= 1
      ),
    );
    const pool = metric("bundlehost.instance.count").at(-1)!;
    assert.equal(pool.type, "gauge");
    assert.ok(
      pool.points.some((p) =>
        p.attributes["bundlehost.bundle.id"] === "quote" &&
        p.attributes["bundlehost.isolation"] === "process" &&
        p.attributes["bundlehost.instance.state"] === "ready" && p.value === 1
      ),
    );
    // Deno's own HTTP server metric is there too (the plugin does not duplicate it over OTLP).
    assert.ok(metric("http.server.request.duration").every((m) => m.scope === "deno"));
    assert.ok(metric("http.server.request.duration").length > 0);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
