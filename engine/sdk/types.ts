/**
 * Types shared by bundle authors (inside a sandbox) and the engine.
 *
 * Everything here is plain data or function signatures: the module has no runtime code, so a bundle
 * can import it without pulling engine internals into its sandbox.
 *
 * @module
 */

/**
 * Identity of one running instance of a bundle, as seen from inside the bundle.
 *
 * @example Tag a reply with the instance that served it
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   services: {
 *     Who: { am: (_input, ctx) => `${ctx.bundle.id}@${ctx.bundle.version} (${ctx.bundle.instanceId})` },
 *   },
 * });
 * ```
 */
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

/**
 * Leveled logger; records are tagged with bundle id, instance and trace id by the engine.
 *
 * @example Log with a level
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   hooks: { onRetire(ctx) { ctx.log.warn("retiring", ctx.bundle.instanceId); } },
 * });
 * ```
 */
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

/**
 * How the broker picks an implementation: the route modes of docs/architecture.md, "Broker semantics".
 *
 * @example Route by regular expression
 * ```ts
 * import type { RouteSpec, RouteType } from "@bundlehost/sdk/bundle";
 *
 * const type: RouteType = "REG";
 * const route: RouteSpec = { type, pattern: "^config-.*$" };
 * ```
 */
export type RouteType = "ID" | "REG" | "RULE";

/**
 * A route request, from HTTP headers or from `ctx.broker` inside a bundle.
 *
 * @example Route by attributes, falling back to the mock
 * ```ts
 * import type { RouteSpec } from "@bundlehost/sdk/bundle";
 *
 * const route: RouteSpec = { type: "RULE", pattern: { region: ["eu", "us"] }, mock: "fail" };
 * ```
 */
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

/**
 * Options for one call made through the broker.
 *
 * @example Call with a shorter timeout
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   services: {
 *     Front: {
 *       price: (input: { sku: string }, ctx) =>
 *         ctx.broker.call<number>("PriceService", "get", input, { timeoutMs: 500 }),
 *     },
 *   },
 * });
 * ```
 */
export interface CallOptions {
  /** Route to use instead of the default. */
  route?: RouteSpec;
  /** Call timeout in milliseconds; never later than the caller's own deadline. */
  timeoutMs?: number;
}

/**
 * A typed client for a service: every method takes the input and returns a promise of the output.
 *
 * @example A typed client for another bundle's service
 * ```ts
 * import { defineBundle, type ServiceClient } from "@bundlehost/sdk/bundle";
 *
 * interface Stock {
 *   count(input: { sku: string }): number;
 * }
 * export default defineBundle({
 *   services: {
 *     Shop: {
 *       async available(input: { sku: string }, ctx) {
 *         const stock: ServiceClient<Stock> = ctx.broker.get<Stock>("StockService");
 *         return (await stock.count(input)) > 0;
 *       },
 *     },
 *   },
 * });
 * ```
 */
export type ServiceClient<T> = {
  [K in keyof T]: T[K] extends (input: infer I, ...rest: never[]) => infer O
    ? (input: I) => Promise<Awaited<O>>
    : never;
};

/**
 * Calls other bundles' services; every call carries the caller's deadline and trace context.
 *
 * @example Call another bundle's service
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   services: {
 *     Front: {
 *       greet: (input: { name: string }, ctx) => ctx.broker.call("HelloService", "greet", input),
 *     },
 *   },
 * });
 * ```
 */
