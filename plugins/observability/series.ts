/**
 * The series of one metric, found by attributes, with a hard cap: once a metric holds `maxSeries`
 * series, a recording with new attributes goes to one overflow series instead (attributes
 * `{"otel.metric.overflow": true}`, as OpenTelemetry SDKs fold past their cardinality limit) and
 * `onOverflow` is told, so a flood of distinct names can neither grow memory nor the scrape.
 *
 * @module
 */
import type { Attributes } from "./prometheus.ts";

/** Attributes as callers pass them: `undefined` values are left out. */
export type AttributeInput = Readonly<Record<string, string | number | boolean | undefined>>;

/** Attributes of the series that takes recordings past the cap. */
export const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ "otel.metric.overflow": true });

/** Default most series per metric. */
export const DEFAULT_MAX_SERIES = 2_000;

/**
 * Attributes without their `undefined` values.
 *
 * @param input Attributes as given.
 * @returns A fresh object.
 */
export function cleanAttributes(input: AttributeInput): Attributes {
  const out: Record<string, string | number | boolean> = {};
  for (const key in input) {
    const value = input[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * Series key: attribute pairs in key order (insertion order may differ between callers).
 *
 * @param attributes Attributes.
 * @returns The canonical key.
 */
export function seriesKey(attributes: Attributes): string {
  return Object.keys(attributes).sort().map((k) => `${k}\u0000${attributes[k]}`).join("\u0001");
}

/** Limits of a {@linkcode SeriesTable}. */
export interface SeriesLimits {
  /** Most series, the overflow series included. */
  maxSeries: number;
  /** Called for each recording folded into the overflow series. */
  onOverflow?: () => void;
}

/**
 * Series by attributes. A recording on the hot path finds its series by a key built in one pass
 * in the caller's attribute order; the canonical (sorted) key is computed only the first time an
 * ordering is seen, so different orderings still share one series. Both maps are bounded.
 */
export class SeriesTable<P extends { attributes: Attributes }> {
  readonly #byKey = new Map<string, P>();
  readonly #byOrder = new Map<string, P>();
  readonly #create: (attributes: Attributes) => P;
  readonly #limits: SeriesLimits;
  #overflow?: P;

  /**
   * Creates an empty table.
   *
   * @param create Makes a fresh series.
   * @param limits The cap and the overflow callback.
   */
  constructor(create: (attributes: Attributes) => P, limits: SeriesLimits) {
    this.#create = create;
    this.#limits = limits;
  }

  /**
   * The series of `input`, created when new and below the cap, else the overflow series.
   *
   * @param input Attributes.
   * @param recording Whether a recording follows (counted when it folds into the overflow series).
   * @returns The series to record to.
   */
  get(input: AttributeInput, recording = true): P {
    let order = "";
    for (const key in input) {
      const value = input[key];
      if (value !== undefined) order += `${key}\u0000${value}\u0001`;
    }
    const known = this.#byOrder.get(order);
    if (known) return known;
    const attributes = cleanAttributes(input);
    const key = seriesKey(attributes);
    let point = this.#byKey.get(key);
    if (!point) {
      // The overflow series counts toward the cap: the table never holds more than maxSeries.
      if (this.#byKey.size >= this.#limits.maxSeries - 1) return this.#fold(recording);
      point = this.#create(attributes);
      this.#byKey.set(key, point);
    }
    if (this.#byOrder.size < 2 * this.#limits.maxSeries) this.#byOrder.set(order, point);
    return point;
  }

  #fold(recording: boolean): P {
    if (recording) this.#limits.onOverflow?.();
    if (!this.#overflow) this.#overflow = this.#create(OVERFLOW_ATTRIBUTES);
    return this.#overflow;
  }

  /**
   * Whether `point` is the overflow series (recordings to it must each go through
   * {@linkcode SeriesTable.get}, which counts them).
   *
   * @param point A series this table returned.
   * @returns True for the overflow series.
   */
  isOverflow(point: P): boolean {
    return point === this.#overflow;
  }

  /** Number of series, the overflow series included. */
  get size(): number {
    return this.#byKey.size + (this.#overflow ? 1 : 0);
  }

  /** Every series, the overflow series last. */
  *values(): IterableIterator<P> {
    yield* this.#byKey.values();
    if (this.#overflow) yield this.#overflow;
  }
}
