/**
 * Hostile input, class 3: metric cardinality. 50 000 anonymous requests with random service,
 * method, bundle, topic and HTTP method names must not grow `/metrics` (nor what goes out over
 * OTLP): names no installed bundle declares fold into `_unknown`, every metric has a hard series
 * cap, and scrapes render in slices so the probe keeps answering while they run.
 *
 * @module
 */
import assert from "node:assert/strict";
import { assertHeld, type BundleSpec, hostileEngine, probe, rssMiB } from "./_hostile.ts";
import { startOtlpReceiver } from "./_otlp.ts";
import { waitFor } from "./_helpers.ts";
import { MetricRegistry } from "../plugins/observability/metrics.ts";

/** A bundle that declares the names that may become label values. */
const DECLARED: BundleSpec = {
  manifest: {
    id: "declared",
    version: "1.0.0",
    entry: "./mod.ts",
    services: { DeclaredService: "1.0.0" },
  },
  files: {
    "mod.ts": `export default { services: { DeclaredService: { known: () => "yes" } } };`,
  },
};

const REQUESTS = 50_000;
const CONCURRENCY = 4;
const OTLP_REQUESTS = 1_000;

const random = () => crypto.randomUUID().replaceAll("-", "").slice(0, 12);

/** One hostile request; `i` picks the kind. Returns its status. */
async function hostileRequest(url: string, i: number): Promise<number> {
  const name = random();
  let response: Response;
  switch (i % 5) {
    case 0:
    case 1:
      response = await fetch(`${url}/rpc/S${name}/m${name}`, { method: "POST", body: "{}" });
      break;
    case 2:
      // A declared service with an undeclared method: the method must fold too.
      response = await fetch(`${url}/rpc/DeclaredService/m${name}`, {
        method: "POST",
        body: "{}",
      });
      break;
    case 3:
      response = await fetch(`${url}/b/b${name}/p${name}`);
      break;
    default:
      // An invalid topic (no event is stored) under a made-up HTTP method every fifth time.
      response = await fetch(`${url}/events/T${name}`, {
        method: i % 25 === 4 ? `X${name.toUpperCase()}` : "POST",
        body: "{}",
      });
  }
  await response.body?.cancel();
  return response.status;
}

/** Sends `count` hostile requests, `CONCURRENCY` at a time, counting statuses. */
async function flood(url: string, count: number, statuses: Map<number, number>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < count) {
      const status = await hostileRequest(url, next++);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  }));
}

