/**
 * Recent log records per bundle, for `GET /admin/bundles/:id/logs`: a ring of at most `records`
 * records and `bytes` bytes of JSON per bundle (the oldest leave first), fed from the engine's
 * `log` events after the per-bundle log budget, and the live followers of each bundle, capped per
 * bundle and in total. A deleted bundle's ring is dropped and its followers ended.
 *
 * @module
 */
import { type Clock, systemClock } from "../base/clock.ts";
import { UnavailableError } from "../base/errors.ts";
import type { LogEvent } from "../core/lifecycle.ts";
import {
  type BundleLogRecord,
  LOG_LEVEL_RANK,
  LogFollower,
  type LogFollowItem,
  type LogLevel,
  type StoredLogRecord,
} from "./log_follower.ts";

/**
 * Bounds of the engine's log buffer (engine option `logs`); every field is optional.
 *
 * @example A smaller buffer, fewer followers
 * ```ts
 * import { createEngine, type LogBufferOptions } from "@bundlehost/sdk";
 *
 * const logs: LogBufferOptions = { records: 200, bytes: 256 * 1024, followers: 8 };
 * await using engine = await createEngine({ logs });
 * ```
 */
export interface LogBufferOptions {
  /** Records kept per bundle. @default {1000} */
  records?: number;
  /** JSON bytes kept per bundle (the newest record is always kept). @default {1048576} */
  bytes?: number;
  /** Followers of all bundles at once. @default {64} */
  followers?: number;
  /** Followers of one bundle at once. @default {8} */
  followersPerBundle?: number;
  /** Records held for one slow follower before new ones are dropped (and counted). @default {256} */
  followerQueue?: number;
  /** Quiet time before a follower gets a heartbeat, ms. @default {15000} */
  heartbeatMs?: number;
}

/** Log buffer bounds with every default applied. */
export type ResolvedLogBufferOptions = Required<LogBufferOptions>;

/**
 * Applies the defaults and checks the bounds.
 *
 * @param options Bounds as given.
 * @returns Bounds with defaults.
 * @throws {RangeError} For a bound that is not a positive integer.
 */
export function resolveLogBufferOptions(options: LogBufferOptions = {}): ResolvedLogBufferOptions {
  const resolved: ResolvedLogBufferOptions = {
    records: options.records ?? 1000,
    bytes: options.bytes ?? 1024 * 1024,
    followers: options.followers ?? 64,
    followersPerBundle: options.followersPerBundle ?? 8,
    followerQueue: options.followerQueue ?? 256,
    heartbeatMs: options.heartbeatMs ?? 15_000,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`Cannot set logs.${name} to ${value}: it must be a positive integer`);
    }
  }
  return resolved;
}

/**
 * What to read from a bundle's recent records.
 *
 * @example The five newest errors
 * ```ts
 * import { createEngine, type RecentLogsOptions } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * await engine.release({ path: "./bundles/hello" });
 * const options: RecentLogsOptions = { limit: 5, level: "error" };
 * console.log(await engine.logs("hello", options));
 * ```
 */
export interface RecentLogsOptions {
  /** Newest records to return, at most the buffer's size. @default {100} */
  limit?: number;
  /** Lowest level. @default {"debug"} */
  level?: LogLevel;
  /** Only records after this sequence number (a resume). */
  after?: number;
}

/**
 * How to follow a bundle's logs.
 *
 * @example Resume after the last record seen, warnings and errors only
 * ```ts
 * import { createEngine, type FollowLogsOptions } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * await engine.release({ path: "./bundles/hello" });
 * const options: FollowLogsOptions = { after: 41, level: "warn", signal: AbortSignal.timeout(500) };
 * for await (const item of await engine.followLogs("hello", options)) console.log(item.kind);
 * ```
 */
export interface FollowLogsOptions extends RecentLogsOptions {
  /** Replay recent records first (up to `limit`, or those after `after`). @default {true} */
  tail?: boolean;
  /** Ends the follower when aborted. */
  signal?: AbortSignal;
}

interface Ring {
  items: StoredLogRecord[];
  bytes: number;
  seq: number;
  followers: Set<LogFollower>;
}

/** The records (and followers) of every bundle's recent logs. */
export class LogBuffer {
  readonly #options: ResolvedLogBufferOptions;
  readonly #clock: Clock;
  readonly #rings = new Map<string, Ring>();
  #followers = 0;

  /**
   * Creates an empty buffer.
   *
   * @param options Bounds (defaults applied).
   * @param clock The engine's clock (record times, heartbeats).
   */
  constructor(options: LogBufferOptions = {}, clock: Clock = systemClock) {
    this.#options = resolveLogBufferOptions(options);
    this.#clock = clock;
  }

  /** Records kept per bundle (the largest `limit`). */
  get records(): number {
    return this.#options.records;
  }

  /** Followers open now, of every bundle. */
  get followers(): number {
    return this.#followers;
  }

