/**
 * Structured log records from bundle console output and engine events, printed one per line in a
 * human-readable format (default) or as JSON.
 *
 * Export: with `OTEL_DENO=true`, Deno exports every `console.*` call as an OTLP log record, with
 * the severity of the method and the trace and span ids of the active context. Each record is
 * therefore printed inside the context of the call that produced it (or the root context, never
 * whatever request the engine happens to run in), so the exported record carries the trace id.
 *
 * @module
 */
import { context, ROOT_CONTEXT } from "@opentelemetry/api";
import type {
  BreakerEvent,
  InstanceExitEvent,
  InstanceStartEvent,
  LifecycleEvent,
  LogEvent,
} from "../../engine/core/lifecycle.ts";
import { isTraceparent } from "../../engine/base/trace_context.ts";
import { contextFromTraceparent } from "./tracing.ts";

/**
 * Log levels, lowest first.
 *
 * @example Print warnings and errors only
 * ```ts
 * import { observability, type LogLevel } from "@bundlehost/sdk/observability";
 *
 * const logLevel: LogLevel = "warn";
 * const plugin = observability({ logLevel });
 * ```
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
/**
 * Console formats.
 *
 * @example One JSON object per line
 * ```ts
 * import { type LogFormat, observability } from "@bundlehost/sdk/observability";
 *
 * const logFormat: LogFormat = "json";
 * const plugin = observability({ logFormat });
 * ```
 */
export type LogFormat = "human" | "json";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** One log record. */
export interface LogRecord {
  /** When it happened. */
  time: Date;
  /** Level. */
  level: LogLevel;
  /** Text. */
  message: string;
  /** Bundle id; none for engine records. */
  bundle?: string;
  /** Bundle version. */
  version?: string;
  /** Instance id. */
  instance?: string;
  /** W3C trace context of the call that produced it. */
  traceparent?: string;
  /** Engine event type, for records made from engine events (e.g. `"statechange"`). */
  event?: string;
}

function traceIds(record: LogRecord): { traceId: string; spanId: string } | undefined {
  if (!isTraceparent(record.traceparent)) return undefined;
  const [, traceId, spanId] = record.traceparent.split("-") as [string, string, string];
  return { traceId, spanId };
}

function source(record: LogRecord): string {
  if (record.bundle === undefined) return "engine";
  return record.version === undefined ? record.bundle : `${record.bundle}@${record.version}`;
}

/**
 * Formats a record as one human-readable line.
 *
 * @param record The record.
 * @returns E.g. `2026-01-02T03:04:05.678Z INFO  [hello@1.0.0] hi (trace 4bf9…)`.
 */
export function formatHuman(record: LogRecord): string {
  const ids = traceIds(record);
  const trace = ids ? ` (trace ${ids.traceId})` : "";
  return `${record.time.toISOString()} ${record.level.toUpperCase().padEnd(5)} [${
    source(record)
  }] ${record.message}${trace}`;
}

/**
 * Formats a record as one JSON line.
 *
 * @param record The record.
 * @returns JSON with `time`, `level`, `source`, `message`, and `bundle`, `version`, `instance`,
 * `event`, `traceId`, `spanId` when known.
 */
export function formatJson(record: LogRecord): string {
  const out: Record<string, string> = {
    time: record.time.toISOString(),
    level: record.level,
    source: source(record),
    message: record.message,
  };
  if (record.bundle !== undefined) out.bundle = record.bundle;
  if (record.version !== undefined) out.version = record.version;
  if (record.instance !== undefined) out.instance = record.instance;
  if (record.event !== undefined) out.event = record.event;
  const ids = traceIds(record);
  if (ids) Object.assign(out, ids);
  return JSON.stringify(out);
}

/** Options for {@linkcode LogSink}. */
export interface LogSinkOptions {
  /** Line format. @default {"human"} */
  format?: LogFormat;
  /** Lowest level printed. @default {"debug"} */
  level?: LogLevel;
  /** Print each record under its trace context (needed only when OpenTelemetry exports logs). */
  traced?: boolean;
}

/** Prints log records to the console. */
export class LogSink {
  readonly #format: (record: LogRecord) => string;
  readonly #min: number;
  readonly #traced: boolean;

  /**
   * Creates the sink.
   *
   * @param options Format, level and tracing.
   */
  constructor(options: LogSinkOptions = {}) {
    this.#format = options.format === "json" ? formatJson : formatHuman;
    this.#min = RANK[options.level ?? "debug"];
    this.#traced = options.traced ?? false;
  }

  /**
   * Prints a record (warn and error to stderr), if its level is high enough.
   *
   * @param record The record.
   */
  write(record: LogRecord): void {
    if (RANK[record.level] < this.#min) return;
    const line = this.#format(record);
    const print = () => {
      // The console method sets the exported record's severity.
      if (record.level === "error") console.error(line);
      else if (record.level === "warn") console.warn(line);
      else if (record.level === "debug") console.debug(line);
      else console.info(line);
    };
    if (!this.#traced) return print();
    context.with(
      record.traceparent === undefined ? ROOT_CONTEXT : contextFromTraceparent(record.traceparent),
      print,
    );
  }
}

/**
 * The record of a bundle or engine log event.
 *
 * @param event The event.
 * @returns The record.
 */
export function fromLogEvent(event: LogEvent): LogRecord {
  const record: LogRecord = { time: new Date(), level: event.level, message: event.message };
  if (event.bundle !== undefined) record.bundle = event.bundle;
  if (event.version !== undefined) record.version = event.version;
  if (event.instanceId !== undefined) record.instance = event.instanceId;
  if (event.traceparent !== undefined) record.traceparent = event.traceparent;
  return record;
}

/**
 * The record of a lifecycle change.
 *
 * @param event The event.
 * @returns The record (warn when a failure caused the change).
 */
export function fromStateChange(event: LifecycleEvent): LogRecord {
  return {
    time: new Date(),
    level: event.error ? "warn" : "info",
    message: `${event.from} → ${event.to}${event.error ? `: ${event.error}` : ""}`,
    bundle: event.bundle,
    version: event.version,
    event: "statechange",
  };
}

/**
 * The record of an instance exit.
 *
 * @param event The event.
 * @returns The record (warn for an unexpected exit).
 */
export function fromInstanceExit(event: InstanceExitEvent): LogRecord {
  return {
    time: new Date(),
    level: event.expected ? "debug" : "warn",
    message: `Instance ${event.instanceId} ended: ${event.reason}`,
    bundle: event.bundle,
    version: event.version,
    instance: event.instanceId,
    event: "instanceexit",
  };
}

/**
 * The record of an instance start.
 *
 * @param event The event.
 * @returns The record.
 */
export function fromInstanceStart(event: InstanceStartEvent): LogRecord {
  return {
    time: new Date(),
    level: "debug",
    message: `Instance ${event.instanceId} ready (${event.kind} start, ${
      Math.round(event.durationMs)
    } ms)`,
    bundle: event.bundle,
    version: event.version,
    instance: event.instanceId,
    event: "instancestart",
  };
}

/**
 * The record of a circuit breaker change.
 *
 * @param event The event.
 * @returns The record (warn when the breaker opens).
 */
export function fromBreakerChange(event: BreakerEvent): LogRecord {
  return {
    time: new Date(),
    level: event.to.includes("OPEN") && !event.to.includes("HALF") ? "warn" : "info",
    message: `Circuit breaker ${event.from} → ${event.to}`,
    bundle: event.bundle,
    event: "breakerchange",
  };
}
