/**
 * W3C trace context inside a sandbox: the call's context becomes the bundle's active one, so spans
 * a bundle makes with `npm:@opentelemetry/api` join the engine's trace, and its broker calls, log
 * records, event publishes and outgoing `fetch` requests carry the context it runs in.
 *
 * When Deno's OpenTelemetry is on (`OTEL_DENO=true`, in a worker and in a child process alike),
 * Deno registers its context manager and tracer provider in the `@opentelemetry/api` global
 * registry (`Symbol.for("opentelemetry.js.api.1")`) before any module runs; every copy of the API
 * package, the bundle's included, delegates to those objects. This module uses the same registry
 * directly: nothing is loaded, the process tier (which runs without the engine's import map) works
 * the same, and when OpenTelemetry is off the registry is absent. It reads and sets span contexts
 * itself rather than through the registered propagators, so `OTEL_PROPAGATORS` cannot cut a call's
 * context off from the bundle.
 *
 * Deno's spans carry neither `tracestate` nor the random-trace-id flag, and its sampler by default
 * records a span whatever its parent's sampled flag says. So the context this module hands on is
 * built from the call's own: the span id of the bundle's active span, the call's `tracestate`, the
 * call's random flag, and the sampled flag only when both the call and the span were sampled.
 *
 * The registry is captured when the runtime starts, before bundle code runs. A bundle can still
 * post any trace context it likes, so the engine validates what it receives (format, same trace).
 *
 * @module
 */
import {
  flagsOf,
  formatTraceparent,
  isTraceparent,
  isTracestate,
  parseTracestate,
  RANDOM,
  SAMPLED,
  type TraceContext,
  traceIdOf,
} from "../../base/trace_context.ts";

/** What this module uses of the context objects in the registry. */
interface OtelContext {
  getValue(key: symbol): unknown;
  setValue(key: symbol, value: unknown): OtelContext;
}

/** A span context as the OpenTelemetry API shapes it. */
interface SpanContext {
  traceId: string;
  spanId: string;
  traceFlags: number;
  isRemote?: boolean;
  traceState?: { serialize(): string };
}

