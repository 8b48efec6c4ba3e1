/**
 * One call, from the HTTP edge to the guest and back: {@linkcode CallRequest} is the only type a
 * call is carried in. `/rpc`, `/b/`, event deliveries and calls between bundles all build one, the
 * `wrapCall` plugins see it, the broker routes it, and the instance that serves it keeps it as the
 * parent of the calls the bundle makes meanwhile (docs/architecture.md, "The call path").
 *
 * @module
 */
import type { RouteSpec } from "../sdk/types.ts";

/**
 * What a call runs: a service method, or a bundle's HTTP `fetch` handler (`/b/:id/*`).
 *
 * @example Count the HTTP calls a plugin sees
 * ```ts
 * import { type CallKind, definePlugin } from "@bundlehost/sdk";
 *
 * const seen: Record<CallKind, number> = { service: 0, fetch: 0 };
 * export const counter = definePlugin({
 *   name: "counter",
 *   wrapCall: (call, next) => {
 *     seen[call.kind ?? "service"]++;
 *     return next(call);
 *   },
 * });
 * ```
 */
export type CallKind = "service" | "fetch";

/**
 * One call. Only `service`, `method` and `input` are required to make one.
 *
 * @example Call a service with a route and a timeout, and say who served
 * ```ts
 * import { type CallRequest, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const call: CallRequest = {
 *   service: "HelloService",
 *   method: "greet",
 *   input: { name: "Ada" },
 *   route: { type: "ID", pattern: "hello" },
 *   timeoutMs: 2_000,
 * };
 * const { result, bundle } = await engine.invoke(call);
 * console.log(result, bundle);
 * ```
 */
export interface CallRequest {
  /** What it runs. @default {"service"} */
  kind?: CallKind;
  /**
   * Service name, optionally `Service@semverRange`; for a `fetch`, the id of the bundle whose
   * HTTP handler serves it.
   */
  service: string;
  /** Method name; for a `fetch`, the HTTP method. */
  method: string;
  /** The input: a JSON-compatible value; for a `fetch`, the request as wire data. */
  input: unknown;
  /** Route asked for (untrusted until the broker compiles it). */
  route?: RouteSpec;
  /**
   * Timeout asked for, ms. The engine clamps it to the operator's `limits.maxTimeoutMs` and turns
   * it into {@linkcode CallRequest.deadline} once, when the call enters.
   */
  timeoutMs?: number;
  /** Absolute deadline, epoch ms; always set once the call has entered the engine. */
  deadline?: number;
  /**
   * W3C trace context, version `00` as the engine read it at its edge; a `wrapCall` plugin may
   * replace it before calling `next()`.
   */
  traceparent?: string;
  /** The vendors' `tracestate` that goes with {@linkcode CallRequest.traceparent}, normalised. */
  tracestate?: string;
  /** Broker hops so far (0 for calls from outside). @default {0} */
  hops?: number;
  /** Aborts the call: it fails with `CANCELLED` and the bundle's `ctx.signal` aborts. */
  signal?: AbortSignal;
  /**
   * Made by a bundle outside any call it served (a timer, a hook): charged to the bundle's detached
   * budget, and its hops are not remembered by the callee (README, "Events").
   */
  detached?: boolean;
}

/**
 * A call that has entered the engine: its deadline and hop count are fixed. This is what
 * `wrapCall` plugins see.
 *
 * @example Log each call's remaining time
 * ```ts
 * import { type AdmittedCall, definePlugin } from "@bundlehost/sdk";
 *
 * const describe = (call: AdmittedCall) =>
 *   `${call.service}/${call.method}: ${call.deadline - Date.now()} ms left, hop ${call.hops}`;
 * export const log = definePlugin({
 *   name: "log-calls",
 *   wrapCall: (call, next) => {
 *     console.log(describe(call));
 *     return next(call);
 *   },
 * });
 * ```
 */
export type AdmittedCall = CallRequest & { deadline: number; hops: number };

