/**
 * Types shared by bundle authors (inside a sandbox) and the engine.
 *
 * Everything here is plain data or function signatures: the module has no runtime code, so a bundle
 * can import it without pulling engine internals into its sandbox.
 *
 * @module
 */

/** Identity of one running instance of a bundle, as seen from inside the bundle. */
export interface BundleInfo {
  /** Bundle id from `bundle.json`. */
  readonly id: string;
  /** Released semver version. */
  readonly version: string;
  /** Unique per instance; regenerated on every warm hand-out (see {@linkcode BundleHooks.onRefresh}). */
  readonly instanceId: string;
  /** Absolute path of the bundle's persistent data directory (`$DATA` in permission paths). */
  readonly dataDir: string;
}

/** Leveled logger; records are tagged with bundle id, instance and trace id by the engine. */
export interface BundleLogger {
  /** Log at debug level. */
  debug(...args: unknown[]): void;
  /** Log at info level. */
  info(...args: unknown[]): void;
  /** Log at warn level. */
  warn(...args: unknown[]): void;
  /** Log at error level. */
  error(...args: unknown[]): void;
}

/** How the broker picks an implementation: the route modes of docs/architecture.md, "Broker semantics". */
export type RouteType = "ID" | "REG" | "RULE";

/** A route request, from HTTP headers or from `ctx.broker` inside a bundle. */
export interface RouteSpec {
  /** Route policy. `ID` matches a bundle id exactly, `REG` a regular expression, `RULE` attributes. */
  type?: RouteType;
  /**
   * Bundle id (`ID`), regular expression source (`REG`) or JSON attribute object (`RULE`; an array
   * value accepts any of its strings).
   */
  pattern?: string | Record<string, string | string[]>;
  /** Dynamic routing parameters, matched against bundle attributes at call time. */
  params?: Record<string, string>;
  /** Ask for the mock implementation: `"force"` always, `"fail"` only when every other route fails. */
  mock?: "force" | "fail";
}

/** Options for one call made through the broker. */
export interface CallOptions {
  /** Route to use instead of the default. */
  route?: RouteSpec;
  /** Call timeout in milliseconds; never later than the caller's own deadline. */
  timeoutMs?: number;
}

/** A typed client for a service: every method takes the input and returns a promise of the output. */
export type ServiceClient<T> = {
  [K in keyof T]: T[K] extends (input: infer I, ...rest: never[]) => infer O
    ? (input: I) => Promise<Awaited<O>>
    : never;
};

/** Calls other bundles' services; every call carries the caller's deadline and trace context. */
export interface Broker {
  /**
   * A typed client for `service` (optionally `Service@semverRange`).
   *
   * @example Query a config service routed by regular expression
   * ```ts ignore
   * const cfg = ctx.broker.get<ConfigReadService>("ConfigReadService", { type: "REG", pattern: "^drf-hz.*$" });
   * const value = await cfg.queryConfig({ key: "x" });
   * ```
   */
  get<T extends object>(service: string, route?: RouteSpec): ServiceClient<T>;
  /** Calls one method of a service and resolves to its result. */
  call<O = unknown>(
    service: string,
    method: string,
    input?: unknown,
    options?: CallOptions,
  ): Promise<O>;
  /** Dynamic mode: the implementation is chosen per call from an id or attribute parameters. */
  dynamic<T extends object>(
    service: string,
  ): { getService(idOrParams: string | Record<string, string>): ServiceClient<T> };
}

/** What publishing an event returns once the event is durably stored. */
export interface PublishResult {
  /** Event id; with the subscriber, the key a handler can deduplicate deliveries on. */
  id: string;
  /** Deliveries created: one per subscription and event map of an ACTIVE bundle. */
  deliveries: number;
}

/**
 * What a subscription or schedule handler receives as its input. Delivery is at least once: after
 * an engine crash a handler may see the same `id` again, so handlers should be idempotent.
 *
 * @typeParam P Payload type.
 */
export interface EventEnvelope<P = unknown> {
  /** Event id (the same on every attempt and replay). */
  id: string;
  /** Topic, e.g. `"order.created"`; `"bundlehost.schedule"` for scheduled events. */
  topic: string;
  /** The published JSON payload; for scheduled events `{ cron, scheduledAt, catchUp }`. */
  payload: P;
  /** When it was published, ISO time. */
  publishedAt: string;
  /** Attempt number of this delivery, from 1 (reset by a replay). */
  attempt: number;
}

