/**
 * Bundlehost's metrics: records calls, HTTP requests and engine events into a
 * {@linkcode MetricRegistry}, and observes pool sizes, breaker states and bundle states from
 * `engine.status()`.
 *
 * @module
 */
import type { Meter } from "@opentelemetry/api";
import type { Engine, EngineStatus } from "../../engine/engine.ts";
import { BundlehostError } from "../../engine/base/errors.ts";
import type {
  BreakerEvent,
  InstanceExitEvent,
  InstanceStartEvent,
} from "../../engine/core/lifecycle.ts";
import type { AdmittedCall, CallOutcome } from "../../engine/call/request.ts";
import {
  type BoundCounter,
  type BoundHistogram,
  type Counter,
  type Histogram,
  MetricRegistry,
} from "./metrics.ts";
import { DeclaredNames, httpMethodLabel } from "./declared.ts";
import { ATTR, BREAKER_STATES, METRICS } from "./semconv.ts";

/** Splits `id@version` (a bundle id never contains `@`). */
export function splitLabel(label: string): { id: string; version?: string } {
  const at = label.indexOf("@");
  return at < 0 ? { id: label } : { id: label.slice(0, at), version: label.slice(at + 1) };
}

/** The service name without a `@range` suffix. */
export function serviceName(service: string): string {
  const at = service.indexOf("@");
  return at < 0 ? service : service.slice(0, at);
}

/**
 * The `error.type` of a failure: the engine's stable code (`TIMEOUT`, `THROTTLED`, …) or the
 * error's class name.
 *
 * @param error What was thrown.
 * @returns A low-cardinality error type.
 */
export function errorType(error: unknown): string {
  if (error instanceof BundlehostError) return error.code;
  if (error instanceof Error) return error.name;
  return "Error";
}

/** Most bound series the recorder keeps per cache before starting over. */
const MAX_BOUND_SERIES = 4096;

/** Records Bundlehost's metrics; see `METRICS` in `semconv.ts` for names and units. */
export class BundlehostMetrics {
  /** The registry (render it for `/metrics`). */
  readonly registry: MetricRegistry;
  readonly #calls: Counter;
  readonly #callDuration: Histogram;
  readonly #activeCalls: Counter;
  readonly #degraded: Counter;
  readonly #throttled: Counter;
  readonly #timedOut: Counter;
  readonly #httpDuration: Histogram;
  readonly #starts: Counter;
  readonly #startDuration: Histogram;
  readonly #restarts: Counter;
  readonly #transitions: Counter;
  #engine?: Engine;
  /** Service and method names installed bundles declare; others fold into one label value. */
  readonly #declared = new DeclaredNames(() => this.#engine?.status());
  /** Bound series of the calls that succeed undegraded, by call shape (the hot path). */
  readonly #served = new Map<string, { calls: BoundCounter; duration: BoundHistogram }>();
  /** The status the gauges of the current scrape share. */
  #scrape: EngineStatus | undefined;
  /** Bound request-duration series, by method, route and status. */
  readonly #requests = new Map<string, BoundHistogram>();
  /** Bound active-call series, by call shape. */
  readonly #activeBy = new Map<string, BoundCounter>();

