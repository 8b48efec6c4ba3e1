/**
 * The bundle's logger: `ctx.log` and the console both become log messages to the engine, tagged
 * with the call they were written in and its trace, cut to the protocol's longest message.
 *
 * @module
 */
import { type GuestMessage, type LogLevel, MAX_LOG_MESSAGE } from "../wire/protocol.ts";
import type { BundleLogger } from "../../sdk/types.ts";
import type { TraceContext } from "../../base/trace_context.ts";

/** What a log record is tagged with, read when it is written. */
export interface LogSources {
  /** Sends a message to the engine (may throw; a log record never fails its caller). */
  post(message: GuestMessage): void;
  /** The id of the call running now, if any. */
  callId(): number | undefined;
  /** The trace context the bundle runs in now, if any. */
  trace(): TraceContext | undefined;
}

function formatArgs(args: unknown[]): string {
  const text = args.map((a) => (typeof a === "string" ? a : Deno.inspect(a, { depth: 4 }))).join(
    " ",
  );
  return text.length > MAX_LOG_MESSAGE ? text.slice(0, MAX_LOG_MESSAGE) : text;
}

/**
 * Makes the bundle's logger and points the console's methods at it.
 *
 * @param sources Where records go and what they are tagged with.
 * @returns The logger (`ctx.log`).
 */
export function installLogger(sources: LogSources): BundleLogger {
  function log(level: LogLevel, args: unknown[]): void {
    const callId = sources.callId();
    const message: GuestMessage = { type: "log", level, message: formatArgs(args) };
    if (callId !== undefined) message.callId = callId;
    const current = sources.trace();
    if (current !== undefined) message.traceparent = current.traceparent;
    try {
      sources.post(message);
    } catch {
      // A log record never fails the caller.
    }
  }
  const logger: BundleLogger = {
    debug: (...args) => log("debug", args),
    info: (...args) => log("info", args),
    warn: (...args) => log("warn", args),
    error: (...args) => log("error", args),
  };
  console.debug = logger.debug;
  console.info = logger.info;
  console.log = logger.info;
  console.warn = logger.warn;
  console.error = logger.error;
  return logger;
}
