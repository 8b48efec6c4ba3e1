/**
 * The observability plugin: OpenTelemetry traces, metrics and logs for the engine and its
 * bundles, exported by Deno's built-in OpenTelemetry (`OTEL_DENO=true`, OTLP over HTTP), plus
 * `GET /metrics` in Prometheus text format.
 *
 * - **Traces**: one trace per request, from the HTTP edge through the broker into each sandbox and
 *   across every call between bundles (see `tracing.ts`); spans a bundle makes with
 *   `npm:@opentelemetry/api` join it.
 * - **Metrics**: calls, durations, degradation, throttling, timeouts, instance starts and
 *   restarts, pool sizes, breaker states (see `semconv.ts` for names and units).
 * - **Logs**: bundle console output and engine events, printed human-readable or as JSON, each
 *   exported with the trace id of the call that produced it (see `logs.ts`).
 *
 * @example Serve an engine with metrics and tracing
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 * import { serviceRelease } from "@bundlehost/sdk/service-release";
 * import { observability } from "@bundlehost/sdk/observability";
 *
 * const engine = await createEngine({ plugins: [observability(), serviceRelease()] });
 * Deno.serve({ hostname: "127.0.0.1", port: 8000 }, engine.fetch);
 * ```
 *
 * @module
 */
import { pathOf } from "../../engine/edge/http.ts";
import { metrics, trace } from "@opentelemetry/api";
import type { Engine } from "../../engine/engine.ts";
import { definePlugin, type Plugin } from "../../engine/plugin/plugin.ts";
import { ENGINE_VERSION } from "../../engine/base/version.ts";
import { StorageMetrics } from "./storage_metrics.ts";
import { type LogFormat, type LogLevel, LogSink } from "./logs.ts";
import { engineListeners } from "./engine_listeners.ts";
import { PROMETHEUS_CONTENT_TYPE } from "./prometheus.ts";
import { BundlehostMetrics } from "./recorder.ts";
import { otelEnabled, Tracing } from "./tracing.ts";

export { METRICS } from "./semconv.ts";
export type { LogFormat, LogLevel } from "./logs.ts";

/**
 * Options for {@linkcode observability}.
 *
 * @example JSON logs at info and above, no /metrics
 * ```ts
 * import { observability, type ObservabilityOptions } from "@bundlehost/sdk/observability";
 *
 * const options: ObservabilityOptions = { logFormat: "json", logLevel: "info", metricsPath: false };
 * const plugin = observability(options);
 * ```
 */
export interface ObservabilityOptions {
  /** Path that serves Prometheus text; `false` serves none. @default {"/metrics"} */
  metricsPath?: string | false;
  /**
   * Console log format for bundle output and engine events; `"off"` prints nothing (and so
   * exports no log records). @default {"human"}
   */
  logFormat?: LogFormat | "off";
  /** Lowest level printed. @default {"debug"} */
  logLevel?: LogLevel;
  /**
   * Make spans and record metrics to OpenTelemetry. @default {true when Deno's OpenTelemetry is on
   * (`OTEL_DENO=true`), else false}
   */
  otel?: boolean;
  /** Instrumentation scope name of spans and metrics. @default {"bundlehost"} */
  scope?: string;
  /**
   * Most series per metric; past it, new series fold into one overflow series
   * (`otel_metric_overflow="true"`) counted by `bundlehost.metric.dropped_series`.
   * @default {2000}
   */
  maxSeriesPerMetric?: number;
  /**
   * A `/metrics` scrape within this many ms of the last render gets that text again (scrapes
   * during a render always share it). @default {0}
   */
  metricsCacheMs?: number;
}

/**
 * Shares one render between scrapes: a scrape during a render gets the same chunks, and one
 * within `cacheMs` of its end too, so a flood of scrapes costs one render at a time.
 */
function sharedRender(
  render: () => AsyncIterable<string>,
  cacheMs: number,
): () => Promise<string[]> {
  let last: { chunks: Promise<string[]>; at: number } | undefined;
  // Real time: the plugin measures what scrapes and calls cost the process, not engine time.
  return () => {
    if (last && performance.now() - last.at < cacheMs) return last.chunks;
    const entry = { chunks: Array.fromAsync(render()), at: Infinity };
    last = entry;
    entry.chunks.then(
      () => (entry.at = performance.now()),
      () => (last === entry ? last = undefined : undefined),
    );
    return entry.chunks;
  };
}