  /**
   * Stores a bundle's log event and passes it to the bundle's followers; engine records (no
   * bundle) are not kept.
   *
   * @param event The event.
   */
  append(event: LogEvent): void {
    const { bundle, version, instanceId } = event;
    if (bundle === undefined) return;
    const ring = this.#ring(bundle);
    const record: BundleLogRecord = {
      seq: ++ring.seq,
      time: new Date(this.#clock.now()).toISOString(),
      level: event.level,
      message: event.message,
      bundle,
      version: version ?? "",
      instanceId: instanceId ?? "",
    };
    const traceId = event.traceparent?.split("-")[1];
    if (traceId) record.traceId = traceId;
    const stored = { record, json: JSON.stringify(record) };
    ring.items.push(stored);
    ring.bytes += stored.json.length;
    while (
      ring.items.length > 1 &&
      (ring.items.length > this.#options.records || ring.bytes > this.#options.bytes)
    ) {
      ring.bytes -= ring.items.shift()!.json.length;
    }
    for (const follower of ring.followers) follower.push(stored);
  }

  /**
   * A bundle's recent records, oldest first.
   *
   * @param id Bundle id.
   * @param options Limit, level and resume point.
   * @returns The records (none for a bundle that has not logged).
   * @throws {RangeError} For a limit beyond the buffer's size.
   */
  recent(id: string, options: RecentLogsOptions = {}): StoredLogRecord[] {
    this.#checkLimit(options.limit);
    return this.#select(this.#rings.get(id)?.items ?? [], options);
  }

  /**
   * Follows a bundle's logs: recent records first (unless `tail` is false), then new ones.
   *
   * @param id Bundle id.
   * @param options Replay, level, resume point, cancellation.
   * @returns The follower; close it when done.
   * @throws {RangeError} For a limit beyond the buffer's size.
   * @throws {UnavailableError} When the bundle, or the engine, has its most followers.
   */
  follow(id: string, options: FollowLogsOptions = {}): LogFollower {
    this.#checkLimit(options.limit);
    const o = this.#options;
    if (this.#followers >= o.followers) {
      throw new UnavailableError(
        `Cannot follow the logs of bundle "${id}": the engine has its most log followers (${o.followers}); close one and retry`,
      );
    }
    const ring = this.#ring(id);
    if (ring.followers.size >= o.followersPerBundle) {
      throw new UnavailableError(
        `Cannot follow the logs of bundle "${id}": it has its most log followers (${o.followersPerBundle}); close one and retry`,
      );
    }
    const follower: LogFollower = new LogFollower({
      level: options.level ?? "debug",
      queue: o.followerQueue,
      heartbeatMs: o.heartbeatMs,
      clock: this.#clock,
      onClose: () => {
        if (ring.followers.delete(follower)) this.#followers--;
        options.signal?.removeEventListener("abort", abort);
      },
    });
    const abort = () => follower.close();
    ring.followers.add(follower);
    this.#followers++;
    options.signal?.addEventListener("abort", abort, { once: true });
    for (const item of this.#replay(ring, options)) follower.replay(item);
    if (options.signal?.aborted) follower.close();
    return follower;
  }

  /**
   * Forgets a deleted bundle: its records go, its followers end.
   *
   * @param id Bundle id.
   */
  drop(id: string): void {
    const ring = this.#rings.get(id);
    if (!ring) return;
    this.#rings.delete(id);
    for (const follower of ring.followers) follower.end(`bundle "${id}" was deleted`);
  }

  /**
   * Ends every follower (the engine is stopping); records stay.
   *
   * @param reason Why, told to each follower.
   */
  endFollowers(reason: string): void {
    for (const ring of this.#rings.values()) {
      for (const follower of ring.followers) follower.end(reason);
    }
  }

  #checkLimit(limit: number | undefined): void {
    const max = this.#options.records;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1 || limit > max)) {
      throw new RangeError(`Invalid limit ${limit}: it must be an integer from 1 to ${max}`);
    }
  }

  #ring(id: string): Ring {
    let ring = this.#rings.get(id);
    if (!ring) {
      ring = { items: [], bytes: 0, seq: 0, followers: new Set() };
      this.#rings.set(id, ring);
    }
    return ring;
  }

  /** What a new follower reads first: recent records, after a gap notice for a resume too late. */
  *#replay(ring: Ring, options: FollowLogsOptions): Iterable<LogFollowItem> {
    let after = options.after;
    // An id from an earlier engine run (or an earlier bundle of the same name) is past the end.
    if (after !== undefined && after > ring.seq) after = undefined;
    if (after === undefined && options.tail === false) return;
    const oldest = ring.items[0]?.record.seq ?? ring.seq + 1;
    if (after !== undefined && oldest - after > 1) {
      yield { kind: "dropped", count: oldest - after - 1, reason: "evicted" };
    }
    const recent = this.#select(
      ring.items,
      after === undefined ? options : { ...options, limit: this.#options.records, after },
    );
    for (const stored of recent) yield { kind: "record", stored };
  }

  #select(items: StoredLogRecord[], options: RecentLogsOptions): StoredLogRecord[] {
    const min = LOG_LEVEL_RANK[options.level ?? "debug"];
    const after = options.after ?? 0;
    const limit = options.limit ?? Math.min(100, this.#options.records);
    const out: StoredLogRecord[] = [];
    for (let i = items.length - 1; i >= 0 && out.length < limit; i--) {
      const stored = items[i]!;
      if (stored.record.seq <= after) break;
      if (LOG_LEVEL_RANK[stored.record.level] >= min) out.push(stored);
    }
    return out.reverse();
  }
}
