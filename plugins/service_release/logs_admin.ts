/**
 * `GET /admin/bundles/:id/logs`: a bundle's recent log records as JSON, or with `?follow=1` a
 * server-sent event stream of them, live. The stream is pulled at the client's pace: a client that
 * stops reading stops the pulls, its follower's bounded queue fills and further records are
 * dropped and reported to it (engine/runtime/log_follower.ts), so it never holds memory.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import type { Engine } from "../../engine/engine.ts";
import type { FollowLogsOptions } from "../../engine/runtime/log_buffer.ts";
import type { LogFollower, LogFollowItem, LogLevel } from "../../engine/runtime/log_follower.ts";

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const FLAGS: Record<string, boolean> = { "1": true, true: true, "0": false, false: false };

function flag(c: Context, name: string, fallback: boolean): boolean {
  const value = c.req.query(name);
  if (value === undefined) return fallback;
  const parsed = FLAGS[value];
  if (parsed === undefined) {
    throw new TypeError(`Query parameter "${name}" must be 1, 0, true or false`);
  }
  return parsed;
}

function count(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const parsed = /^[0-9]{1,15}$/.test(value) ? Number(value) : NaN;
  if (!(parsed >= min)) throw new TypeError(`${name} must be an integer of at least ${min}`);
  return parsed;
}

/** The query (and `Last-Event-ID`) of a logs request, checked. */
function logsQuery(c: Context): FollowLogsOptions & { follow: boolean } {
  const options: FollowLogsOptions & { follow: boolean } = {
    follow: flag(c, "follow", false),
    tail: flag(c, "tail", true),
  };
  const limit = count(c.req.query("limit"), 'Query parameter "limit"', 1);
  if (limit !== undefined) options.limit = limit;
  const level = c.req.query("level");
  if (level !== undefined) {
    if (!(LEVELS as string[]).includes(level)) {
      throw new TypeError(`Query parameter "level" must be one of ${LEVELS.join(", ")}`);
    }
    options.level = level as LogLevel;
  }
  const after = count(c.req.query("after"), 'Query parameter "after"', 0) ??
    count(c.req.header("last-event-id")?.trim(), 'Header "Last-Event-ID"', 0);
  if (after !== undefined) options.after = after;
  return options;
}

/**
 * One server-sent event (or comment) for a follower's item.
 *
 * @param item The item.
 * @param follower Its follower (for the total dropped).
 * @returns The event's text.
 */
function sse(item: LogFollowItem, follower: LogFollower): string {
  switch (item.kind) {
    case "record":
      return `id: ${item.stored.record.seq}\nevent: log\ndata: ${item.stored.json}\n\n`;
    case "dropped": {
      const data = { dropped: item.count, reason: item.reason, totalDropped: follower.dropped };
      const why = item.reason === "slow"
        ? "this stream was read too slowly"
        : "they left the buffer before the resume";
      return `: ${item.count} log records dropped: ${why}\nevent: dropped\ndata: ${
        JSON.stringify(data)
      }\n\n`;
    }
    case "heartbeat":
      return ": heartbeat\n\n";
    case "end":
      return `event: end\ndata: ${JSON.stringify({ reason: item.reason })}\n\n`;
  }
}

/**
 * A follower as an event stream, pulled one event at a time at the reader's pace.
 *
 * @param follower The follower.
 * @returns The stream; cancelling it closes the follower.
 */
function eventStream(follower: LogFollower): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // Sent at once, so the client sees the stream open even before the first record.
      controller.enqueue(encoder.encode(": following\n\n"));
    },
    async pull(controller) {
      const item = await follower.next();
      if (item === undefined) return controller.close();
      controller.enqueue(encoder.encode(sse(item, follower)));
      if (item.kind === "end") controller.close();
    },
    cancel() {
      follower.close();
    },
  }, { highWaterMark: 0 });
}

/**
 * Adds `GET /admin/bundles/:id/logs`. Register after the admin API so its token check runs first.
 *
 * @param app The app.
 * @param engine The engine.
 * @param bundleId Reads and checks the `:id` parameter.
 */
export function logsAdminApi(app: Hono, engine: Engine, bundleId: (c: Context) => string): void {
  app.get("/admin/bundles/:id/logs", async (c) => {
    const id = bundleId(c);
    const { follow, ...options } = logsQuery(c);
    if (!follow) {
      return c.json({ records: await engine.logs(id, options) });
    }
    const follower = await engine.followLogs(id, { ...options, signal: c.req.raw.signal });
    return new Response(eventStream(follower), {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        // Proxies that buffer responses (nginx) would hold the events back.
        "x-accel-buffering": "no",
      },
    });
  });
}
