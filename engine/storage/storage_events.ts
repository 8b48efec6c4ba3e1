/**
 * Engine events of bundle storage and outbound HTTP, one per operation, with label values of
 * bounded cardinality (the observability plugin counts them).
 *
 * @module
 */

/**
 * How a storage operation ended.
 *
 * @example Only failures
 * ```ts
 * import type { StorageOutcome } from "@bundlehost/sdk";
 *
 * const failed = (outcome: StorageOutcome): boolean => outcome === "refused" || outcome === "error";
 * ```
 */
export type StorageOutcome = "ok" | "miss" | "refused" | "error";

/**
 * A `ctx.kv` or `ctx.cache` operation ended. Event type: `"storage"`.
 *
 * @example Count refused writes
 * ```ts
 * import { createEngine, type StorageEvent } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * let refused = 0;
 * engine.events.on("storage", (e: StorageEvent) => {
 *   if (e.outcome === "refused") refused++;
 * });
 * ```
 */
export class StorageEvent extends Event {
  /** Bundle id. */
  readonly bundle: string;
  /** `kv` or `cache`. */
  readonly store: "kv" | "cache";
  /** `get`, `set`, `delete` or `list`. */
  readonly op: string;
  /** `ok`, `miss` (absent key), `refused` (a bound) or `error`. */
  readonly outcome: StorageOutcome;

  /**
   * Creates the event.
   *
   * @param bundle Bundle id.
   * @param store `kv` or `cache`.
   * @param op Operation.
   * @param outcome How it ended.
   */
  constructor(bundle: string, store: "kv" | "cache", op: string, outcome: StorageOutcome) {
    super("storage");
    this.bundle = bundle;
    this.store = store;
    this.op = op;
    this.outcome = outcome;
  }
}

/**
 * A bundle's outbound `fetch` settled. Event type: `"outboundfetch"`.
 *
 * @example Log slow upstreams
 * ```ts
 * import { createEngine, type OutboundFetchEvent } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * engine.events.on("outboundfetch", (e: OutboundFetchEvent) => {
 *   if (e.durationMs > 1_000) console.log(`${e.bundle} -> ${e.host}: ${e.durationMs} ms`);
 * });
 * ```
 */
export class OutboundFetchEvent extends Event {
  /** Bundle id. */
  readonly bundle: string;
  /** The host as a label: a host of the bundle's `net` grants, or `other`. */
  readonly host: string;
  /** `1xx` to `5xx`, `timeout` or `error`. */
  readonly status: string;
  /** Time to the response's headers (or the failure), ms, as the sandbox measured it. */
  readonly durationMs: number;

  /**
   * Creates the event.
   *
   * @param bundle Bundle id.
   * @param host Host label.
   * @param status Status class or failure.
   * @param durationMs Duration, ms.
   */
  constructor(bundle: string, host: string, status: string, durationMs: number) {
    super("outboundfetch");
    this.bundle = bundle;
    this.host = host;
    this.status = status;
    this.durationMs = durationMs;
  }
}
