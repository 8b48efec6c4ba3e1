/**
 * A real OTLP/HTTP receiver on loopback for tests: accepts `POST /v1/traces`, `/v1/metrics` and
 * `/v1/logs` in the OTLP/JSON encoding (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`, which Deno
 * supports) and keeps what arrives, flattened.
 *
 * @module
 */

/** An OTLP/JSON attribute value. */
type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
};

/** A received span. */
export interface ReceivedSpan {
  /** Instrumentation scope name (`deno` for Deno's own spans). */
  scope: string;
  /** `service.name` of the exporting process. */
  service: string;
  /** Span name. */
  name: string;
  /** 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  /** Hex trace id. */
  traceId: string;
  /** Hex span id. */
  spanId: string;
  /** Hex parent span id, `""` for a root. */
  parentSpanId: string;
  /** Attributes. */
  attributes: Record<string, string | number | boolean>;
  /** Status code: 0 unset, 1 ok, 2 error. */
  status: number;
}

/** A received log record. */
export interface ReceivedLog {
  /** Scope name. */
  scope: string;
  /** Body text. */
  body: string;
  /** Severity text. */
  severity: string;
  /** Hex trace id, `""` when none. */
  traceId: string;
  /** Hex span id, `""` when none. */
  spanId: string;
}

/** A received metric (one per export and scope). */
export interface ReceivedMetric {
  /** Scope name. */
  scope: string;
  /** Metric name. */
  name: string;
  /** Unit. */
  unit: string;
  /** `sum`, `gauge` or `histogram`. */
  type: string;
  /** Whether a sum is monotonic. */
  monotonic?: boolean;
  /** Data points: attributes and value (histograms: count). */
  points: { attributes: Record<string, string | number | boolean>; value: number }[];
}

/** A running receiver. */
export interface OtlpReceiver extends AsyncDisposable {
  /** Base URL for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  url: string;
  /** Spans so far. */
  spans: ReceivedSpan[];
  /** Log records so far. */
  logs: ReceivedLog[];
  /** Metrics so far. */
  metrics: ReceivedMetric[];
  /** Requests that could not be decoded (content type and path), to report in failures. */
  rejected: string[];
}

function value(v: AnyValue | undefined): string | number | boolean {
  if (v === undefined) return "";
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return "";
}

function attributes(list: { key: string; value: AnyValue }[] | undefined) {
  return Object.fromEntries((list ?? []).map((a) => [a.key, value(a.value)]));
}

// deno-lint-ignore no-explicit-any
type Json = any;

function serviceOf(resource: Json): string {
  return String(attributes(resource?.attributes)["service.name"] ?? "");
}

/**
 * Starts a receiver on 127.0.0.1 and an ephemeral port.
 *
 * @returns The receiver; `await using` stops it.
 */
export function startOtlpReceiver(): OtlpReceiver {
  const spans: ReceivedSpan[] = [];
  const logs: ReceivedLog[] = [];
  const metrics: ReceivedMetric[] = [];
  const rejected: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const type = req.headers.get("content-type") ?? "";
    let body: Json;
    try {
      if (!type.includes("json")) throw new TypeError("not JSON");
      body = await req.json();
    } catch {
      rejected.push(`${path} (${type})`);
      return new Response("expected OTLP/JSON", { status: 415 });
    }
    for (const rs of body.resourceSpans ?? []) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          spans.push({
            scope: ss.scope?.name ?? "",
            service: serviceOf(rs.resource),
            name: s.name,
            kind: s.kind,
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId ?? "",
            attributes: attributes(s.attributes),
            status: s.status?.code ?? 0,
          });
        }
      }
    }
    for (const rl of body.resourceLogs ?? []) {
      for (const sl of rl.scopeLogs ?? []) {
        for (const l of sl.logRecords ?? []) {
          logs.push({
            scope: sl.scope?.name ?? "",
            body: String(value(l.body)),
            severity: l.severityText ?? "",
            traceId: l.traceId ?? "",
            spanId: l.spanId ?? "",
          });
        }
      }
    }
    for (const rm of body.resourceMetrics ?? []) {
      for (const sm of rm.scopeMetrics ?? []) {
        for (const m of sm.metrics ?? []) {
          const data = m.sum ?? m.gauge ?? m.histogram;
          const kind = m.sum ? "sum" : m.gauge ? "gauge" : m.histogram ? "histogram" : "other";
          metrics.push({
            scope: sm.scope?.name ?? "",
            name: m.name,
            unit: m.unit ?? "",
            type: kind,
            ...(m.sum ? { monotonic: m.sum.isMonotonic === true } : {}),
            points: (data?.dataPoints ?? []).map((p: Json) => ({
              attributes: attributes(p.attributes),
              value: Number(p.count ?? p.asDouble ?? p.asInt ?? 0),
            })),
          });
        }
      }
    }
    return Response.json({}, { status: 200 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    spans,
    logs,
    metrics,
    rejected,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}
