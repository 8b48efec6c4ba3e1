/**
 * W3C trace context inside a sandbox, so that spans a bundle makes with `npm:@opentelemetry/api`
 * join the engine's trace, and its broker calls and log records carry its own active span.
 *
 * When Deno's OpenTelemetry is on (`OTEL_DENO=true`, in a worker and in a child process alike),
 * Deno registers its context manager, tracer provider and W3C propagator in the
 * `@opentelemetry/api` global registry (`Symbol.for("opentelemetry.js.api.1")`) before any module
 * runs; every copy of the API package, the bundle's included, delegates to those objects. This
 * module uses the same registry directly: nothing is loaded, the process tier (which runs without
 * the engine's import map) works the same, and when OpenTelemetry is off the registry is absent and
 * every function here is a plain call.
 *
 * The registry is captured when the runtime starts, before bundle code runs. A bundle can still
 * post any trace context it likes, so the engine validates what it receives (format, same trace).
 *
 * @module
 */

interface Carrier {
  traceparent?: string;
  tracestate?: string;
}

/** The parts of `@opentelemetry/api`'s registered globals this module uses. */
interface OtelRegistry {
  context: {
    active(): unknown;
    with<T>(context: unknown, fn: () => T): T;
  };
  propagation: {
    inject(
      context: unknown,
      carrier: Carrier,
      setter: { set(carrier: Carrier, key: string, value: string): void },
    ): void;
    extract(
      context: unknown,
      carrier: Carrier,
      getter: {
        get(carrier: Carrier, key: string): string | undefined;
        keys(carrier: Carrier): string[];
      },
    ): unknown;
  };
}

const REGISTRY_KEY = Symbol.for("opentelemetry.js.api.1");

const GETTER = {
  get: (carrier: Carrier, key: string) =>
    key === "traceparent" || key === "tracestate" ? carrier[key] : undefined,
  keys: (carrier: Carrier) => Object.keys(carrier),
};
const SETTER = {
  set(carrier: Carrier, key: string, value: string) {
    if (key === "traceparent" || key === "tracestate") carrier[key] = value;
  },
};

/** Trace context operations of one sandbox; no-ops when OpenTelemetry is off. */
export interface TraceContext {
  /** Whether Deno's OpenTelemetry is on in this sandbox. */
  readonly enabled: boolean;
  /**
   * Runs `fn` with the span named by `traceparent` as the active (remote) parent.
   *
   * @param traceparent W3C trace context of the call, if any.
   * @param fn The work.
   * @returns What `fn` returns.
   */
  run<T>(traceparent: string | undefined, fn: () => T): T;
  /** The active span as a W3C `traceparent`, or `undefined` when there is none. */
  current(): string | undefined;
}

/**
 * Captures the OpenTelemetry registry of this realm (call it before bundle code runs).
 *
 * @returns Trace context operations.
 */
export function captureTraceContext(): TraceContext {
  const registry = (globalThis as Record<symbol, unknown>)[REGISTRY_KEY] as
    | Partial<OtelRegistry>
    | undefined;
  const context = registry?.context;
  const propagation = registry?.propagation;
  if (
    typeof context?.with !== "function" || typeof context.active !== "function" ||
    typeof propagation?.extract !== "function" || typeof propagation.inject !== "function"
  ) {
    return { enabled: false, run: (_traceparent, fn) => fn(), current: () => undefined };
  }
  const { with: withContext, active } = context;
  const { extract, inject } = propagation;
  return {
    enabled: true,
    run(traceparent, fn) {
      if (traceparent === undefined) return fn();
      const parent = extract.call(propagation, active.call(context), { traceparent }, GETTER);
      return withContext.call(context, parent, fn) as ReturnType<typeof fn>;
    },
    current() {
      const carrier: Carrier = {};
      try {
        inject.call(propagation, active.call(context), carrier, SETTER);
      } catch {
        return undefined; // A tampered propagator: fall back to the call's own context.
      }
      return carrier.traceparent;
    },
  };
}