/** The labels of one sample line. */
function labelsOf(line: string): Record<string, string> {
  const body = /\{(.*)\}/.exec(line)?.[1] ?? "";
  return Object.fromEntries(
    [...body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((
      m,
    ) => [m[1]!, m[2]!]),
  );
}

/** Prometheus sample lines (no comments) of a scrape. */
function samples(text: string): string[] {
  return text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
}

Deno.test("Hostile metrics: random names never become label values, and scrapes stay bounded", async () => {
  await using engine = await hostileEngine({ bundles: [DECLARED] });
  const declared = await fetch(`${engine.url}/rpc/DeclaredService/known`, {
    method: "POST",
    body: "{}",
  });
  assert.equal(declared.status, 200);
  await declared.body?.cancel();
  const before = (await (await fetch(`${engine.url}/metrics`)).text()).length;

  const watch = probe(engine.url);
  const statuses = new Map<number, number>();
  await flood(engine.url, REQUESTS, statuses);
  assertHeld(await watch.stop(), engine);
  assert.equal([...statuses.values()].reduce((a, b) => a + b, 0), REQUESTS);
  assert.ok(!statuses.has(500), `statuses: ${JSON.stringify([...statuses])}`);

  // Repeated scrapes, several at once, for a few seconds while the probe runs.
  const scraping = probe(engine.url);
  let text = "";
  const until = performance.now() + 3_000;
  for (let round = 0; round < 200 && performance.now() < until; round++) {
    const texts = await Promise.all(
      Array.from({ length: 4 }, async () => await (await fetch(`${engine.url}/metrics`)).text()),
    );
    text = texts[0]!;
  }
  assertHeld(await scraping.stop(), engine);

  // Bounded: the flood added a handful of series (the folded ones), not tens of thousands.
  const lines = samples(text);
  assert.ok(lines.length < 1_500, `${lines.length} sample lines`);
  assert.ok(text.length < before + 150_000, `/metrics grew from ${before} to ${text.length} bytes`);
  assert.doesNotMatch(text, /"[STmbp][0-9a-f]{12}"|"X[0-9A-F]{12}"/, "a random name is a label");
  const calls = lines.filter((line) => line.startsWith("bundlehost_calls_total{")).map(labelsOf);
  const has = (wanted: Record<string, string>) =>
    calls.some((got) => Object.entries(wanted).every(([k, v]) => got[k] === v));
  assert.ok(has({ rpc_service: "_unknown", rpc_method: "_unknown" }), "unknown names fold");
  assert.ok(
    has({ rpc_service: "DeclaredService", rpc_method: "_unknown" }),
    "an undeclared method of a declared service folds",
  );
  assert.ok(
    has({ rpc_service: "DeclaredService", rpc_method: "known", bundlehost_call_outcome: "ok" }),
    "a declared name gets its own label value",
  );
  assert.match(text, /^http_server_request_duration_seconds_count\{http_request_method="_OTHER"/m);
  assert.ok(rssMiB(engine.proc.pid) < 600, `engine RSS ${rssMiB(engine.proc.pid)} MiB`);
});

Deno.test("Hostile metrics: OTLP export gets the same folded label values", async () => {
  await using receiver = startOtlpReceiver();
  await using engine = await hostileEngine({
    bundles: [DECLARED],
    env: {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "bundlehost-hostile",
      OTEL_METRIC_EXPORT_INTERVAL: "300",
    },
  });
  const declared = await fetch(`${engine.url}/rpc/DeclaredService/known`, {
    method: "POST",
    body: "{}",
  });
  assert.equal(declared.status, 200);
  await declared.body?.cancel();
  await flood(engine.url, OTLP_REQUESTS, new Map());

  // OTLP carries the same folded label values.
  await waitFor(
    () =>
      receiver.metrics.some((m) =>
        m.name === "bundlehost.calls" &&
        m.points.some((p) => p.attributes["rpc.service"] === "_unknown")
      ),
    20_000,
  );
  const exported = receiver.metrics.filter((m) => m.name.startsWith("bundlehost."));
  const values = (key: string) =>
    new Set<unknown>(exported.flatMap((m) => m.points.map((p) => p.attributes[key])));
  const services = values("rpc.service");
  const methods = values("rpc.method");
  services.delete(undefined);
  methods.delete(undefined);
  const allowed = (values: Set<unknown>, names: unknown[]) =>
    [...values].every((value) => names.includes(value));
  assert.ok(
    allowed(services, ["DeclaredService", "VictimService", "_unknown"]),
    `exported rpc.service values: ${[...services].join(", ")}`,
  );
  assert.ok(services.has("_unknown") && services.has("DeclaredService"));
  // `/b/` requests are calls too (kind "fetch"): their method label is the HTTP method, from the
  // fixed set (the flood only sends GET there); an unknown bundle's service label folds.
  assert.ok(allowed(methods, ["known", "ping", "_unknown", "GET"]), [...methods].join(", "));
});

/** A registry with a series cap, a counter "c" and a histogram "h" (one bucket at 1). */
function cappedMetrics(maxSeriesPerMetric: number) {
  const registry = new MetricRegistry({ maxSeriesPerMetric });
  const counter = registry.counter({ name: "c", unit: "{x}", type: "counter", description: "C" });
  const histogram = registry.histogram({
    name: "h",
    unit: "s",
    type: "histogram",
    description: "H",
    buckets: [1],
  });
  return { registry, counter, histogram };
}

Deno.test("Hostile metrics: every metric has a hard series cap with an overflow series", () => {
  const { registry, counter, histogram } = cappedMetrics(100);
  for (let i = 0; i < 5_000; i++) {
    counter.add(1, { name: `n${i}` });
    histogram.record(0.5, { name: `n${i}` });
  }
  const points = counter.points();
  assert.equal(points.length, 100);
  const overflow = points.find((p) => p.attributes["otel.metric.overflow"] === true);
  assert.equal(overflow?.value, 4_901, "what did not fit is counted in the overflow series");
  assert.equal(points.reduce((sum, p) => sum + p.value, 0), 5_000, "nothing is lost");
  assert.equal(histogram.points().length, 100);
  const text = registry.render();
  assert.match(
    text,
    /^bundlehost_metric_dropped_series_total\{bundlehost_metric_name="c"\} 4901$/m,
  );
  assert.match(
    text,
    /^bundlehost_metric_dropped_series_total\{bundlehost_metric_name="h"\} 4901$/m,
  );
  assert.match(text, /^c_total\{otel_metric_overflow="true"\} 4901$/m);
});

Deno.test("Hostile metrics: a bound series at the cap still counts every folded recording", () => {
  const { registry, counter, histogram } = cappedMetrics(3);
  // Two series fit (the overflow series takes the third slot); the rest are bound to overflow.
  const counters = Array.from({ length: 10 }, (_, i) => counter.bind({ name: `n${i}` }));
  const histograms = Array.from({ length: 10 }, (_, i) => histogram.bind({ name: `n${i}` }));
  for (let round = 0; round < 3; round++) {
    for (const bound of counters) bound.add(2);
    for (const bound of histograms) bound.record(0.5);
  }
  assert.throws(() => counters[0]!.add(-1), RangeError);
  const points = counter.points();
  assert.equal(points.length, 3);
  assert.deepEqual(points.find((p) => p.attributes.name === "n0"), {
    attributes: { name: "n0" },
    value: 6,
  });
  const overflow = points.find((p) => p.attributes["otel.metric.overflow"] === true);
  assert.equal(overflow?.value, 8 * 3 * 2, "what did not fit is counted in the overflow series");
  assert.equal(histogram.points().reduce((sum, p) => sum + p.count, 0), 30);
  const text = registry.render();
  // Binding records nothing; every recording through an overflow handle counts once.
  assert.match(
    text,
    /^bundlehost_metric_dropped_series_total\{bundlehost_metric_name="c"\} 24$/m,
  );
  assert.match(
    text,
    /^bundlehost_metric_dropped_series_total\{bundlehost_metric_name="h"\} 24$/m,
  );
});

Deno.test("Hostile metrics: a sliced render gives the same text as a whole one", async () => {
  const registry = new MetricRegistry();
  const histogram = registry.histogram({
    name: "h",
    unit: "s",
    type: "histogram",
    description: "H",
    buckets: [0.1, 1],
  });
  for (let i = 0; i < 1_500; i++) histogram.record(i / 1000, { name: `n${i}` });
  const chunks = await Array.fromAsync(registry.renderSliced(0));
  assert.ok(chunks.length > 1, "a zero-ms slice yields more than once");
  assert.equal(chunks.join(""), registry.render());
});