  /**
   * Registers every instrument.
   *
   * @param meter OpenTelemetry meter to mirror recordings to (OTLP export); none when omitted.
   * @param maxSeriesPerMetric Most series per metric. @default {2000}
   */
  constructor(meter?: Meter, maxSeriesPerMetric?: number) {
    const r = this.registry = new MetricRegistry({
      ...(meter ? { meter } : {}),
      ...(maxSeriesPerMetric === undefined ? {} : { maxSeriesPerMetric }),
    });
    this.#calls = r.counter(METRICS.calls);
    this.#callDuration = r.histogram(METRICS.callDuration);
    this.#activeCalls = r.counter(METRICS.activeCalls);
    this.#degraded = r.counter(METRICS.degradedCalls);
    this.#throttled = r.counter(METRICS.throttledCalls);
    this.#timedOut = r.counter(METRICS.timedOutCalls);
    this.#httpDuration = r.histogram(METRICS.httpDuration);
    this.#starts = r.counter(METRICS.instanceStarts);
    this.#startDuration = r.histogram(METRICS.instanceStartDuration);
    this.#restarts = r.counter(METRICS.instanceRestarts);
    this.#transitions = r.counter(METRICS.breakerTransitions);
    r.gauge(METRICS.instanceCount, (observe) => this.#observeInstances(observe));
    r.gauge(METRICS.breakerState, (observe) => this.#observeBreakers(observe));
    r.gauge(METRICS.bundleCount, (observe) => this.#observeBundles(observe));
    r.gauge(METRICS.logsDropped, (observe) => this.#observeLogsDropped(observe));
    r.gauge(METRICS.eventsRefused, (observe) => {
      const counters = this.#engine?.eventBus.limitCounters();
      if (!counters) return;
      observe(counters.throttled, { [ATTR.eventsRefusal]: "throttled" });
      observe(counters.storeFull, { [ATTR.eventsRefusal]: "store_full" });
      observe(counters.hopLimited, { [ATTR.eventsRefusal]: "hop_limit" });
      observe(counters.detachedThrottled, { [ATTR.eventsRefusal]: "detached_throttled" });
    });
    r.gauge(METRICS.eventStoreBytes, (observe) => {
      const counters = this.#engine?.eventBus.limitCounters();
      if (counters) observe(counters.storeBytes, {});
    });
    r.gauge(METRICS.deadLettersDropped, (observe) => {
      const counters = this.#engine?.eventBus.limitCounters();
      if (counters) observe(counters.deadLettersDropped, {});
    });
  }

  /**
   * Starts observing an engine's status (pool sizes, breakers, bundle states).
   *
   * @param engine The engine.
   */
  attach(engine: Engine): void {
    this.#engine = engine;
    this.#forgetNames();
  }

  /** Stops observing (the engine closed). */
  detach(): void {
    this.#engine = undefined;
    this.#forgetNames();
    this.registry.close();
  }

  /** Bundles or instances changed: the declared service and method names are read again. */
  namesChanged(): void {
    this.#forgetNames();
  }

  /** Labels are re-derived from the declared names: the bound series go with them. */
  #forgetNames(): void {
    this.#declared.invalidate();
    this.#served.clear();
    this.#activeBy.clear();
  }

  /**
   * A cache entry for `key`; the cache is emptied when full (keys come from client-chosen names,
   * so it must stay bounded; labels are bounded by the declared names anyway).
   */
  static #remember<V>(cache: Map<string, V>, key: string, value: V): V {
    if (cache.size >= MAX_BOUND_SERIES) cache.clear();
    cache.set(key, value);
    return value;
  }

  #serviceLabel(call: AdmittedCall): string {
    return call.kind === "fetch"
      ? this.#declared.fetchService(call.service)
      : this.#declared.service(serviceName(call.service));
  }

  /**
   * A call entered the broker.
   *
   * @param call The call.
   * @returns The in-flight series it was counted under, for {@linkcode BundlehostMetrics.callEnded}
   * to uncount the same one (handed back rather than kept per call: no per-call table entry).
   */
  callStarted(call: AdmittedCall): BoundCounter {
    const key = `${call.kind ?? "service"}\u0000${call.service}`;
    const active = this.#activeBy.get(key) ??
      BundlehostMetrics.#remember(
        this.#activeBy,
        key,
        this.#activeCalls.bind({ [ATTR.rpcService]: this.#serviceLabel(call) }),
      );
    active.add(1);
    return active;
  }

  /**
   * A call left the broker, with its outcome or failure.
   *
   * @param call The call.
   * @param seconds Its duration.
   * @param outcome What served it, when it succeeded.
   * @param error What it failed with, otherwise.
   * @param active What {@linkcode BundlehostMetrics.callStarted} returned for it.
   */
  callEnded(
    call: AdmittedCall,
    seconds: number,
    outcome?: CallOutcome,
    error?: unknown,
    active?: BoundCounter,
  ): void {
    active?.add(-1);
    if (outcome && outcome.degraded === undefined) {
      // The common case, recorded through series found once per call shape.
      const key = `${
        call.kind ?? "service"
      }\u0000${call.service}\u0000${call.method}\u0000${outcome.bundle}`;
      const served = this.#served.get(key) ??
        BundlehostMetrics.#remember(this.#served, key, this.#bindServed(call, outcome.bundle));
      served.calls.add(1);
      served.duration.record(seconds);
      return;
    }
    this.#recordUnusual(call, seconds, outcome, error);
  }

