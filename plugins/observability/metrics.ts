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
 * Every metric holds at most `maxSeriesPerMetric` series (see `series.ts`): past it, recordings
 * fold into one overflow series, which both views see, and `bundlehost.metric.dropped_series`
 * counts them. {@linkcode MetricRegistry.renderSliced} renders in slices of a few milliseconds, so
 * a scrape of many series never blocks the event loop for long.
 *
 * @module
 */
import type { Meter, ObservableResult } from "@opentelemetry/api";
import {
  type Attributes,
  type HistogramPoint,
  type MetricDescriptor,
  type MetricSnapshot,
  prometheusName,
  renderHeader,
  renderPoint,
  renderPrometheus,
  type ValuePoint,
} from "./prometheus.ts";
import {
  type AttributeInput,
  cleanAttributes as clean,
  DEFAULT_MAX_SERIES,
  seriesKey,
  type SeriesLimits,
  SeriesTable,
} from "./series.ts";

export type { AttributeInput } from "./series.ts";

/** A metric definition for the registry. */
export interface MetricDefinition extends MetricDescriptor {
  /** Also record to the OpenTelemetry meter. @default {true} */
  otlp?: boolean;
}

/** Reports the current values of an observable gauge. */
export type Observer = (observe: (value: number, attributes: AttributeInput) => void) => void;

/** A monotonic counter, or an up-down counter. */
export class Counter {
  readonly #series: SeriesTable<ValuePoint>;
  readonly #monotonic: boolean;

