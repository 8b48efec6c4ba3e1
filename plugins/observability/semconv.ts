/**
 * Attribute keys and metric definitions. Standard keys come from the OpenTelemetry semantic
 * conventions (`rpc.*`, `http.*`, `error.type`); Bundlehost's own live under `bundlehost.*`.
 *
 * @module
 */
import type { MetricDefinition } from "./metrics.ts";

/** Attribute keys used on spans, metrics and log records. */
export const ATTR = {
  rpcSystem: "rpc.system",
  rpcService: "rpc.service",
  rpcMethod: "rpc.method",
  httpMethod: "http.request.method",
  httpRoute: "http.route",
  httpStatus: "http.response.status_code",
  urlPath: "url.path",
  urlScheme: "url.scheme",
  errorType: "error.type",
  bundleId: "bundlehost.bundle.id",
  bundleVersion: "bundlehost.bundle.version",
  bundleState: "bundlehost.bundle.state",
  serviceRange: "bundlehost.service.range",
  outcome: "bundlehost.call.outcome",
  hops: "bundlehost.call.hops",
  routeMode: "bundlehost.route.mode",
  routePattern: "bundlehost.route.pattern",
  degradedReason: "bundlehost.degraded.reason",
  breakerState: "bundlehost.breaker.state",
  breakerPrevious: "bundlehost.breaker.previous_state",
  instanceId: "bundlehost.instance.id",
  instanceState: "bundlehost.instance.state",
  isolation: "bundlehost.isolation",
  startKind: "bundlehost.start.kind",
  eventsRefusal: "bundlehost.events.refusal",
  storageOp: "bundlehost.storage.operation",
  storageOutcome: "bundlehost.storage.outcome",
  serverAddress: "server.address",
  outboundStatus: "bundlehost.outbound.status",
} as const;

/** `rpc.system` of calls routed by the broker. */
export const RPC_SYSTEM = "bundlehost";

/** Duration buckets in seconds: the semantic conventions' HTTP advice, plus sub-5 ms buckets. */
export const DURATION_BUCKETS: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10,
];

/** Instance start buckets in seconds (a cold start loads a module graph: 10 ms to seconds). */
export const START_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/**
 * Every metric the plugin records; the README's metric table lists the same.
 *
 * @example Look up a metric's name and unit
 * ```ts
 * import { METRICS } from "@bundlehost/sdk/observability";
 *
 * console.log(METRICS.callDuration.name, METRICS.callDuration.unit);
 * ```
 */