/** Publishes message events (`ctx.events`). */
export interface BundleEvents {
  /**
   * Publishes an event to a topic. Resolves once the event and one delivery per subscriber are
   * durably stored; delivery happens later, at least once, through the broker.
   *
   * @param topic Topic matching `^[a-z0-9][a-z0-9._-]{0,127}$` (not starting with `bundlehost.`).
   * @param payload JSON-compatible value of at most 48 KiB as JSON.
   * @returns The event id and the number of deliveries.
   * @throws {TypeError} For a malformed topic or a payload that is not JSON.
   * @throws {RangeError} For a payload that is too large.
   *
   * @example Publish when an order is created
   * ```ts ignore
   * const { id } = await ctx.events.publish("order.created", { orderId: "o-1" });
   * ```
   */
  publish(topic: string, payload?: unknown): Promise<PublishResult>;
}

/** The context given to every service method, fetch handler and hook. */
export interface BundleContext {
  /** Which bundle instance is running. */
  readonly bundle: BundleInfo;
  /** Calls to other bundles. */
  readonly broker: Broker;
  /** Publishes message events to subscribers (durable, at least once). */
  readonly events: BundleEvents;
  /** Structured logging. */
  readonly log: BundleLogger;
  /** Aborted when the call's deadline passes or the caller cancels. */
  readonly signal: AbortSignal;
  /** Absolute deadline of this call, in epoch milliseconds. */
  readonly deadline: number;
  /** W3C `traceparent` of the current call, when it is traced. */
  readonly traceparent?: string;
}

/**
 * One service method: takes the input (JSON-compatible data) and the context, returns the output.
 *
 * @typeParam I Input type.
 * @typeParam O Output type.
 */
export type ServiceMethod<I = unknown, O = unknown> = (
  input: I,
  ctx: BundleContext,
) => O | Promise<O>;

/** Lifecycle hooks of a bundle; each runs inside every instance of the bundle. */
export interface BundleHooks {
  /** Runs once when an instance starts, before it takes calls; a throw fails the start. */
  onStart?(ctx: BundleContext): void | Promise<void>;
  /** Runs when an instance stops, after in-flight calls drained. */
  onStop?(ctx: BundleContext): void | Promise<void>;
  /**
   * Runs each time a warm, pre-initialised instance is handed out: regenerate what must differ per
   * instance (ids, random seeds, connections). `ctx.bundle.instanceId` is already the new id.
   */
  onRefresh?(ctx: BundleContext): void | Promise<void>;
  /** Runs when the instance is retired (soft limit reached): flush state, it takes no new calls. */
  onRetire?(ctx: BundleContext): void | Promise<void>;
}

/**
 * Any service method, as the engine calls it. Parameters compare both ways (the method-signature
 * form), so a method that declares its own input type still fits, and an object literal's methods
 * get `ctx` typed as {@linkcode BundleContext} from it.
 *
 * @example A method that fits
 * ```ts
 * import type { AnyServiceMethod } from "@bundlehost/sdk/bundle";
 *
 * const greet: AnyServiceMethod = (input, ctx) => `${String(input)} from ${ctx.bundle.id}`;
 * ```
 */
export type AnyServiceMethod = {
  method(input: unknown, ctx: BundleContext): unknown;
}["method"];

/**
 * A service written as an object literal: method name → {@linkcode AnyServiceMethod}.
 *
 * @example A service object
 * ```ts
 * import type { ServiceObject } from "@bundlehost/sdk/bundle";
 *
 * const clock: ServiceObject = { now: (_input, ctx) => ({ at: Date.now(), by: ctx.bundle.id }) };
 * ```
 */
export interface ServiceObject {
  /** One method, called with the call's input and the {@linkcode BundleContext}. */
  [method: string]: AnyServiceMethod;
}

/** What a bundle's entry module default-exports. */
export interface BundleDefinition {
  /**
   * Service name → implementation: an object literal of {@linkcode ServiceMethod}s (whose `ctx`
   * parameter is typed from here) or a class instance whose methods are.
   */
  services?: Record<string, ServiceObject | object>;
  /** Optional Web-standard HTTP handler, served at `/b/<bundle id>/*`. */
  fetch?: (request: Request, ctx: BundleContext) => Response | Promise<Response>;
  /** Lifecycle hooks. */
  hooks?: BundleHooks;
}

/** OSGi lifecycle states of a bundle revision (docs/architecture.md, "Broker semantics"). */
export type LifecycleState =
  | "INSTALLED"
  | "RESOLVED"
  | "STARTING"
  | "ACTIVE"
  | "STOPPING"
  | "UNINSTALLED";

/** Isolation tier: a Web Worker in the engine, or a separate child process. */
export type IsolationTier = "worker" | "process";