  /**
   * Creates the counter; use {@linkcode MetricRegistry.counter}.
   *
   * @param monotonic Whether the value may only grow.
   * @param limits Series cap. @default {{ maxSeries: 2000 }}
   */
  constructor(monotonic: boolean, limits: SeriesLimits = { maxSeries: DEFAULT_MAX_SERIES }) {
    this.#monotonic = monotonic;
    this.#series = new SeriesTable((attributes) => ({ attributes, value: 0 }), limits);
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

  /**
   * The series of `attributes`, found once: a caller that records to the same series on every
   * call keeps the handle and skips the attribute lookup. A handle to the overflow series looks
   * up on every recording, so each is still counted as folded.
   *
   * @param attributes Series attributes.
   * @returns A handle that adds to that series.
   */
  bind(attributes: AttributeInput): BoundCounter {
    const point = this.#series.get(attributes, false);
    if (this.#series.isOverflow(point)) return { add: (value) => this.add(value, attributes) };
    const monotonic = this.#monotonic;
    return {
      add(value) {
        if (monotonic && !(value >= 0)) {
          throw new RangeError(`A counter only grows; cannot add ${value}`);
        }
        point.value += value;
      },
    };
  }

  /** Current series. */
  points(): ValuePoint[] {
    return [...this.#series.values()].map((p) => ({ attributes: p.attributes, value: p.value }));
  }

  /** Live series, for rendering without a copy. */
  livePoints(): IterableIterator<ValuePoint> {
    return this.#series.values();
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
   * @param limits Series cap. @default {{ maxSeries: 2000 }}
   */
  constructor(
    bounds: readonly number[],
    otel?: { record(value: number, attributes?: Attributes): void },
    limits: SeriesLimits = { maxSeries: DEFAULT_MAX_SERIES },
  ) {
    this.#bounds = bounds;
    this.#series = new SeriesTable((attributes) => ({
      attributes,
      counts: new Array(bounds.length + 1).fill(0),
      sum: 0,
      count: 0,
    }), limits);
    if (otel) this.#otel = otel;
  }

  /**
   * Records one value.
   *
   * @param value The value (e.g. a duration in seconds).
   * @param attributes Series attributes.
   */
  record(value: number, attributes: AttributeInput = {}): void {
    this.#into(this.#series.get(attributes), value);
  }

  /**
   * The series of `attributes`, found once (see {@linkcode Counter.bind}).
   *
   * @param attributes Series attributes.
   * @returns A handle that records to that series.
   */
  bind(attributes: AttributeInput): BoundHistogram {
    const point = this.#series.get(attributes, false);
    if (this.#series.isOverflow(point)) {
      return { record: (value) => this.record(value, attributes) };
    }
    return { record: (value) => this.#into(point, value) };
  }

  #into(point: HistogramPoint & { counts: number[] }, value: number): void {
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

  /** Live series, for rendering without a copy. */
  livePoints(): IterableIterator<HistogramPoint> {
    return this.#series.values();
  }
}

type Entry =
  | { definition: MetricDefinition; counter: Counter }
  | { definition: MetricDefinition; histogram: Histogram }
  | { definition: MetricDefinition; observe: Observer };

/** One series of a {@linkcode Counter}, found once. */
export interface BoundCounter {
  /** Adds to the series. */
  add(value: number): void;
}

/** One series of a {@linkcode Histogram}, found once. */
export interface BoundHistogram {
  /** Records one value to the series. */
  record(value: number): void;
}

/** Options for {@linkcode MetricRegistry}. */
export interface MetricRegistryOptions {
  /** OpenTelemetry meter to record to as well; none when omitted. */
  meter?: Meter;
  /** Most series per metric, the overflow series included. @default {2000} */
  maxSeriesPerMetric?: number;
}

/** The counter of recordings folded into an overflow series, by metric. */
export const DROPPED_SERIES: MetricDefinition = {
  name: "bundlehost.metric.dropped_series",
  type: "counter",
  unit: "{recording}",
  description:
    "Recordings whose new series was refused by the series cap (folded into the overflow series)",
};

/** Attribute of {@linkcode DROPPED_SERIES}: the metric that reached its cap. */
export const METRIC_NAME_ATTRIBUTE = "bundlehost.metric.name";

/** One turn of the event loop: a yield, not a wait. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Instruments by name; renders them all as Prometheus text. */
export class MetricRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #meter?: Meter;
  readonly #maxSeries: number;
  readonly #dropped: Counter;
  #open = true;

  /**
   * Creates a registry holding only the counter of dropped series.
   *
   * @param options The meter to mirror recordings to, the series cap.
   * @throws {RangeError} For a series cap below 2.
   */
  constructor(options: MetricRegistryOptions = {}) {
    if (options.meter) this.#meter = options.meter;
    this.#maxSeries = options.maxSeriesPerMetric ?? DEFAULT_MAX_SERIES;
    if (!Number.isInteger(this.#maxSeries) || this.#maxSeries < 2) {
      throw new RangeError(`maxSeriesPerMetric must be an integer of at least 2`);
    }
    this.#dropped = this.counter(DROPPED_SERIES);
  }

  #limits(definition: MetricDefinition): SeriesLimits {
    const attributes = { [METRIC_NAME_ATTRIBUTE]: definition.name };
    return {
      maxSeries: this.#maxSeries,
      onOverflow: () => this.#dropped.add(1, attributes),
    };
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
    const counter = new Counter(monotonic, this.#limits(definition));
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
    const histogram = new Histogram(bounds, otel, this.#limits(definition));
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
      if ("histogram" in entry) {
        out.push({
          descriptor: this.#descriptor(entry) as MetricDescriptor & { type: "histogram" },
          points: entry.histogram.points(),
        });
      } else if ("counter" in entry) {
        out.push({
          descriptor: this.#descriptor(entry) as MetricDescriptor & { type: "counter" },
          points: entry.counter.points(),
        });
      } else out.push(this.#collectGauge(entry));
    }
    return out;
  }

  #descriptor(entry: Entry): MetricDescriptor {
    const { name, unit, description, type } = entry.definition;
    return "histogram" in entry
      ? { name, unit, description, type: "histogram", buckets: entry.definition.buckets ?? [] }
      : { name, unit, description, type };
  }

  #collectGauge(entry: Entry & { observe: Observer }): MetricSnapshot {
    const points = new Map<string, ValuePoint>();
    entry.observe((value, attributes) => {
      const attrs = clean(attributes);
      if (points.size < this.#maxSeries) points.set(seriesKey(attrs), { attributes: attrs, value });
    });
    const { name, unit, description } = entry.definition;
    return { descriptor: { name, unit, description, type: "gauge" }, points: [...points.values()] };
  }

  /** The registry as Prometheus text (see {@linkcode renderPrometheus}), in one go. */
  render(): string {
    return renderPrometheus(this.collect());
  }

  /**
   * The registry as Prometheus text, rendered from the live series in slices: after each
   * `sliceMs` of work it hands out the text so far and yields to the event loop, so a scrape of
   * many series never blocks other requests for much longer than one slice. Values recorded
   * meanwhile may or may not be included.
   *
   * @param sliceMs Work between yields, ms. @default {2}
   * @returns Chunks whose concatenation is the exposition ({@linkcode render}'s text when nothing
   *   is recorded meanwhile).
   */
  async *renderSliced(sliceMs = 2): AsyncGenerator<string> {
    let lines: string[] = [];
    // Real time: a slice bounds how long this holds the main thread.
    let sliceStart = performance.now();
    let sinceCheck = 0;
    for (const entry of this.#entries.values()) {
      const snapshot = "observe" in entry ? this.#collectGauge(entry) : undefined;
      const descriptor = snapshot?.descriptor ?? this.#descriptor(entry);
      const name = prometheusName(descriptor);
      lines.push(renderHeader(descriptor));
      const points = snapshot?.points ??
        ("histogram" in entry ? entry.histogram.livePoints() : (entry as { counter: Counter })
          .counter.livePoints());
      for (const point of points) {
        lines.push(renderPoint(descriptor, point, name));
        if (++sinceCheck < 16) continue;
        sinceCheck = 0;
        if (performance.now() - sliceStart < sliceMs) continue;
        yield `${lines.join("\n")}\n`;
        lines = [];
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
    }
    if (lines.length > 0) yield `${lines.join("\n")}\n`;
  }
}
