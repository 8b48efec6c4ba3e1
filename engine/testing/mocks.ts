/**
 * Mocked services for {@linkcode testBundle}: a `wrapCall` plugin answers every call to a mocked
 * service with the test's function, in the test's process, and records it. It runs innermost
 * (`enforce: "post"`, registered last), so tracing and metrics plugins a test adds see a mocked
 * call like any other, served by `mock:<Service>@0.0.0`.
 *
 * @module
 */
import {
  BundleCallError,
  BundlehostError,
  CallCancelledError,
  CallTimeoutError,
  NotFoundError,
} from "../base/errors.ts";
import type { Clock } from "../base/clock.ts";
import type { AdmittedCall, CallOutcome } from "../call/request.ts";
import type { Engine } from "../engine.ts";
import { ownFailure, type Plugin } from "../plugin/plugin.ts";
import type { RouteSpec } from "../sdk/types.ts";
import { toWireError } from "../sandbox/wire/wire_error.ts";

/**
 * What a mock method is told about the call it answers.
 *
 * @example Answer by route
 * ```ts
 * import type { MockCallMeta } from "@bundlehost/sdk/testing";
 *
 * const quote = (_input: unknown, meta: MockCallMeta) => ({ price: meta.route ? 1 : 2 });
 * ```
 */
export interface MockCallMeta {
  /** Service name as the caller wrote it (with its `@range`, if any). */
  service: string;
  /** Method name. */
  method: string;
  /** Broker hops: 1 for a call from the bundle under test, 0 for the test's own calls. */
  hops: number;
  /** The call's deadline, epoch ms. */
  deadline: number;
  /** Route the caller asked for. */
  route?: RouteSpec;
  /** W3C trace context of the call. */
  traceparent?: string;
  /** Aborts when the caller gives up. */
  signal?: AbortSignal;
}

/**
 * One method of a mocked service: takes the call's input (type it as the method expects) and
 * returns the result or a promise of it; a throw fails the call as a bundle error would.
 *
 * @example A typed mock method
 * ```ts
 * import type { MockMethod } from "@bundlehost/sdk/testing";
 *
 * const quote: MockMethod = (input: { sku: string }) => ({ sku: input.sku, price: 42 });
 * ```
 */
// A method signature, so a mock may annotate its input with any type (parameters of methods are
// checked bivariantly) while an unannotated one gets `unknown`.
export type MockMethod = {
  mock(input: unknown, meta: MockCallMeta): unknown;
}["mock"];

/**
 * Mocked services: service name → method name → {@linkcode MockMethod}.
 *
 * @example Mock one service with two methods
 * ```ts
 * import type { ServiceMocks } from "@bundlehost/sdk/testing";
 *
 * const mocks: ServiceMocks = {
 *   PriceService: {
 *     quote: (input: { sku: string }) => ({ sku: input.sku, price: 42 }),
 *     list: () => [],
 *   },
 * };
 * ```
 */
export type ServiceMocks = Record<string, Record<string, MockMethod>>;

/**
 * A call a mock received, in the order received.
 *
 * @example Read the input of the first call
 * ```ts
 * import type { MockCall } from "@bundlehost/sdk/testing";
 *
 * const first = (calls: readonly MockCall[]) => calls[0]?.input;
 * ```
 */
export interface MockCall {
  /** Service name (without a `@range`). */
  service: string;
  /** Method name. */
  method: string;
  /** The input it was given. */
  input: unknown;
  /** Broker hops: 1 for a call from the bundle under test. */
  hops: number;
  /** What the mock returned, once it did. */
  result?: unknown;
  /** What the call failed with (the mock threw, or the call timed out or was cancelled). */
  error?: unknown;
}

/**
 * The `bundle` label of an outcome a mock served: `mock:<Service>@0.0.0`, which no bundle id can
 * take.
 *
 * @param service Service name.
 * @returns The label.
 */
export function mockLabel(service: string): string {
  return `mock:${service}@0.0.0`;
}

/**
 * The plugin that answers calls to mocked services and records them in `calls`.
 *
 * @param mocks The mocked services.
 * @param calls Where each call is recorded, in order.
 * @param clock The engine's clock, for call deadlines.
 * @returns The plugin.
 */
export function mockPlugin(mocks: ServiceMocks, calls: MockCall[], clock: Clock): Plugin<Engine> {
  return {
    name: "bundlehost-testing-mocks",
    enforce: "post",
    wrapCall(call, next) {
      const service = call.service.split("@")[0] ?? call.service;
      if (call.kind === "fetch" || !Object.hasOwn(mocks, service)) return next(call);
      const record: MockCall = { service, method: call.method, input: call.input, hops: call.hops };
      calls.push(record);
      return answer(mocks[service]!, service, call, clock).then(
        (result) => {
          record.result = result;
          return { result, bundle: mockLabel(service) };
        },
        (error: unknown) => {
          record.error = error;
          throw error;
        },
      );
    },
  };
}

/** Runs the mock method under the call's deadline and signal; a throw becomes a bundle error. */
function answer(
  mock: Record<string, MockMethod>,
  service: string,
  call: AdmittedCall,
  clock: Clock,
): Promise<CallOutcome["result"]> {
  const label = mockLabel(service);
  const method = Object.hasOwn(mock, call.method) ? mock[call.method] : undefined;
  if (typeof method !== "function") {
    const known = Object.keys(mock).join(", ") || "none";
    const message = `Mock of ${service} has no method "${call.method}" (it has: ${known})`;
    return Promise.reject(ownFailure(new NotFoundError(message)));
  }
  const meta: MockCallMeta = {
    service: call.service,
    method: call.method,
    hops: call.hops,
    deadline: call.deadline,
  };
  if (call.route !== undefined) meta.route = call.route;
  if (call.traceparent !== undefined) meta.traceparent = call.traceparent;
  if (call.signal !== undefined) meta.signal = call.signal;
  return new Promise((resolve, reject) => {
    const fail = (error: BundlehostError) => {
      error.bundle = label;
      reject(ownFailure(error));
    };
    const left = call.deadline - clock.now();
    const timer = Number.isFinite(left)
      ? clock.setTimeout(() => fail(new CallTimeoutError(`Call to ${label} timed out`)), left)
      : undefined;
    const cancel = () =>
      fail(new CallCancelledError(`Call to ${label} was cancelled by the caller`));
    if (call.signal?.aborted) return cancel();
    call.signal?.addEventListener("abort", cancel, { once: true });
    Promise.resolve()
      .then(() => method(call.input, meta))
      .then(resolve, (error: unknown) => {
        if (error instanceof BundlehostError) return fail(error);
        // What a real bundle's throw turns into when it crosses the sandbox boundary.
        const { name, message, code } = toWireError(error);
        fail(
          new BundleCallError(label, { name, message, ...(code === undefined ? {} : { code }) }),
        );
      })
      .finally(() => {
        clock.clearTimeout(timer);
        call.signal?.removeEventListener("abort", cancel);
      });
  });
}
