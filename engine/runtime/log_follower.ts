/**
 * One follower of a bundle's logs (`GET /admin/bundles/:id/logs?follow=1`): a bounded queue between
 * the engine, which pushes every new record at once, and a reader that takes them at the pace of its
 * connection. A reader that falls behind loses records rather than growing the queue: they are
 * counted, and the reader is told where the gap is. An idle reader gets a heartbeat on the engine's
 * clock, so proxies keep the connection.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../base/clock.ts";

/**
 * Severity of a log record, lowest first.
 *
 * @example Only warnings and errors
 * ```ts
 * import type { LogLevel } from "@bundlehost/sdk";
 *
 * const level: LogLevel = "warn";
 * ```
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Rank of each level, for `level` filters. */
export const LOG_LEVEL_RANK: Readonly<Record<LogLevel, number>> = {
  debug: 0,
  info: 1,
  warn: 2,
  error: 3,
};

/**
 * A bundle's log record, as the logs API answers it.
 *
 * @example The record of a traced call
 * ```ts
 * import type { BundleLogRecord } from "@bundlehost/sdk";
 *
 * const record: BundleLogRecord = {
 *   seq: 7,
 *   time: "2026-01-01T00:00:00.000Z",
 *   level: "info",
 *   message: "hello Ada",
 *   bundle: "hello",
 *   version: "1.0.0",
 *   instanceId: "4f1c…",
 *   traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
 * };
 * ```
 */
export interface BundleLogRecord {
  /** Position in the bundle's log, from 1; the SSE event id. */
  seq: number;
  /** When the engine received it, ISO 8601. */
  time: string;
  /** Severity. */
  level: LogLevel;
  /** Text. */
  message: string;
  /** Bundle id. */
  bundle: string;
  /** Version that logged it. */
  version: string;
  /** Instance that logged it. */
  instanceId: string;
  /** Trace id of the call that logged it, if the call was traced. */
  traceId?: string;
}

/**
 * A stored record with its JSON text, made once and shared by every reader.
 *
 * @example Write a record as a server-sent event
 * ```ts
 * import type { StoredLogRecord } from "@bundlehost/sdk";
 *
 * function event(stored: StoredLogRecord): string {
 *   return `id: ${stored.record.seq}\nevent: log\ndata: ${stored.json}\n\n`;
 * }
 * ```
 */
export interface StoredLogRecord {
  /** The record. */
  record: BundleLogRecord;
  /** `JSON.stringify(record)`. */
  json: string;
}

/**
 * What a follower reads next: a record, a gap (records it lost because it read too slowly, or that
 * left the buffer before a resume), a heartbeat after a quiet period, or the end (engine stopping,
 * bundle deleted).
 *
 * @example Describe each item
 * ```ts
 * import type { LogFollowItem } from "@bundlehost/sdk";
 *
 * function describe(item: LogFollowItem): string {
 *   if (item.kind === "record") return item.stored.record.message;
 *   if (item.kind === "dropped") return `${item.count} records lost (${item.reason})`;
 *   return item.kind === "end" ? `ended: ${item.reason}` : "still there";
 * }
 * ```
 */
export type LogFollowItem =
  | { kind: "record"; stored: StoredLogRecord }
  | { kind: "dropped"; count: number; reason: "slow" | "evicted" }
  | { kind: "heartbeat" }
  | { kind: "end"; reason: string };

/** Settings of one {@linkcode LogFollower}. */
export interface LogFollowerInit {
  /** Lowest level passed on. */
  level: LogLevel;
  /** Records held for a slow reader before new ones are dropped. */
  queue: number;
  /** Quiet time before a heartbeat, ms. */
  heartbeatMs: number;
  /** The engine's clock. */
  clock: Clock;
  /** Called once when the follower closes (the buffer forgets it). */
  onClose: () => void;
}

/**
 * A live follower of one bundle's logs; read it with {@linkcode LogFollower.next} (or `for await`)
 * and close it when done. Created by `engine.followLogs`.
 *
 * @example Print new records until the engine stops
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * await engine.release({ path: "./bundles/hello" });
 * const follower = await engine.followLogs("hello", { tail: false, signal: AbortSignal.timeout(1_000) });
 * for await (const item of follower) {
 *   if (item.kind === "record") console.log(item.stored.record.message);
 * }
 * ```
 */
