/**
 * Spans for HTTP requests and routed calls, and the W3C trace context that links them.
 *
 * One trace per request: when `Deno.serve` runs with `OTEL_DENO=true`, Deno has already made the
 * SERVER span and made it the active context of the handler; the plugin names it after the route,
 * when Deno read the incoming context as the engine does. Deno matches header names
 * case-sensitively and takes the first of two `traceparent` headers, so when its span is in another
 * trace than the one the engine read (engine/base/trace_context.ts), or there is no such span (the
 * engine's `fetch` called directly), the plugin makes the SERVER span itself and makes it active.
 * Every routed call gets a CLIENT span `<service>/<method>` under it, and the call travels on with
 * that span's context ({@linkcode Tracing.contextOf}): into the sandbox (where the guest runtime
 * makes it the bundle's active context, and sets it on a `/b/` request's headers) and on to the
 * next hop, with the caller's `tracestate` and flags.
 *
 * @module
 */
import {
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { AdmittedCall, CallOutcome } from "../../engine/call/request.ts";
import {
  flagsOf,
  formatTraceparent,
  isTraceparent,
  RANDOM,
  readTraceContext,
  SAMPLED,
  type TraceContext,
  traceIdOf,
} from "../../engine/base/trace_context.ts";
import type { RouteSpec } from "../../engine/sdk/types.ts";
import { errorType, serviceName, splitLabel } from "./recorder.ts";
import { ATTR, RPC_SYSTEM } from "./semconv.ts";

const REGISTRY_KEY = Symbol.for("opentelemetry.js.api.1");

/**
 * Whether Deno's built-in OpenTelemetry is on in this process (`OTEL_DENO=true`): Deno then
 * registers its providers in the `@opentelemetry/api` global registry before any module runs.
 *
 * @returns `true` when spans and metrics recorded through the API are exported.
 */
export function otelEnabled(): boolean {
  const registry = (globalThis as Record<symbol, unknown>)[REGISTRY_KEY];
  return typeof registry === "object" && registry !== null && "trace" in registry;
}

/**
 * A span context as a W3C `traceparent` value.
 *
 * @param span The span context.
 * @returns E.g. `"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"`.
 */
export function toTraceparent(span: SpanContext): string {
  const flags = (span.traceFlags & 0xff).toString(16).padStart(2, "0");
  return `00-${span.traceId}-${span.spanId}-${flags}`;
}

/**
 * A context whose (remote) parent span is the one a `traceparent` names.
 *
 * @param traceparent W3C trace context; anything malformed gives the root context.
 * @returns The context.
 */
export function contextFromTraceparent(traceparent: string | undefined | null): Context {
  if (!isTraceparent(traceparent)) return ROOT_CONTEXT;
  const [, traceId, spanId, flags] = traceparent.split("-") as [string, string, string, string];
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId,
    spanId,
    traceFlags: parseInt(flags, 16) & 1,
    isRemote: true,
  });
}

/**
 * The route mode of a call, for the `bundlehost.route.mode` attribute.
 *
 * @param route The route asked for.
 * @returns `default`, `ID`, `REG`, `RULE`, `dynamic` or `mock`.
 */
export function routeMode(route: RouteSpec | undefined): string {
  if (route?.mock === "force") return "mock";
  if (route?.type) return route.type;
  if (route?.params) return "dynamic";
  return "default";
}

/**
 * Whether Deno's SERVER span has the parent the engine read: the same trace as a valid incoming
 * context, or, without one, a trace no `traceparent` header named (Deno may have read one the
 * engine refuses, such as the first of two headers).
 */
function sameParent(active: Span, incoming: TraceContext | undefined, headers: Headers): boolean {
  const traceId = active.spanContext().traceId;
  if (incoming !== undefined) return traceIdOf(incoming.traceparent) === traceId;
  return !(headers.get("traceparent") ?? "").includes(traceId);
}

function parentOf(call: AdmittedCall): Context {
  if (call.hops === 0) {
    const active = trace.getActiveSpan();
    if (
      active?.isRecording() &&
      (call.traceparent === undefined ||
        call.traceparent.slice(3, 35) === active.spanContext().traceId)
    ) {
      return context.active();
    }
    return call.traceparent === undefined
      ? context.active()
      : contextFromTraceparent(call.traceparent);
  }
  return call.traceparent === undefined ? ROOT_CONTEXT : contextFromTraceparent(call.traceparent);
}

function callAttributes(call: AdmittedCall): Record<string, string | number> {
  const service = serviceName(call.service);
  const attributes: Record<string, string | number> = {
    [ATTR.rpcSystem]: RPC_SYSTEM,
    [ATTR.rpcService]: service,
    [ATTR.rpcMethod]: call.method,
    [ATTR.hops]: call.hops,
    [ATTR.routeMode]: routeMode(call.route),
  };
  if (service !== call.service) {
    attributes[ATTR.serviceRange] = call.service.slice(service.length + 1);
  }
  const pattern = call.route?.pattern;
  if (pattern !== undefined) {
    attributes[ATTR.routePattern] = typeof pattern === "string" ? pattern : JSON.stringify(pattern);
  }
  return attributes;
}

/** Makes the request and call spans. */
export class Tracing {
  readonly #tracer: Tracer;
  readonly #breakerState: (bundle: string) => string | undefined;