  #attributes(call: AdmittedCall, label: string | undefined, outcome: string, type?: string) {
    const name = serviceName(call.service);
    const fetch = call.kind === "fetch";
    const bundle = label === undefined ? undefined : splitLabel(label);
    return {
      [ATTR.rpcService]: this.#serviceLabel(call),
      [ATTR.rpcMethod]: fetch
        ? httpMethodLabel(call.method)
        : this.#declared.method(name, call.method),
      [ATTR.bundleId]: bundle?.id,
      [ATTR.bundleVersion]: bundle?.version,
      [ATTR.outcome]: outcome,
      [ATTR.errorType]: type,
    };
  }

  #bindServed(call: AdmittedCall, label: string) {
    const attributes = this.#attributes(call, label, "ok");
    return { calls: this.#calls.bind(attributes), duration: this.#callDuration.bind(attributes) };
  }

  /** A degraded or failed call: rarer, recorded by attributes. */
  #recordUnusual(
    call: AdmittedCall,
    seconds: number,
    outcome: CallOutcome | undefined,
    error: unknown,
  ): void {
    const label = outcome?.bundle ?? (error instanceof BundlehostError ? error.bundle : undefined);
    const type = outcome ? undefined : errorType(error);
    const attributes = this.#attributes(call, label, outcome ? "degraded" : "error", type);
    this.#calls.add(1, attributes);
    this.#callDuration.record(seconds, attributes);
    const service = attributes[ATTR.rpcService];
    const reason = outcome?.degraded;
    if (reason !== undefined) {
      this.#degraded.add(1, {
        [ATTR.rpcService]: service,
        [ATTR.bundleId]: attributes[ATTR.bundleId],
        [ATTR.degradedReason]: reason,
      });
    }
    if (reason === "throttled" || type === "THROTTLED") {
      this.#throttled.add(1, { [ATTR.rpcService]: service });
    }
    if (reason === "timeout" || type === "TIMEOUT") {
      this.#timedOut.add(1, { [ATTR.rpcService]: service });
    }
  }

  /**
   * An HTTP request was answered.
   *
   * @param method Request method.
   * @param route Route template, when known.
   * @param status Response status.
   * @param seconds Duration.
   */
  request(method: string, route: string | undefined, status: number, seconds: number): void {
    const key = `${method}\u0000${route}\u0000${status}`;
    const series = this.#requests.get(key) ??
      BundlehostMetrics.#remember(
        this.#requests,
        key,
        this.#httpDuration.bind({
          [ATTR.httpMethod]: httpMethodLabel(method),
          [ATTR.httpRoute]: route,
          [ATTR.httpStatus]: status,
        }),
      );
    series.record(seconds);
  }

  /**
   * An instance became ready.
   *
   * @param event The event.
   */
  instanceStarted(event: InstanceStartEvent): void {
    const attributes = {
      [ATTR.bundleId]: event.bundle,
      [ATTR.bundleVersion]: event.version,
      [ATTR.startKind]: event.kind,
    };
    this.#starts.add(1, attributes);
    this.#startDuration.record(event.durationMs / 1000, attributes);
  }

  /**
   * An instance ended; unexpected ends count as restarts.
   *
   * @param event The event.
   */
  instanceExited(event: InstanceExitEvent): void {
    if (event.expected) return;
    this.#restarts.add(1, { [ATTR.bundleId]: event.bundle, [ATTR.bundleVersion]: event.version });
  }

  /**
   * A circuit breaker changed state.
   *
   * @param event The event.
   */
  breakerChanged(event: BreakerEvent): void {
    this.#transitions.add(1, {
      [ATTR.bundleId]: event.bundle,
      [ATTR.breakerPrevious]: event.from,
      [ATTR.breakerState]: event.to,
    });
  }

  /**
   * A fresh status per scrape, shared by the gauges read in the same tick (with 1000 bundles one
   * status is tens of milliseconds): never stale after a crash.
   */
  #snapshot(): EngineStatus | undefined {
    if (this.#scrape) return this.#scrape;
    const status = this.#engine?.status();
    if (!status) return undefined;
    this.#scrape = status;
    queueMicrotask(() => this.#scrape = undefined);
    return status;
  }

  #observeInstances(observe: (value: number, attributes: Record<string, string>) => void): void {
    for (const bundle of this.#snapshot()?.bundles ?? []) {
      for (const revision of bundle.revisions) {
        // A revision scaled to zero by design has no series: /metrics grows with what runs, not
        // with what is released. One that wants instances and has none reports ready 0.
        if (revision.instances.length === 0 && !(revision.scaling?.desired ?? 0)) continue;
        const counts = new Map<string, number>([["ready", 0]]);
        for (const instance of revision.instances) {
          counts.set(instance.state, (counts.get(instance.state) ?? 0) + 1);
        }
        for (const [state, count] of counts) {
          observe(count, {
            [ATTR.bundleId]: revision.id,
            [ATTR.bundleVersion]: revision.version,
            [ATTR.isolation]: revision.isolation,
            [ATTR.instanceState]: state,
          });
        }
      }
    }
  }

  #observeBreakers(observe: (value: number, attributes: Record<string, string>) => void): void {
    for (const bundle of this.#snapshot()?.bundles ?? []) {
      const state = bundle.governance?.breaker?.state;
      if (state === undefined) continue;
      for (const candidate of BREAKER_STATES) {
        observe(candidate === state ? 1 : 0, {
          [ATTR.bundleId]: bundle.id,
          [ATTR.breakerState]: candidate,
        });
      }
    }
  }

  #observeBundles(observe: (value: number, attributes: Record<string, string>) => void): void {
    const status = this.#snapshot();
    if (!status) return;
    const counts = new Map<string, number>();
    for (const bundle of status.bundles) {
      counts.set(bundle.state, (counts.get(bundle.state) ?? 0) + 1);
    }
    for (const [state, count] of counts) observe(count, { [ATTR.bundleState]: state });
  }

  #observeLogsDropped(observe: (value: number, attributes: Record<string, string>) => void): void {
    // A series appears at a bundle's first dropped line: O(bundles that dropped), not O(all).
    for (const bundle of this.#snapshot()?.bundles ?? []) {
      if (bundle.logsDropped > 0) observe(bundle.logsDropped, { [ATTR.bundleId]: bundle.id });
    }
  }
}