export class LogFollower implements AsyncIterable<LogFollowItem> {
  readonly #init: LogFollowerInit;
  readonly #min: number;
  readonly #items: LogFollowItem[] = [];
  #records = 0;
  #dropped = 0;
  #end: string | undefined;
  #closed = false;
  #waiter: ((item: LogFollowItem | undefined) => void) | undefined;
  #timer: TimerHandle;

  /**
   * Creates a follower; the buffer does this (see `engine.followLogs`).
   *
   * @param init Level, queue bound, heartbeat and clock.
   */
  constructor(init: LogFollowerInit) {
    this.#init = init;
    this.#min = LOG_LEVEL_RANK[init.level];
  }

  /** Records lost so far because this follower read too slowly. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Whether the follower has ended (it may still hold records to read). */
  get ended(): boolean {
    return this.#end !== undefined || this.#closed;
  }

  /**
   * Queues an item for the reader without a level check or bound (the buffer's replay of recent
   * records, already limited).
   *
   * @param item The item.
   */
  replay(item: LogFollowItem): void {
    if (item.kind === "record") this.#records++;
    this.#deliver(item);
  }

  /**
   * Passes a new record on: at once to a waiting reader, else into the queue, else (queue full)
   * counted as dropped.
   *
   * @param stored The record.
   */
  push(stored: StoredLogRecord): void {
    if (this.ended || LOG_LEVEL_RANK[stored.record.level] < this.#min) return;
    if (this.#waiter || this.#records < this.#init.queue) {
      this.#records++;
      this.#deliver({ kind: "record", stored });
      return;
    }
    this.#dropped++;
    // The gap sits after every queued record; consecutive drops share one notice.
    const last = this.#items.at(-1);
    if (last?.kind === "dropped" && last.reason === "slow") last.count++;
    else this.#items.push({ kind: "dropped", count: 1, reason: "slow" });
  }

  /**
   * Ends the follower: the reader gets what is queued, then an `end` item naming the reason.
   *
   * @param reason Why, e.g. "the engine is stopping".
   */
  end(reason: string): void {
    if (this.ended) return;
    this.#end = reason;
    this.#deliver({ kind: "end", reason });
  }

  /**
   * The next item, waiting for one (a heartbeat comes after `heartbeatMs` of quiet).
   *
   * @returns The item, or `undefined` once the follower is closed or past its `end`.
   */
  next(): Promise<LogFollowItem | undefined> {
    const item = this.#items.shift();
    if (item) {
      if (item.kind === "record") this.#records--;
      if (item.kind === "end") this.close();
      return Promise.resolve(item);
    }
    if (this.ended) {
      this.close();
      return Promise.resolve(undefined);
    }
    if (this.#waiter) throw new TypeError("A log follower has one reader at a time");
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#timer = this.#init.clock.setTimeout(
        () => this.#deliver({ kind: "heartbeat" }),
        this.#init.heartbeatMs,
      );
    });
  }

  /** Stops following: queued items are discarded and the buffer forgets this follower. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#items.length = 0;
    this.#records = 0;
    this.#init.clock.clearTimeout(this.#timer);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(undefined);
    this.#init.onClose();
  }

  /** Reads until the end; closes the follower when the loop stops early. */
  async *[Symbol.asyncIterator](): AsyncIterator<LogFollowItem> {
    try {
      for (let item = await this.next(); item; item = await this.next()) {
        if (item.kind === "end") return;
        yield item;
      }
    } finally {
      this.close();
    }
  }

  #deliver(item: LogFollowItem): void {
    const waiter = this.#waiter;
    if (!waiter) {
      this.#items.push(item);
      return;
    }
    this.#waiter = undefined;
    this.#init.clock.clearTimeout(this.#timer);
    if (item.kind === "record") this.#records--;
    if (item.kind === "end") this.close();
    waiter(item);
  }
}