  /**
   * Creates the tracing helper.
   *
   * @param tracer Tracer to make spans with.
   * @param breakerState The circuit breaker state of a bundle, when it has one.
   */
  constructor(tracer: Tracer, breakerState: (bundle: string) => string | undefined) {
    this.#tracer = tracer;
    this.#breakerState = breakerState;
  }

  /**
   * Runs `next` under the request's SERVER span: Deno's, renamed after the route, or one made
   * here. The request goes on with the span's `traceparent`.
   *
   * @param request The request.
   * @param route Route template, when known (e.g. `/rpc/:service/:method`).
   * @param next The rest of the request pipeline.
   * @returns The response.
   */
  async request(
    request: Request,
    route: string | undefined,
    next: (request: Request) => Promise<Response>,
  ): Promise<Response> {
    const name = route === undefined ? request.method : `${request.method} ${route}`;
    const active = trace.getActiveSpan();
    const incoming = readTraceContext(request.headers);
    const adopted = active?.isRecording() === true && sameParent(active, incoming, request.headers);
    let span: Span;
    if (adopted) {
      span = active!;
      span.updateName(name);
      if (route !== undefined) span.setAttribute(ATTR.httpRoute, route);
    } else {
      const url = new URL(request.url);
      span = this.#tracer.startSpan(name, {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR.httpMethod]: request.method,
          [ATTR.urlPath]: url.pathname,
          [ATTR.urlScheme]: url.protocol.replace(/:$/, ""),
          ...(route === undefined ? {} : { [ATTR.httpRoute]: route }),
        },
      }, contextFromTraceparent(incoming?.traceparent));
    }
    try {
      const response = adopted
        ? await next(request)
        : await context.with(trace.setSpan(context.active(), span), () => next(request));
      if (!adopted) span.setAttribute(ATTR.httpStatus, response.status);
      // Server spans: 5xx is an error, 4xx is the client's (semantic conventions).
      if (response.status >= 500) {
        span.setAttribute(ATTR.errorType, String(response.status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      return response;
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
      throw error;
    } finally {
      if (!adopted) span.end();
    }
  }

  /**
   * Starts the CLIENT span of a routed call. A call from outside joins the active span (the
   * request's SERVER span) when that span is in the call's trace, else the call's `traceparent`.
   * A call between bundles is parented by its `traceparent` (the caller's call span, or a span the
   * calling bundle made); without one it starts a new trace rather than join whatever context the
   * engine happens to run in (a worker's messages arrive in no request's context).
   *
   * @param call The call.
   * @returns The span.
   */
  startCall(call: AdmittedCall): Span {
    const name = call.kind === "fetch"
      ? `/b/${call.service} ${call.method}`
      : `${serviceName(call.service)}/${call.method}`;
    return this.#tracer.startSpan(
      name,
      { kind: SpanKind.CLIENT, attributes: callAttributes(call) },
      parentOf(call),
    );
  }

  /**
   * The context a call travels on with: its CLIENT span's ids, the caller's `tracestate`, and the
   * caller's flags: the random-trace-id flag as received, the sampled flag only when both the
   * caller and the engine's sampler sampled (an unsampled request never becomes a sampled one).
   * A trace the engine starts is flagged random (Deno's ids are random) and sampled as its span.
   *
   * @param call The call (its `traceparent` and `tracestate` as received).
   * @param span The call's span.
   * @returns The context to hand on.
   */
  contextOf(call: AdmittedCall, span: Span): TraceContext {
    const { traceId, spanId, traceFlags } = span.spanContext();
    if (call.traceparent === undefined || traceIdOf(call.traceparent) !== traceId) {
      return { traceparent: formatTraceparent(traceId, spanId, (traceFlags & SAMPLED) | RANDOM) };
    }
    const received = flagsOf(call.traceparent);
    const flags = (received & traceFlags & SAMPLED) | (received & RANDOM);
    const traceparent = formatTraceparent(traceId, spanId, flags);
    return call.tracestate === undefined
      ? { traceparent }
      : { traceparent, tracestate: call.tracestate };
  }

  /**
   * Ends a call span that succeeded: serving bundle, degradation reason, breaker state.
   *
   * @param span The call's span.
   * @param outcome What served it.
   */
  endCall(span: Span, outcome: CallOutcome): void {
    const { id, version } = splitLabel(outcome.bundle);
    const attributes: Record<string, string> = {
      [ATTR.bundleId]: id,
      [ATTR.outcome]: outcome.degraded === undefined ? "ok" : "degraded",
    };
    if (version !== undefined) attributes[ATTR.bundleVersion] = version;
    if (outcome.degraded !== undefined) attributes[ATTR.degradedReason] = outcome.degraded;
    const breaker = this.#breakerState(id);
    if (breaker !== undefined) attributes[ATTR.breakerState] = breaker;
    span.setAttributes(attributes);
    span.end();
  }

  /**
   * Ends a call span that failed.
   *
   * @param span The call's span.
   * @param error What it failed with.
   */
  failCall(span: Span, error: unknown): void {
    span.setAttributes({ [ATTR.errorType]: errorType(error), [ATTR.outcome]: "error" });
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: (error as Error)?.message ?? String(error),
    });
    span.end();
  }
}