export interface Broker {
  /**
   * A typed client for `service` (optionally `Service@semverRange`).
   *
   * @example Query a config service routed by regular expression
   * ```ts
   * import { defineBundle } from "@bundlehost/sdk/bundle";
   *
   * interface ConfigReadService {
   *   queryConfig(input: { key: string }): string;
   * }
   * export default defineBundle({
   *   services: {
   *     Reader: {
   *       async read(input: { key: string }, ctx) {
   *         const route = { type: "REG", pattern: "^drf-hz.*$" } as const;
   *         const cfg = ctx.broker.get<ConfigReadService>("ConfigReadService", route);
   *         return await cfg.queryConfig(input);
   *       },
   *     },
   *   },
   * });
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

/**
 * What publishing an event returns once the event is durably stored.
 *
 * @example Keep the event id
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   services: {
 *     Orders: {
 *       async create(input: { sku: string }, ctx) {
 *         const published = await ctx.events.publish("order.created", input);
 *         return { event: published.id, subscribers: published.deliveries };
 *       },
 *     },
 *   },
 * });
 * ```
 */
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
 *
 * @example A subscription handler
 * ```ts
 * import { defineBundle, type EventEnvelope } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   services: {
 *     Mailer: {
 *       onOrder(envelope: EventEnvelope<{ orderId: string }>, ctx) {
 *         ctx.log.info(`order ${envelope.payload.orderId}, attempt ${envelope.attempt}`);
 *       },
 *     },
 *   },
 * });
 * ```
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

/**
 * Publishes message events (`ctx.events`).
 *
 * @example Publish from a service method
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   services: {
 *     Orders: {
 *       async create(input: { orderId: string }, ctx) {
 *         await ctx.events.publish("order.created", input);
 *         return input.orderId;
 *       },
 *     },
 *   },
 * });
 * ```
 */
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
   * ```ts
   * import { defineBundle } from "@bundlehost/sdk/bundle";
   *
   * export default defineBundle({
   *   services: {
   *     Orders: {
   *       async create(input: { orderId: string }, ctx) {
   *         const { id } = await ctx.events.publish("order.created", input);
   *         return { orderId: input.orderId, event: id };
   *       },
   *     },
   *   },
   * });
   * ```
   */
  publish(topic: string, payload?: unknown): Promise<PublishResult>;
}

/**
 * `ctx.secrets`: the values of the secrets the bundle's manifest declares (`bundle.json`
 * `secrets`), set by the operator (`PUT /admin/bundles/:id/secrets/:name`).
 *
 * @example Read a declared secret
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   services: {
 *     Mail: {
 *       async send(_input: unknown, ctx) {
 *         const key = await ctx.secrets.get("MAIL_API_KEY");
 *         if (key === undefined) throw new Error("MAIL_API_KEY is not set");
 *         return { configured: true };
 *       },
 *     },
 *   },
 * });
 * ```
 */
export interface BundleSecrets {
  /**
   * The value of a declared secret, or `undefined` when the operator has not set it.
   *
   * @param name A name listed in `bundle.json` `secrets`.
   * @returns The value, or `undefined`.
   * @throws {TypeError} (a rejection) When the manifest does not declare `name`.
   */
  get(name: string): Promise<string | undefined>;
}

/**
 * The context given to every service method, fetch handler and hook.
 *
 * @example Honour the deadline and cancellation
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   services: {
 *     Slow: {
 *       async wait(input: { ms: number }, ctx) {
 *         const ms = Math.min(input.ms, ctx.deadline - Date.now());
 *         await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
 *         ctx.signal.throwIfAborted();
 *         return ms;
 *       },
 *     },
 *   },
 * });
 * ```
 */
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
  /** W3C `tracestate` of the current call, when the caller sent one. */
  readonly tracestate?: string;
  /**
   * The bundle's config, deeply frozen: `bundle.json` `config` with the operator's overrides
   * merged in (README, "Config"). A change arrives without a restart, before `onRefresh` runs.
   */
  readonly config: Readonly<Record<string, unknown>>;
  /** The secrets the manifest declares (README, "Secrets"). */
  readonly secrets: BundleSecrets;
  /** The bundle's own Deno KV namespace, kept by the engine (README, "Storage"). */
  readonly kv: BundleKv;
  /** A memory cache with a TTL, shared by the bundle's instances (README, "Storage"). */
  readonly cache: BundleCache;
}

/**
 * One service method: takes the input (JSON-compatible data) and the context, returns the output.
 *
 * @typeParam I Input type.
 * @typeParam O Output type.
 *
 * @example A method typed on its own
 * ```ts
 * import type { ServiceMethod } from "@bundlehost/sdk/bundle";
 *
 * const greet: ServiceMethod<{ name: string }, string> = (input, ctx) =>
 *   `Hello, ${input.name} from ${ctx.bundle.id}`;
 * ```
 */
export type ServiceMethod<I = unknown, O = unknown> = (
  input: I,
  ctx: BundleContext,
) => O | Promise<O>;

/**
 * Lifecycle hooks of a bundle; each runs inside every instance of the bundle.
 *
 * @example Load data on start, reset per-instance state on refresh
 * ```ts
 * import type { BundleHooks } from "@bundlehost/sdk/bundle";
 *
 * let seed = Math.random();
 * const hooks: BundleHooks = {
 *   onStart(ctx) {
 *     ctx.log.info("loading", ctx.bundle.dataDir);
 *   },
 *   onRefresh() {
 *     seed = Math.random();
 *   },
 * };
 * ```
 */
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