/**
 * What a call produced.
 *
 * @example Tell a degraded answer
 * ```ts
 * import { type CallOutcome, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const outcome: CallOutcome = await engine.invoke({ service: "Stock", method: "check", input: {} });
 * if (outcome.degraded) console.warn(`${outcome.bundle} answered (${outcome.degraded})`);
 * ```
 */
export interface CallOutcome {
  /** The result value; for a `fetch`, the response as wire data. */
  result: unknown;
  /** `id@version` of the bundle that served it. */
  bundle: string;
  /** Degradation reason when a fallback or mock served it. */
  degraded?: string;
}

/** The timeouts a call is admitted under. */
export interface TimeoutPolicy {
  /** Timeout of a call that asks for none, ms. */
  defaultTimeoutMs: number;
  /** Longest timeout any caller may ask for, ms (the operator's `limits.maxTimeoutMs`). */
  maxTimeoutMs: number;
}

/**
 * Fixes a call's deadline as it enters the engine: the earlier of its own deadline and now plus
 * its timeout (the default when it asks for none), never beyond the operator's maximum. This is
 * the one place a deadline is computed; the broker only narrows it by a bundle's governance.
 *
 * @param call The call.
 * @param now The current time, epoch ms.
 * @param policy Default and longest timeout.
 * @returns The call with `deadline` and `hops` set (the same object when both already were).
 *
 * @example A client asks for more than the operator allows
 * ```ts
 * import { admitCall } from "./request.ts";
 * const call = admitCall({ service: "S", method: "m", input: null, timeoutMs: 90_000 }, 0, {
 *   defaultTimeoutMs: 30_000,
 *   maxTimeoutMs: 60_000,
 * });
 * console.log(call.deadline); // 60000
 * ```
 */
export function admitCall(call: CallRequest, now: number, policy: TimeoutPolicy): AdmittedCall {
  const timeout = Math.min(call.timeoutMs ?? policy.defaultTimeoutMs, policy.maxTimeoutMs);
  const deadline = Math.min(call.deadline ?? Infinity, now + timeout);
  if (call.deadline === deadline && call.hops !== undefined) return call as AdmittedCall;
  return { ...call, deadline, hops: call.hops ?? 0 };
}

/**
 * What a bundle asks for when it calls another bundle (`ctx.broker`): the fields of a
 * {@linkcode CallRequest} a guest may choose. Its `traceparent` is the guest's own (a span the
 * bundle made), already checked against the parent's trace; its route is untrusted.
 */
export type NestedAsk = Pick<
  CallRequest,
  "service" | "method" | "input" | "route" | "timeoutMs" | "traceparent" | "tracestate"
>;

/**
 * The call a bundle makes while serving `parent`: one hop deeper, under the parent's deadline,
 * trace and cancellation. The engine, not the guest, decides these.
 *
 * @param parent The call being served (or the record of a detached request).
 * @param ask What the bundle asked for.
 * @returns The nested call.
 *
 * @example A nested call inherits the deadline and adds a hop
 * ```ts
 * import { nestedCall } from "./request.ts";
 * const parent = { service: "A", method: "a", input: null, deadline: 1_000, hops: 1 };
 * const child = nestedCall(parent, { service: "B", method: "b", input: 1 });
 * console.log(child.hops, child.deadline); // 2 1000
 * ```
 */
export function nestedCall(parent: AdmittedCall, ask: NestedAsk): CallRequest {
  const call: CallRequest = {
    service: ask.service,
    method: ask.method,
    input: ask.input,
    hops: parent.hops + 1,
  };
  if (Number.isFinite(parent.deadline)) call.deadline = parent.deadline;
  if (ask.route !== undefined) call.route = ask.route;
  if (ask.timeoutMs !== undefined) call.timeoutMs = ask.timeoutMs;
  const trace = ask.traceparent !== undefined ? ask : parent;
  if (trace.traceparent !== undefined) {
    call.traceparent = trace.traceparent;
    if (trace.tracestate !== undefined) call.tracestate = trace.tracestate;
  }
  if (parent.signal) call.signal = parent.signal;
  if (parent.detached) call.detached = true;
  return call;
}