/** A response body that encodes one chunk per read (no single huge string or buffer). */
function chunkedBody(chunks: readonly string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let next = 0;
  return new ReadableStream({
    pull(controller) {
      if (next < chunks.length) controller.enqueue(encoder.encode(chunks[next++]));
      else controller.close();
    },
  });
}

const ROUTES: [prefix: string, template: string][] = [
  ["/rpc/", "/rpc/:service/:method"],
  ["/events/", "/events/:topic"],
  ["/b/", "/b/:bundleId/*"],
  ["/admin/", "/admin/*"],
];

function routeOf(path: string, exact: readonly string[]): string | undefined {
  for (const [prefix, template] of ROUTES) if (path.startsWith(prefix)) return template;
  return exact.includes(path) ? path : undefined;
}

/**
 * Creates the observability plugin. It runs first (`enforce: "pre"`), so its request and call
 * wrappers see everything the other plugins do.
 *
 * @param options Endpoint, log format, OpenTelemetry switch.
 * @returns The plugin.
 *
 * @example Metrics on a private path, spans only when OTEL_DENO is set
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 * import { observability } from "@bundlehost/sdk/observability";
 *
 * const engine = await createEngine({ plugins: [observability({ metricsPath: "/internal/metrics" })] });
 * const metrics = await engine.fetch(new Request("http://127.0.0.1/internal/metrics"));
 * console.log(metrics.headers.get("content-type"));
 * ```
 */
export function observability(options: ObservabilityOptions = {}): Plugin<Engine> {
  const metricsPath = options.metricsPath ?? "/metrics";
  const exactRoutes = ["/healthz", ...(metricsPath === false ? [] : [metricsPath])];
  const otel = options.otel ?? otelEnabled();
  const scope = options.scope ?? "bundlehost";
  const recorder = new BundlehostMetrics(
    otel ? metrics.getMeter(scope, ENGINE_VERSION) : undefined,
    options.maxSeriesPerMetric,
  );
  const storage = new StorageMetrics(recorder.registry);
  const scrape = sharedRender(
    () => recorder.registry.renderSliced(),
    options.metricsCacheMs ?? 0,
  );
  const breakers = new Map<string, string>();
  const tracing = otel
    ? new Tracing(trace.getTracer(scope, ENGINE_VERSION), (bundle) => breakers.get(bundle))
    : undefined;
  const logFormat = options.logFormat ?? "human";
  const sink = logFormat === "off"
    ? undefined
    : new LogSink({ format: logFormat, level: options.logLevel ?? "debug", traced: otel });

  const listeners = engineListeners(recorder, storage, sink, breakers);

  return definePlugin<Engine>({
    name: "observability",
    version: "0.1.0",
    engine: "^0.1.0",
    enforce: "pre",
    setup(engine) {
      listeners.attach(engine);
    },
    close(engine) {
      listeners.detach(engine);
    },
    fetch(request) {
      // Not async: declining every other request costs no promise (it runs on every request).
      if (metricsPath === false || request.method !== "GET") return undefined;
      if (pathOf(request.url) !== metricsPath) return undefined;
      return scrape().then((text) =>
        new Response(chunkedBody(text), {
          headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
        })
      );
    },
    async wrapRequest(request, next) {
      // Latency metrics are real elapsed time, whatever clock the engine runs on.
      const started = performance.now();
      const route = routeOf(pathOf(request.url), exactRoutes);
      let status = 500;
      try {
        const response = tracing
          ? await tracing.request(request, route, next)
          : await next(request);
        status = response.status;
        return response;
      } finally {
        recorder.request(request.method, route, status, (performance.now() - started) / 1000);
      }
    },
    async wrapCall(call, next) {
      // Real elapsed time, as for requests above.
      const started = performance.now();
      const active = recorder.callStarted(call);
      const span = tracing?.startCall(call);
      try {
        const outcome = await next(span ? { ...call, ...tracing!.contextOf(call, span) } : call);
        recorder.callEnded(call, (performance.now() - started) / 1000, outcome, undefined, active);
        if (span) tracing!.endCall(span, outcome);
        return outcome;
      } catch (error) {
        recorder.callEnded(call, (performance.now() - started) / 1000, undefined, error, active);
        if (span) tracing!.failCall(span, error);
        throw error;
      }
    },
  });
}
