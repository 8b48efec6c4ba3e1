/**
 * Metrics of bundle storage and outbound HTTP: `ctx.kv` and `ctx.cache` operations counted from
 * the engine's `storage` events, bytes and keys observed from `engine.storageUsage()`, and outbound
 * fetch durations from `outboundfetch` events. Every label is bounded: operations and outcomes are
 * fixed sets, and the engine folds an outbound host into one of the bundle's `net` grants or
 * `other`.
 *
 * @module
 */
import type { Engine } from "../../engine/engine.ts";
import type { OutboundFetchEvent, StorageEvent } from "../../engine/storage/storage_events.ts";
import type { Counter, Histogram, MetricRegistry } from "./metrics.ts";
import { ATTR, METRICS } from "./semconv.ts";

/** Records storage and outbound metrics into a registry; see the module documentation. */
export class StorageMetrics {
  readonly #kvOps: Counter;
  readonly #cacheOps: Counter;
  readonly #outbound: Histogram;
  #engine?: Engine;

  /**
   * Registers the instruments.
   *
   * @param registry The plugin's registry.
   */
  constructor(registry: MetricRegistry) {
    this.#kvOps = registry.counter(METRICS.kvOperations);
    this.#cacheOps = registry.counter(METRICS.cacheOperations);
    this.#outbound = registry.histogram(METRICS.outboundDuration);
    const usage = () => this.#engine?.storageUsage() ?? [];
    registry.gauge(METRICS.kvSize, (observe) => {
      for (const u of usage()) observe(u.kv.bytes, { [ATTR.bundleId]: u.bundle });
    });
    registry.gauge(METRICS.kvKeys, (observe) => {
      for (const u of usage()) observe(u.kv.keys, { [ATTR.bundleId]: u.bundle });
    });
    registry.gauge(METRICS.cacheSize, (observe) => {
      for (const u of usage()) observe(u.cache.bytes, { [ATTR.bundleId]: u.bundle });
    });
    registry.gauge(METRICS.cacheEvictions, (observe) => {
      for (const u of usage()) observe(u.cache.evictions, { [ATTR.bundleId]: u.bundle });
    });
  }

  /**
   * Starts observing an engine's storage usage.
   *
   * @param engine The engine, or `undefined` to stop.
   */
  attach(engine: Engine | undefined): void {
    this.#engine = engine;
  }

  /**
   * A storage operation ended.
   *
   * @param event The event.
   */
  readonly storage = (event: StorageEvent): void => {
    (event.store === "kv" ? this.#kvOps : this.#cacheOps).add(1, {
      [ATTR.bundleId]: event.bundle,
      [ATTR.storageOp]: event.op,
      [ATTR.storageOutcome]: event.outcome,
    });
  };

  /**
   * An outbound fetch settled.
   *
   * @param event The event.
   */
  readonly outbound = (event: OutboundFetchEvent): void => {
    this.#outbound.record(event.durationMs / 1000, {
      [ATTR.bundleId]: event.bundle,
      [ATTR.serverAddress]: event.host,
      [ATTR.outboundStatus]: event.status,
    });
  };
}
