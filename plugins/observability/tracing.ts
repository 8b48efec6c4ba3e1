/**
 * Spans for HTTP requests and routed calls, and the W3C trace context that links them.
 *
 * One trace per request: when `Deno.serve` runs with `OTEL_DENO=true`, Deno has already made the
 * SERVER span (honouring an incoming `traceparent`) and made it the active context of the handler;
 * the plugin names it after the route. Without such a span (the engine's `fetch` called directly)
 * the plugin makes the SERVER span itself from the incoming header and makes it active. Every
 * routed call gets a CLIENT span `<service>/<method>` under it, and the call travels on with that
 * span's context: into the sandbox (where the guest runtime makes it the bundle's active context)
 * and on to the next hop. A request for a bundle's own HTTP handler (`/b/:id/*`) is forwarded with
 * the SERVER span's `traceparent`, which the engine hands to the bundle.
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
import { isTraceparent } from "../../engine/sandbox/wire/protocol.ts";
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

/** The route whose handler gives the request's `traceparent` header to a bundle as is. */
const BUNDLE_FETCH_ROUTE = "/b/:bundleId/*";

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
    const adopted = active?.isRecording() === true;
    let span: Span;
    if (adopted) {
      span = active!;
      span.updateName(name);
      if (route !== undefined) span.setAttribute(ATTR.httpRoute, route);
    } else {
      const url = new URL(request.url);
      const incoming = request.headers.get("traceparent");
      span = this.#tracer.startSpan(name, {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR.httpMethod]: request.method,
          [ATTR.urlPath]: url.pathname,
          [ATTR.urlScheme]: url.protocol.replace(/:$/, ""),
          ...(route === undefined ? {} : { [ATTR.httpRoute]: route }),
        },
      }, isTraceparent(incoming) ? contextFromTraceparent(incoming) : context.active());
    }
    let forwarded = request;
    if (route === BUNDLE_FETCH_ROUTE) {
      const headers = new Headers(request.headers);
      headers.set("traceparent", toTraceparent(span.spanContext()));
      // The client's signal goes along: `/b/` cancels the bundle's call when the client leaves.
      forwarded = new Request(request.url, {
        method: request.method,
        headers,
        body: request.body,
        signal: request.signal,
      });
    }
    try {
      const response = adopted
        ? await next(forwarded)
        : await context.with(trace.setSpan(context.active(), span), () => next(forwarded));
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
