/**
 * Prometheus text exposition (format 0.0.4) of metric snapshots, with names translated from
 * OpenTelemetry the way the OpenTelemetry-to-Prometheus compatibility rules (and the Collector's
 * Prometheus exporter) do: dots become underscores, the unit becomes a suffix (`s` → `_seconds`,
 * `By` → `_bytes`, `{call}`-style annotations are dropped), and monotonic counters end in
 * `_total`. A dashboard therefore works the same whether Prometheus scrapes `/metrics` or reads
 * what a Collector received over OTLP.
 *
 * @module
 */

/** Attribute values a metric point may carry. */
export type Attributes = Readonly<Record<string, string | number | boolean>>;

/** What kind of instrument produced a metric. */
export type InstrumentType = "counter" | "updowncounter" | "gauge" | "histogram";

/** Name, unit and meaning of a metric, in OpenTelemetry terms. */
export interface MetricDescriptor {
  /** OpenTelemetry name, e.g. `"bundlehost.call.duration"`. */
  name: string;
  /** UCUM unit, e.g. `"s"`, `"By"`, `"{call}"`. */
  unit: string;
  /** One-line description (the `# HELP` text). */
  description: string;
  /** Instrument type. */
  type: InstrumentType;
  /** Histogram bucket upper bounds, ascending (histograms only). */
  buckets?: readonly number[];
}

/** One counter or gauge series. */
export interface ValuePoint {
  /** Series attributes. */
  attributes: Attributes;
  /** Current value. */
  value: number;
}

/** One histogram series. */
export interface HistogramPoint {
  /** Series attributes. */
  attributes: Attributes;
  /** Count per bucket (not cumulative); one more than the bounds, the last is `+Inf`. */
  counts: readonly number[];
  /** Sum of recorded values. */
  sum: number;
  /** Number of recorded values. */
  count: number;
}

/** A metric and its series at one moment. */
export type MetricSnapshot =
  | {
    descriptor: MetricDescriptor & { type: "counter" | "updowncounter" | "gauge" };
    points: ValuePoint[];
  }
  | { descriptor: MetricDescriptor & { type: "histogram" }; points: HistogramPoint[] };

/** Content type of the exposition. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const UNIT_SUFFIXES: Record<string, string> = {
  s: "seconds",
  ms: "milliseconds",
  us: "microseconds",
  ns: "nanoseconds",
  min: "minutes",
  h: "hours",
  By: "bytes",
  KiBy: "kibibytes",
  MiBy: "mebibytes",
  "%": "percent",
};

function sanitize(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/__+/g, "_");
  return /^[0-9]/.test(clean) ? `_${clean}` : clean;
}

/**
 * The Prometheus metric name of an OpenTelemetry metric (without `_bucket`/`_sum`/`_count`).
 *
 * @param descriptor The metric.
 * @returns E.g. `bundlehost_call_duration_seconds`, `bundlehost_calls_total`.
 */
export function prometheusName(descriptor: MetricDescriptor): string {
  let name = sanitize(descriptor.name);
  // Curly-brace annotations ("{call}") carry no unit.
  const unit = descriptor.unit.replace(/\{[^}]*\}/g, "").trim();
  const suffix = UNIT_SUFFIXES[unit] ?? (unit === "" || unit === "1" ? "" : sanitize(unit));
  if (suffix !== "" && !name.endsWith(`_${suffix}`)) name = `${name}_${suffix}`;
  if (descriptor.type === "counter" && !name.endsWith("_total")) name = `${name}_total`;
  return name;
}

/**
 * The Prometheus label name of an attribute key.
 *
 * @param key Attribute key, e.g. `"rpc.service"`.
 * @returns E.g. `rpc_service`.
 */
export function labelName(key: string): string {
  const clean = key.replace(/[^a-zA-Z0-9_]/g, "_");
  return /^[0-9]/.test(clean) ? `key_${clean}` : clean;
}

function escapeValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/**
 * The `# HELP` and `# TYPE` lines of a metric.
 *
 * @param descriptor The metric.
 * @returns Two lines, without a final newline.
 */
export function renderHeader(descriptor: MetricDescriptor): string {
  const name = prometheusName(descriptor);
  const type = descriptor.type === "updowncounter" ? "gauge" : descriptor.type;
  return `# HELP ${name} ${escapeHelp(descriptor.description)}\n# TYPE ${name} ${type}`;
}

/**
 * The sample lines of one series.
 *
 * @param descriptor The metric.
 * @param point The series (a {@linkcode HistogramPoint} for a histogram).
 * @param name The metric's Prometheus name (computed when omitted).
 * @returns One line for a counter or gauge, one per bucket plus `_sum` and `_count` for a
 *   histogram; without a final newline.
 */
export function renderPoint(
  descriptor: MetricDescriptor,
  point: ValuePoint | HistogramPoint,
  name: string = prometheusName(descriptor),
): string {
  const body = Object.keys(point.attributes).sort().map((key) =>
    `${labelName(key)}="${escapeValue(String(point.attributes[key]))}"`
  ).join(",");
  const plain = body === "" ? "" : `{${body}}`;
  if (descriptor.type !== "histogram") {
    return `${name}${plain} ${formatNumber((point as ValuePoint).value)}`;
  }
  const histogram = point as HistogramPoint;
  const bounds = descriptor.buckets ?? [];
  const bucket = `${name}_bucket{${body === "" ? "" : `${body},`}le="`;
  let text = "";
  let cumulative = 0;
  for (let i = 0; i < bounds.length; i++) {
    cumulative += histogram.counts[i] ?? 0;
    text += `${bucket}${formatNumber(bounds[i]!)}"} ${cumulative}\n`;
  }
  return `${text}${bucket}+Inf"} ${histogram.count}\n${name}_sum${plain} ${
    formatNumber(histogram.sum)
  }\n${name}_count${plain} ${histogram.count}`;
}

/**
 * Renders snapshots as Prometheus text.
 *
 * @param snapshots Metrics with their series.
 * @returns The exposition, ending with a newline.
 *
 * @example One counter
 * ```ts
 * import { renderPrometheus } from "./prometheus.ts";
 * const text = renderPrometheus([{
 *   descriptor: { name: "bundlehost.calls", unit: "{call}", description: "Calls", type: "counter" },
 *   points: [{ attributes: { "rpc.service": "Hello" }, value: 3 }],
 * }]);
 * // # HELP bundlehost_calls_total Calls
 * // # TYPE bundlehost_calls_total counter
 * // bundlehost_calls_total{rpc_service="Hello"} 3
 * ```
 */
export function renderPrometheus(snapshots: readonly MetricSnapshot[]): string {
  const lines: string[] = [];
  for (const snapshot of snapshots) {
    lines.push(renderHeader(snapshot.descriptor));
    for (const point of snapshot.points) lines.push(renderPoint(snapshot.descriptor, point));
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}
