/**
 * An in-process metric registry: every recording updates the registry's own series (rendered as
 * Prometheus text on `/metrics`) and, when a meter is given, OpenTelemetry (exported over OTLP by
 * Deno's built-in OpenTelemetry). One recording feeds both, so the two views cannot disagree.
 *
 * Counters and gauges reach OpenTelemetry as observable instruments that read the registry's
 * cumulative values when the SDK collects: the exported data is the same as from synchronous
 * instruments (cumulative sums), but a recording costs no call into the SDK. Histograms have no
 * observable form, so each recording is also recorded to an OpenTelemetry histogram.
 *
 * @module
 */
import type { Meter, ObservableResult } from "@opentelemetry/api";
import {
  type Attributes,
  type HistogramPoint,
  type MetricDescriptor,
  type MetricSnapshot,
  renderPrometheus,
  type ValuePoint,
} from "./prometheus.ts";

/** Attributes as callers pass them: `undefined` values are left out. */
export type AttributeInput = Readonly<Record<string, string | number | boolean | undefined>>;

/** A metric definition for the registry. */
export interface MetricDefinition extends MetricDescriptor {
  /** Also record to the OpenTelemetry meter. @default {true} */
  otlp?: boolean;
}

/** Reports the current values of an observable gauge. */
export type Observer = (observe: (value: number, attributes: AttributeInput) => void) => void;

function clean(input: AttributeInput): Attributes {
  const out: Record<string, string | number | boolean> = {};
  for (const key in input) {
    const value = input[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** Series key: attribute pairs in key order (insertion order may differ between callers). */
function seriesKey(attributes: Attributes): string {
  return Object.keys(attributes).sort().map((k) => `${k}\u0000${attributes[k]}`).join("\u0001");
}

/**
 * Series by attributes. A recording on the hot path finds its series by a key built in one pass
 * in the caller's attribute order; the canonical (sorted) key is computed only the first time an
 * ordering is seen, so different orderings still share one series.
 */
class SeriesTable<P extends { attributes: Attributes }> {
  readonly #byKey = new Map<string, P>();
  readonly #byOrder = new Map<string, P>();
  readonly #create: (attributes: Attributes) => P;

  constructor(create: (attributes: Attributes) => P) {
    this.#create = create;
  }

  get(input: AttributeInput): P {
    let order = "";
    for (const key in input) {
      const value = input[key];
      if (value !== undefined) order += `${key}\u0000${value}\u0001`;
    }
    let point = this.#byOrder.get(order);
    if (point) return point;
    const attributes = clean(input);
    const key = seriesKey(attributes);
    point = this.#byKey.get(key);
    if (!point) {
      point = this.#create(attributes);
      this.#byKey.set(key, point);
    }
    this.#byOrder.set(order, point);
    return point;
  }

  values(): IterableIterator<P> {
    return this.#byKey.values();
  }
}

/** A monotonic counter, or an up-down counter. */
export class Counter {
  readonly #series = new SeriesTable<ValuePoint>((attributes) => ({ attributes, value: 0 }));
  readonly #monotonic: boolean;

  /**
   * Creates the counter; use {@linkcode MetricRegistry.counter}.
   *
   * @param monotonic Whether the value may only grow.
   */
  constructor(monotonic: boolean) {
    this.#monotonic = monotonic;
  }

  /**
   * Adds to the series of `attributes`.
   *
   * @param value Amount (non-negative for a monotonic counter).
   * @param attributes Series attributes.
   * @throws {RangeError} For a negative amount on a monotonic counter.
   */
  add(value: number, attributes: AttributeInput = {}): void {
    if (this.#monotonic && !(value >= 0)) {
      throw new RangeError(`A counter only grows; cannot add ${value}`);
    }
    this.#series.get(attributes).value += value;
  }

  /** Current series. */
  points(): ValuePoint[] {
    return [...this.#series.values()].map((p) => ({ attributes: p.attributes, value: p.value }));
  }
}

/** A histogram with fixed bucket bounds. */
export class Histogram {
  readonly #series: SeriesTable<HistogramPoint & { counts: number[] }>;
  readonly #bounds: readonly number[];
  readonly #otel?: { record(value: number, attributes?: Attributes): void };

  /**
   * Creates the histogram; use {@linkcode MetricRegistry.histogram}.
   *
   * @param bounds Bucket upper bounds, ascending.
   * @param otel The OpenTelemetry instrument, if any.
   */
  constructor(
    bounds: readonly number[],
    otel?: { record(value: number, attributes?: Attributes): void },
  ) {
    this.#bounds = bounds;
    this.#series = new SeriesTable((attributes) => ({
      attributes,
      counts: new Array(bounds.length + 1).fill(0),
      sum: 0,
      count: 0,
    }));
    if (otel) this.#otel = otel;
  }

  /**
   * Records one value.
   *
   * @param value The value (e.g. a duration in seconds).
   * @param attributes Series attributes.
   */
  record(value: number, attributes: AttributeInput = {}): void {
    const point = this.#series.get(attributes);
    let bucket = 0;
    while (bucket < this.#bounds.length && value > this.#bounds[bucket]!) bucket++;
    point.counts[bucket]!++;
    point.sum += value;
    point.count++;
    this.#otel?.record(value, point.attributes);
  }

  /** Current series. */
  points(): HistogramPoint[] {
    return [...this.#series.values()].map((p) => ({
      attributes: p.attributes,
      counts: [...p.counts],
      sum: p.sum,
      count: p.count,
    }));
  }
}

