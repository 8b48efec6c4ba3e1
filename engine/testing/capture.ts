/**
 * What {@linkcode testBundle} records from the engine's events: the log records bundles wrote and
 * the events they published, in order.
 *
 * @module
 */
import type { LogEvent } from "../core/lifecycle.ts";
import type { Engine } from "../engine.ts";
import type { PublishEvent } from "../events/types.ts";

/**
 * A log record a bundle wrote (`console.*` or `ctx.log`).
 *
 * @example Only the warnings
 * ```ts
 * import type { CapturedLog } from "@bundlehost/sdk/testing";
 *
 * const warnings = (logs: readonly CapturedLog[]) => logs.filter((r) => r.level === "warn");
 * ```
 */
export interface CapturedLog {
  /** Level (`console.log` is `info`). */
  level: "debug" | "info" | "warn" | "error";
  /** The text, formatted as `console.log` would. */
  message: string;
  /** Id of the bundle that wrote it. */
  bundle: string;
  /** Its version. */
  version: string;
  /** Trace context of the call it was written in, if any. */
  traceparent?: string;
}

/**
 * An event a bundle published with `ctx.events.publish`.
 *
 * @example The topics published
 * ```ts
 * import type { PublishedEvent } from "@bundlehost/sdk/testing";
 *
 * const topics = (published: readonly PublishedEvent[]) => published.map((e) => e.topic);
 * ```
 */
export interface PublishedEvent {
  /** Topic. */
  topic: string;
  /** Payload (a JSON copy, as stored). */
  payload: unknown;
  /** Event id. */
  id: string;
  /** `id@version` of the bundle that published it. */
  bundle: string;
  /** Deliveries it fanned out to. */
  deliveries: number;
}

/** Records bundle logs and bundle publishes until `stop()`. */
export interface Capture {
  /** Log records of every bundle, in order. */
  logs: CapturedLog[];
  /** Events bundles published, in order. */
  published: PublishedEvent[];
  /** Stops recording. */
  stop(): void;
}

/**
 * Starts recording an engine's bundle log records and bundle publishes.
 *
 * @param engine The engine.
 * @returns The records, filled as they happen.
 */
export function capture(engine: Engine): Capture {
  const logs: CapturedLog[] = [];
  const published: PublishedEvent[] = [];
  const onLog = (e: LogEvent) => {
    if (e.bundle === undefined) return; // the engine's own records
    const record: CapturedLog = {
      level: e.level,
      message: e.message,
      bundle: e.bundle,
      version: e.version ?? "",
    };
    if (e.traceparent !== undefined) record.traceparent = e.traceparent;
    logs.push(record);
  };
  const onPublish = (e: PublishEvent) => {
    if (!e.source.startsWith("bundle:")) return;
    const { topic, payload, id, deliveries } = e;
    published.push({ topic, payload, id, bundle: e.source.slice("bundle:".length), deliveries });
  };
  engine.events.on("log", onLog);
  engine.events.on("publish", onPublish);
  return {
    logs,
    published,
    stop() {
      engine.events.off("log", onLog);
      engine.events.off("publish", onPublish);
    },
  };
}