/** What this module uses of a span. */
interface OtelSpan {
  spanContext(): SpanContext;
  setAttribute(key: string, value: string | number): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

/** The parts of `@opentelemetry/api`'s registered globals this module uses. */
interface OtelRegistry {
  context: {
    active(): OtelContext;
    with<T>(context: OtelContext, fn: () => T): T;
  };
  trace: {
    getTracer(name: string, version?: string): {
      startSpan(
        name: string,
        options: { kind: number; attributes: Record<string, string | number> },
        context: OtelContext,
      ): OtelSpan;
    };
  };
}

const REGISTRY_KEY = Symbol.for("opentelemetry.js.api.1");
const SPAN_KEY = Symbol.for("OpenTelemetry Context Key SPAN");
const SUPPRESS_KEY = Symbol.for("OpenTelemetry SDK Context Key SUPPRESS_TRACING");
const CLIENT = 2;
const ERROR = 2;

/** The call's caller as the bundle's parent span: remote, not recording, as the API's own. */
class RemoteSpan {
  readonly #context: SpanContext;
  constructor(traceparent: string) {
    this.#context = {
      traceId: traceIdOf(traceparent),
      spanId: traceparent.slice(36, 52),
      traceFlags: flagsOf(traceparent),
      isRemote: true,
    };
  }
  spanContext(): SpanContext {
    return this.#context;
  }
  setAttribute(): this {
    return this;
  }
  setAttributes(): this {
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(): this {
    return this;
  }
  updateName(): this {
    return this;
  }
  end(): void {}
  isRecording(): boolean {
    return false;
  }
  recordException(): void {}
}

/** The context of the active span of `ctx`, when it has a well-formed one. */
function spanTrace(ctx: OtelContext): TraceContext | undefined {
  let span: SpanContext | undefined;
  try {
    span = (ctx.getValue(SPAN_KEY) as { spanContext?: () => SpanContext } | undefined)
      ?.spanContext?.();
  } catch {
    return undefined; // A tampered span: fall back to the call's own context.
  }
  if (span === undefined || !Number.isInteger(span.traceFlags)) return undefined;
  const traceparent = formatTraceparent(span.traceId, span.spanId, span.traceFlags);
  if (!isTraceparent(traceparent)) return undefined;
  let tracestate: string | undefined;
  try {
    tracestate = parseTracestate(span.traceState?.serialize());
  } catch {
    tracestate = undefined;
  }
  return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
}

/** Trace context operations of one sandbox. */
export interface GuestTrace {
  /** Whether Deno's OpenTelemetry is on in this sandbox. */
  readonly enabled: boolean;
  /**
   * Runs `fn` with the call's context as the active (remote) parent.
   *
   * @param call The call's trace context, if any.
   * @param fn The work.
   * @returns What `fn` returns.
   */
  run<T>(call: TraceContext | undefined, fn: () => T): T;
  /** The context the bundle's code runs in now (its active span, or the call's context). */
  current(): TraceContext | undefined;
  /**
   * Sends an outgoing request with the context the bundle runs in: under a `fetch` CLIENT span of
   * its own when tracing is on, unchanged (pass-through) when it is off. A request that already
   * has a `traceparent` (the bundle set one) goes out as the bundle made it.
   *
   * @param fetch The platform's `fetch`.
   * @param input What the bundle passed to `fetch`.
   * @param init What the bundle passed to `fetch`.
   * @returns The response.
   */
  fetch(
    fetch: typeof globalThis.fetch,
    input: RequestInfo | URL,
    init?: RequestInit,
  ): Promise<Response>;
}

/** The call's context continued by a span of the sandbox: its id, the call's state and flags. */
function continued(span: string, call: TraceContext): TraceContext {
  const own = flagsOf(span);
  const received = flagsOf(call.traceparent);
  // Never sampled where the call was not; a sampler that dropped the span clears it too.
  const flags = (received & own & SAMPLED) | (received & RANDOM);
  const traceparent = formatTraceparent(traceIdOf(span), span.slice(36, 52), flags);
  return call.tracestate === undefined
    ? { traceparent }
    : { traceparent, tracestate: call.tracestate };
}

/** The headers a `fetch(input, init)` sends, as `fetch` itself merges them. */
function headersOf(input: RequestInfo | URL, init: RequestInit | undefined): Headers {
  return new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
}

/**
 * The `init` that sends the request with `trace`; every other field of the bundle's `init` (Deno's
 * `client` among them) is kept.
 */
function tracedInit(headers: Headers, init: RequestInit | undefined, trace: TraceContext) {
  headers.set("traceparent", trace.traceparent);
  if (trace.tracestate !== undefined) headers.set("tracestate", trace.tracestate);
  else headers.delete("tracestate");
  return { ...init, headers };
}

/** Method and URL of a `fetch(input, init)`, for the span's attributes. */
function describe(input: RequestInfo | URL, init: RequestInit | undefined) {
  const method = init?.method ?? (input instanceof Request ? input.method : "GET");
  const attributes: Record<string, string> = { "http.request.method": method.toUpperCase() };
  try {
    const url = new URL(input instanceof Request ? input.url : String(input));
    attributes["server.address"] = url.hostname;
    attributes["url.full"] = `${url.protocol}//${url.host}${url.pathname}${url.search}`;
  } catch {
    // A URL fetch refuses: the request fails there, with its own error.
  }
  return attributes;
}

/**
 * Captures the OpenTelemetry registry of this realm (call it before bundle code runs).
 *
 * @param callTrace The trace context of the call being served, if any.
 * @returns Trace context operations.
 */
export function captureTraceContext(callTrace: () => TraceContext | undefined): GuestTrace {
  const registry = (globalThis as Record<symbol, unknown>)[REGISTRY_KEY] as
    | Partial<OtelRegistry>
    | undefined;
  const context = registry?.context;
  const provider = registry?.trace;
  if (
    typeof context?.with !== "function" || typeof context.active !== "function" ||
    typeof provider?.getTracer !== "function"
  ) {
    return untraced(callTrace);
  }
  const { with: withContext, active } = context;
  const tracer = provider.getTracer.call(provider, "bundlehost-sandbox");
  const under = (ctx: OtelContext, trace: TraceContext) =>
    ctx.setValue(SPAN_KEY, new RemoteSpan(trace.traceparent));

  function current(): TraceContext | undefined {
    const call = callTrace();
    const own = spanTrace(active.call(context));
    if (own === undefined) return call;
    if (call === undefined || traceIdOf(own.traceparent) !== traceIdOf(call.traceparent)) {
      return own; // A trace the bundle started itself.
    }
    return continued(own.traceparent, call);
  }

  const parts: SpanFetchParts = { context, withContext, active, tracer, under, current };
  return {
    enabled: true,
    run(call, fn) {
      if (call === undefined) return fn();
      return withContext.call(context, under(active.call(context), call), fn) as ReturnType<
        typeof fn
      >;
    },
    current,
    fetch: (fetch, input, init) => spanFetch(parts, fetch, input, init),
  };
}

/** Trace context operations when the realm has no OpenTelemetry: the call's context passes on. */
function untraced(callTrace: () => TraceContext | undefined): GuestTrace {
  return {
    enabled: false,
    run: (_call, fn) => fn(),
    current: callTrace,
    fetch(fetch, input, init) {
      // Pass-through: no span here, so the caller's context goes on as it came.
      const trace = callTrace();
      if (trace === undefined) return fetch(input, init);
      const headers = headersOf(input, init);
      if (headers.has("traceparent")) return fetch(input, init);
      return fetch(input, tracedInit(headers, init, trace));
    },
  };
}

/** What a traced outbound `fetch` needs of the registry, captured before bundle code ran. */
interface SpanFetchParts {
  /** The context API (`this` of the two below). */
  context: OtelRegistry["context"];
  /** Its `with`. */
  withContext: OtelRegistry["context"]["with"];
  /** Its `active`. */
  active: OtelRegistry["context"]["active"];
  /** The sandbox's tracer. */
  tracer: ReturnType<OtelRegistry["trace"]["getTracer"]>;
  /** A context whose parent span is the remote span of `trace`. */
  under(ctx: OtelContext, trace: TraceContext): OtelContext;
  /** The trace context the bundle runs in now. */
  current(): TraceContext | undefined;
}

/**
 * An outbound `fetch` in a CLIENT span of its own, whose `traceparent` it sends. A request that
 * already carries one is sent as it is, with Deno's own instrumentation suppressed.
 */
function spanFetch(
  parts: SpanFetchParts,
  fetch: typeof globalThis.fetch,
  input: RequestInfo | URL,
  init: RequestInit | undefined,
): Promise<Response> {
  const { context, withContext, active, tracer, under, current } = parts;
  const headers = headersOf(input, init);
  const outer = active.call(context);
  // Deno's own instrumentation must not add a second traceparent: it is suppressed here,
  // and its span of the request becomes a child of this one.
  const suppressed = outer.setValue(SUPPRESS_KEY, true);
  if (headers.has("traceparent")) {
    return withContext.call(context, suppressed, () => fetch(input, init)) as Promise<Response>;
  }
  const parent = current();
  const span = tracer.startSpan(
    "fetch",
    { kind: CLIENT, attributes: describe(input, init) },
    parent === undefined ? outer : under(outer, parent),
  );
  const { traceId, spanId, traceFlags } = span.spanContext();
  const own = formatTraceparent(traceId, spanId, traceFlags);
  const trace = parent !== undefined && traceIdOf(parent.traceparent) === traceId
    ? continued(own, parent)
    : { traceparent: formatTraceparent(traceId, spanId, (traceFlags & SAMPLED) | RANDOM) };
  let sent: Promise<Response>;
  try {
    sent = withContext.call(
      context,
      suppressed.setValue(SPAN_KEY, span),
      () => fetch(input, tracedInit(headers, init, trace)),
    ) as Promise<Response>;
  } catch (error) {
    span.setStatus({ code: ERROR, message: String(error) });
    span.end();
    throw error;
  }
  return sent.then((response) => {
    span.setAttribute("http.response.status_code", response.status);
    if (response.status >= 500) span.setStatus({ code: ERROR });
    span.end();
    return response;
  }, (error) => {
    span.setStatus({ code: ERROR, message: (error as Error)?.message ?? String(error) });
    span.end();
    throw error;
  });
}

/**
 * The trace context an engine call carries, if any. A plugin or an embedder may have set it, so it
 * is checked here too: a malformed parent would make the bundle's own spans fail to start.
 *
 * @param msg A `call` message's trace fields.
 * @returns The context, or `undefined` when there is none or it is malformed.
 */
export function traceOf(
  msg: { traceparent?: string; tracestate?: string },
): TraceContext | undefined {
  if (!isTraceparent(msg.traceparent)) return undefined;
  return isTracestate(msg.tracestate)
    ? { traceparent: msg.traceparent, tracestate: msg.tracestate }
    : { traceparent: msg.traceparent };
}