/**
 * What a bundle's entry module default-exports.
 *
 * @example A bundle without defineBundle (annotate ctx yourself)
 * ```ts
 * import type { BundleContext, BundleDefinition } from "@bundlehost/sdk/bundle";
 *
 * export default {
 *   services: {
 *     Echo: { echo: (input: unknown, ctx: BundleContext) => ({ input, by: ctx.bundle.id }) },
 *   },
 *   fetch: (request: Request) => new Response(request.url),
 * } satisfies BundleDefinition;
 * ```
 */
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

/**
 * OSGi lifecycle states of a bundle revision (docs/architecture.md, "Broker semantics").
 *
 * @example Wait for ACTIVE
 * ```ts
 * import type { LifecycleState } from "@bundlehost/sdk/bundle";
 *
 * const serving = (state: LifecycleState): boolean => state === "ACTIVE";
 * ```
 */
export type LifecycleState =
  | "INSTALLED"
  | "RESOLVED"
  | "STARTING"
  | "ACTIVE"
  | "STOPPING"
  | "UNINSTALLED";

/**
 * Isolation tier: a Web Worker in the engine, or a separate child process.
 *
 * @example Pick a tier
 * ```ts
 * import type { IsolationTier } from "@bundlehost/sdk/bundle";
 *
 * const tier: IsolationTier = Deno.env.get("TIER") === "worker" ? "worker" : "process";
 * ```
 */
export type IsolationTier = "worker" | "process";

// Storage: `ctx.kv` and `ctx.cache` (README, "Storage").

/**
 * One part of a {@linkcode KvKey}, as in `Deno.KvKeyPart`.
 *
 * @example A part per level of a key
 * ```ts
 * import type { KvKeyPart } from "@bundlehost/sdk/bundle";
 *
 * const parts: KvKeyPart[] = ["orders", 2024, 7n, true, new Uint8Array([1])];
 * ```
 */
export type KvKeyPart = string | number | bigint | boolean | Uint8Array;

/**
 * A key: 1 to 16 parts, at most 2048 bytes encoded (a list prefix may be empty).
 *
 * @example The key of one order of a user
 * ```ts
 * import type { KvKey } from "@bundlehost/sdk/bundle";
 *
 * const key: KvKey = ["users", "ada", "orders", 42];
 * ```
 */
export type KvKey = readonly KvKeyPart[];

/**
 * One entry read from `ctx.kv`; `value` and `versionstamp` are `null` when the key is absent.
 *
 * @typeParam T The value's type.
 *
 * @example Read a counter, defaulting to 0
 * ```ts
 * import type { KvEntryMaybe } from "@bundlehost/sdk/bundle";
 *
 * const count = (entry: KvEntryMaybe<number>): number => entry.value ?? 0;
 * console.log(count({ key: ["hits"], value: null, versionstamp: null })); // 0
 * ```
 */
export interface KvEntryMaybe<T = unknown> {
  /** The key read. */
  key: KvKey;
  /** The value, or `null` when absent. */
  value: T | null;
  /** The version of the entry (changes on every write), or `null` when absent. */
  versionstamp: string | null;
}

/**
 * Options of `ctx.kv.set`.
 *
 * @example Keep a session for an hour, and write only if nobody changed it
 * ```ts
 * import type { KvSetOptions } from "@bundlehost/sdk/bundle";
 *
 * const options: KvSetOptions = { expireIn: 3_600_000, versionstamp: "00000000000000010000" };
 * ```
 */
export interface KvSetOptions {
  /** Delete the entry after this many ms (Deno KV's `expireIn`: removed some time after). */
  expireIn?: number;
  /**
   * Check-and-set: write only when the entry's current versionstamp is this one (`null`: only
   * when the key is absent). A failed check resolves `{ ok: false }` and writes nothing.
   */
  versionstamp?: string | null;
}

/**
 * The result of `ctx.kv.set`.
 *
 * @example Retry a check-and-set that lost a race
 * ```ts
 * import type { KvSetResult } from "@bundlehost/sdk/bundle";
 *
 * const retry = (result: KvSetResult): boolean => !result.ok;
 * console.log(retry({ ok: false })); // true
 * ```
 */
export type KvSetResult = { ok: true; versionstamp: string } | { ok: false };

/**
 * Options of `ctx.kv.list`.
 *
 * @example The next page of 50
 * ```ts
 * import type { KvListOptions } from "@bundlehost/sdk/bundle";
 *
 * const page = (cursor?: string): KvListOptions => cursor ? { limit: 50, cursor } : { limit: 50 };
 * ```
 */
export interface KvListOptions {
  /** Most entries to return, 1 to 1000. @default {100} */
  limit?: number;
  /** Where the previous page ended (its `cursor`). */
  cursor?: string;
}