type Entry =
  | { definition: MetricDefinition; counter: Counter }
  | { definition: MetricDefinition; histogram: Histogram }
  | { definition: MetricDefinition; observe: Observer };

/** Options for {@linkcode MetricRegistry}. */
export interface MetricRegistryOptions {
  /** OpenTelemetry meter to record to as well; none when omitted. */
  meter?: Meter;
}

/** Instruments by name; renders them all as Prometheus text. */
export class MetricRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #meter?: Meter;
  #open = true;

  /**
   * Creates an empty registry.
   *
   * @param options The meter to mirror recordings to.
   */
  constructor(options: MetricRegistryOptions = {}) {
    if (options.meter) this.#meter = options.meter;
  }

  #claim(definition: MetricDefinition): void {
    if (this.#entries.has(definition.name)) {
      throw new TypeError(`Metric "${definition.name}" is already registered`);
    }
  }

  #meterFor(definition: MetricDefinition): Meter | undefined {
    return definition.otlp === false ? undefined : this.#meter;
  }

  /**
   * Registers a counter (`type: "counter"`) or up-down counter (`type: "updowncounter"`).
   *
   * @param definition Name, unit, description, type.
   * @returns The counter.
   * @throws {TypeError} For a duplicate name or a wrong type.
   */
  counter(definition: MetricDefinition): Counter {
    this.#claim(definition);
    if (definition.type !== "counter" && definition.type !== "updowncounter") {
      throw new TypeError(`Metric "${definition.name}" is not a counter`);
    }
    const monotonic = definition.type === "counter";
    const counter = new Counter(monotonic);
    const meter = this.#meterFor(definition);
    const options = { unit: definition.unit, description: definition.description };
    const observable = meter === undefined
      ? undefined
      : monotonic
      ? meter.createObservableCounter(definition.name, options)
      : meter.createObservableUpDownCounter(definition.name, options);
    observable?.addCallback((result: ObservableResult) => {
      if (!this.#open) return;
      for (const point of counter.points()) result.observe(point.value, point.attributes);
    });
    this.#entries.set(definition.name, { definition, counter });
    return counter;
  }

  /**
   * Registers a histogram.
   *
   * @param definition Name, unit, description and `buckets`.
   * @returns The histogram.
   * @throws {TypeError} For a duplicate name, a wrong type or bounds that are not ascending.
   */
  histogram(definition: MetricDefinition): Histogram {
    this.#claim(definition);
    const bounds = definition.buckets ?? [];
    if (definition.type !== "histogram" || bounds.some((b, i) => i > 0 && b <= bounds[i - 1]!)) {
      throw new TypeError(`Metric "${definition.name}" needs type histogram and ascending buckets`);
    }
    const otel = this.#meterFor(definition)?.createHistogram(definition.name, {
      unit: definition.unit,
      description: definition.description,
      advice: { explicitBucketBoundaries: [...bounds] },
    });
    const histogram = new Histogram(bounds, otel);
    this.#entries.set(definition.name, { definition, histogram });
    return histogram;
  }

  /**
   * Registers an observable gauge: `observe` reports current values when the registry renders and
   * when the OpenTelemetry SDK collects.
   *
   * @param definition Name, unit, description (`type: "gauge"`).
   * @param observe Reports the values.
   * @throws {TypeError} For a duplicate name or a wrong type.
   */
  gauge(definition: MetricDefinition, observe: Observer): void {
    this.#claim(definition);
    if (definition.type !== "gauge") {
      throw new TypeError(`Metric "${definition.name}" is not a gauge`);
    }
    const gauge = this.#meterFor(definition)?.createObservableGauge(definition.name, {
      unit: definition.unit,
      description: definition.description,
    });
    gauge?.addCallback((result: ObservableResult) => {
      if (!this.#open) return;
      observe((value, attributes) => result.observe(value, clean(attributes)));
    });
    this.#entries.set(definition.name, { definition, observe });
  }

  /** Stops reporting observable gauges to OpenTelemetry (the engine closed). */
  close(): void {
    this.#open = false;
  }

  /** Every metric with its current series, in registration order. */
  collect(): MetricSnapshot[] {
    const out: MetricSnapshot[] = [];
    for (const entry of this.#entries.values()) {
      const { name, unit, description, type } = entry.definition;
      if ("histogram" in entry) {
        out.push({
          descriptor: {
            name,
            unit,
            description,
            type: "histogram",
            buckets: entry.definition.buckets ?? [],
          },
          points: entry.histogram.points(),
        });
      } else if ("counter" in entry) {
        out.push({
          descriptor: { name, unit, description, type: type as "counter" | "updowncounter" },
          points: entry.counter.points(),
        });
      } else {
        const points = new Map<string, ValuePoint>();
        entry.observe((value, attributes) => {
          const attrs = clean(attributes);
          points.set(seriesKey(attrs), { attributes: attrs, value });
        });
        out.push({
          descriptor: { name, unit, description, type: "gauge" },
          points: [...points.values()],
        });
      }
    }
    return out;
  }

  /** The registry as Prometheus text (see {@linkcode renderPrometheus}). */
  render(): string {
    return renderPrometheus(this.collect());
  }
}