export const METRICS = {
  calls: {
    name: "bundlehost.calls",
    type: "counter",
    unit: "{call}",
    description: "Calls routed by the broker, from outside and between bundles",
  },
  callDuration: {
    name: "bundlehost.call.duration",
    type: "histogram",
    unit: "s",
    description: "Duration of calls routed by the broker",
    buckets: DURATION_BUCKETS,
  },
  activeCalls: {
    name: "bundlehost.active_calls",
    type: "updowncounter",
    unit: "{call}",
    description: "Calls in flight",
  },
  degradedCalls: {
    name: "bundlehost.degraded_calls",
    type: "counter",
    unit: "{call}",
    description: "Calls served by a degradation bundle or mock, by reason",
  },
  throttledCalls: {
    name: "bundlehost.throttled_calls",
    type: "counter",
    unit: "{call}",
    description: "Calls refused by a QPS or concurrency limit (whether or not a fallback served)",
  },
  timedOutCalls: {
    name: "bundlehost.timed_out_calls",
    type: "counter",
    unit: "{call}",
    description: "Calls whose bundle missed the deadline (whether or not a fallback served)",
  },
  httpDuration: {
    name: "http.server.request.duration",
    type: "histogram",
    unit: "s",
    description: "Duration of HTTP requests served by the engine",
    buckets: DURATION_BUCKETS,
    // Deno's own instrumentation of Deno.serve exports this metric over OTLP already.
    otlp: false,
  },
  instanceStarts: {
    name: "bundlehost.instance.starts",
    type: "counter",
    unit: "{start}",
    description: "Instances that became ready: cold (launched) or hot (warm instance handed out)",
  },
  instanceStartDuration: {
    name: "bundlehost.instance.start.duration",
    type: "histogram",
    unit: "s",
    description: "Time from launch (or hand-out) to ready",
    buckets: START_BUCKETS,
  },
  instanceRestarts: {
    name: "bundlehost.instance.restarts",
    type: "counter",
    unit: "{restart}",
    description: "Instances that ended unexpectedly (crash, eviction, out of memory)",
  },
  instanceCount: {
    name: "bundlehost.instance.count",
    type: "gauge",
    unit: "{instance}",
    description: "Instances per bundle version (pool size), by instance state",
  },
  breakerState: {
    name: "bundlehost.breaker.state",
    type: "gauge",
    unit: "{state}",
    description: "Circuit breaker state: 1 for the current state, 0 for the others",
  },
  breakerTransitions: {
    name: "bundlehost.breaker.transitions",
    type: "counter",
    unit: "{transition}",
    description: "Circuit breaker state changes",
  },
  bundleCount: {
    name: "bundlehost.bundle.count",
    type: "gauge",
    unit: "{bundle}",
    description: "Bundles by the lifecycle state of their current version",
  },
  logsDropped: {
    name: "bundlehost.log.dropped",
    type: "gauge",
    unit: "{line}",
    description:
      "Log lines a bundle wrote beyond its log budget (limits.logLinesPerSecond), dropped since the engine started",
  },
  eventsRefused: {
    name: "bundlehost.events.refused",
    type: "gauge",
    unit: "{request}",
    description:
      "Publishes and detached calls the event limits refused since the engine started, by refusal (throttled, store_full, hop_limit, detached_throttled)",
  },
  eventStoreBytes: {
    name: "bundlehost.events.store.size",
    type: "gauge",
    unit: "By",
    description: "Estimated bytes the event store holds (events, pending deliveries, dead letters)",
  },
  kvOperations: {
    name: "bundlehost.kv.operations",
    type: "counter",
    unit: "{operation}",
    description: "ctx.kv operations of bundles, by operation and outcome",
  },
  kvSize: {
    name: "bundlehost.kv.size",
    type: "gauge",
    unit: "By",
    description:
      "Bytes a bundle's KV namespace holds (keys plus serialized values), against its quota",
  },
  kvKeys: {
    name: "bundlehost.kv.keys",
    type: "gauge",
    unit: "{key}",
    description: "Keys a bundle's KV namespace holds",
  },
  cacheOperations: {
    name: "bundlehost.cache.operations",
    type: "counter",
    unit: "{operation}",
    description: "ctx.cache operations of bundles, by operation and outcome",
  },
  cacheSize: {
    name: "bundlehost.cache.size",
    type: "gauge",
    unit: "By",
    description: "Bytes a bundle's memory cache holds, against its budget",
  },
  cacheEvictions: {
    name: "bundlehost.cache.evictions",
    type: "gauge",
    unit: "{entry}",
    description: "Cache entries evicted to make room since the engine started",
  },
  outboundDuration: {
    name: "bundlehost.outbound.duration",
    type: "histogram",
    unit: "s",
    description:
      "Outbound fetches of bundles: time to the response's headers, by host and status class",
    buckets: DURATION_BUCKETS,
  },
  deadLettersDropped: {
    name: "bundlehost.events.dead_letters.dropped",
    type: "gauge",
    unit: "{delivery}",
    description: "Dead letters dropped since the engine started (expired, or beyond the cap)",
  },
} as const satisfies Record<string, MetricDefinition>;

/** Breaker states reported by the broker, in the order the gauge lists them. */
export const BREAKER_STATES: readonly string[] = [
  "CLOSED",
  "OPEN",
  "HALF_OPEN",
  "FORCED_OPEN",
  "FORCED_CLOSED",
];