/**
 * One page of `ctx.kv.list`.
 *
 * @typeParam T The values' type.
 *
 * @example Collect every key of a page
 * ```ts
 * import type { KvListPage } from "@bundlehost/sdk/bundle";
 *
 * const keys = (page: KvListPage): string[] => page.entries.map((e) => e.key.join("/"));
 * ```
 */
export interface KvListPage<T = unknown> {
  /** The entries, in key order. */
  entries: { key: KvKey; value: T; versionstamp: string }[];
  /** Pass it as `cursor` to read the next page; absent on the last page. */
  cursor?: string;
}

/**
 * `ctx.kv`: the bundle's own Deno KV namespace, kept in its data folder by the engine. Values are
 * anything structured clone can copy, at most 60 KiB serialized. The operator sets a quota of bytes
 * and keys per bundle: a write past it fails with a `STORE_FULL` error and writes nothing.
 *
 * @example Count visits per page
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   async fetch(request, ctx) {
 *     const key = ["visits", new URL(request.url).pathname];
 *     const seen = await ctx.kv.get<number>(key);
 *     await ctx.kv.set(key, (seen.value ?? 0) + 1);
 *     return Response.json({ visits: (seen.value ?? 0) + 1 });
 *   },
 * });
 * ```
 */
export interface BundleKv {
  /**
   * Reads one entry.
   *
   * @param key The key.
   * @returns The entry; `value` is `null` when the key is absent.
   */
  get<T = unknown>(key: KvKey): Promise<KvEntryMaybe<T>>;
  /**
   * Writes one entry.
   *
   * @param key The key.
   * @param value Anything structured clone can copy, at most 60 KiB serialized.
   * @param options `expireIn`, and `versionstamp` for a check-and-set.
   * @returns `{ ok: true, versionstamp }`, or `{ ok: false }` when a check failed.
   * @throws {RangeError} When the value is too large.
   */
  set(key: KvKey, value: unknown, options?: KvSetOptions): Promise<KvSetResult>;
  /**
   * Deletes one entry (nothing happens when it is absent).
   *
   * @param key The key.
   */
  delete(key: KvKey): Promise<void>;
  /**
   * Lists entries whose key starts with a prefix, one page at a time.
   *
   * @param selector `{ prefix }`; `[]` lists every entry.
   * @param options `limit` and `cursor`.
   * @returns One page, and the cursor of the next.
   */
  list<T = unknown>(selector: { prefix: KvKey }, options?: KvListOptions): Promise<KvListPage<T>>;
}

/**
 * Options of `ctx.cache.set`.
 *
 * @example A minute
 * ```ts
 * import type { CacheSetOptions } from "@bundlehost/sdk/bundle";
 *
 * const options: CacheSetOptions = { ttlMs: 60_000 };
 * ```
 */
export interface CacheSetOptions {
  /** Forget the entry after this many ms. @default {until evicted} */
  ttlMs?: number;
}

/**
 * `ctx.cache`: a memory cache kept by the engine and shared by every instance of the bundle, with a
 * byte budget per bundle (least recently used entries are evicted first) and a TTL per entry. It
 * is a cache: an entry may be gone at any time (evicted, expired, or the engine restarted).
 *
 * @example Cache an upstream answer for a minute
 * ```ts
 * import { defineBundle } from "@bundlehost/sdk/bundle";
 *
 * export default defineBundle({
 *   services: {
 *     Rates: {
 *       async today(_input: unknown, ctx) {
 *         const cached = await ctx.cache.get<{ eur: number }>("rates");
 *         if (cached !== undefined) return cached;
 *         const rates = { eur: 1.08 };
 *         await ctx.cache.set("rates", rates, { ttlMs: 60_000 });
 *         return rates;
 *       },
 *     },
 *   },
 * });
 * ```
 */
export interface BundleCache {
  /**
   * Reads an entry.
   *
   * @param key 1 to 512 characters.
   * @returns The value, or `undefined` when absent, expired or evicted.
   */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /**
   * Writes an entry (evicting the least recently used ones when the budget is full).
   *
   * @param key 1 to 512 characters.
   * @param value Anything structured clone can copy, at most 1 MiB serialized.
   * @param options `ttlMs`.
   * @throws {RangeError} When the value is too large.
   */
  set(key: string, value: unknown, options?: CacheSetOptions): Promise<void>;
  /**
   * Deletes an entry.
   *
   * @param key The key.
   * @returns Whether it was there.
   */
  delete(key: string): Promise<boolean>;
}
