/**
 * `logs <id> [--follow]`: a bundle's recent log records, or its live stream (server-sent events
 * from `GET /admin/bundles/:id/logs?follow=1`).
 *
 * @module
 */
import { bundlePath, type Command, need } from "./command.ts";
import { CliError, EXIT } from "./context.ts";
import { readEvents } from "./sse.ts";

/** One log record as the engine sends it. */
export interface LogRecord {
  /** When, as epoch ms or an ISO date. */
  time: number | string;
  /** `debug`, `info`, `warn` or `error`. */
  level: string;
  /** The text. */
  message: string;
  /** Bundle id. */
  bundle: string;
  /** Bundle version. */
  version: string;
  /** Instance that logged it. */
  instanceId: string;
  /** Trace id of the call it belongs to, when there was one. */
  traceId?: string;
}

/**
 * One record in one line: time, level, bundle@version, instance, message, trace.
 *
 * @param r The record.
 * @returns The line.
 */
export function formatLog(r: LogRecord): string {
  const date = new Date(r.time);
  const time = Number.isNaN(date.getTime()) ? String(r.time) : date.toISOString();
  const trace = r.traceId ? ` trace=${r.traceId}` : "";
  return `${time} ${
    String(r.level).toUpperCase().padEnd(5)
  } ${r.bundle}@${r.version} [${r.instanceId}] ${r.message}${trace}`;
}

function records(data: unknown): LogRecord[] {
  if (Array.isArray(data)) return data as LogRecord[];
  const inner = data as { records?: unknown; logs?: unknown } | null;
  const list = inner?.records ?? inner?.logs;
  if (Array.isArray(list)) return list as LogRecord[];
  throw new CliError(
    "The engine sent logs in an unexpected shape (no list of records)",
    EXIT.refused,
  );
}

/** The `logs` command. */
export const logs: Command = {
  name: "logs",
  args: "<id>",
  summary: "a bundle's recent log records; --follow streams new ones",
  details:
    "With --follow it prints records as they come until the engine ends the stream (or Ctrl-C).",
  flags: { follow: { type: "boolean", description: "keep printing new records as they come" } },
  async run(input) {
    need(input, 1, "a bundle id");
    const { admin, io, flags } = input;
    const path = `${bundlePath(input.positionals[0]!)}/logs`;
    const json = flags.json === true;
    if (flags.follow !== true) {
      const data = await admin.call("GET", path);
      const list = records(data);
      return {
        data,
        human: list.length === 0 ? "No log records." : list.map(formatLog).join("\n"),
      };
    }
    const response = await admin.open(`${path}?follow=1`);
    let count = 0;
    try {
      for await (const event of readEvents(response.body!)) {
        if (event.event !== "log") continue;
        let record: LogRecord;
        try {
          record = JSON.parse(event.data);
        } catch {
          io.err(`Skipped a log event that is not JSON: ${event.data.slice(0, 80)}`);
          continue;
        }
        count++;
        io.out(json ? JSON.stringify(record) : formatLog(record));
      }
    } catch (error) {
      if (error instanceof RangeError) throw new CliError(error.message, EXIT.refused);
      throw new CliError(`Lost the log stream: ${(error as Error).message}`, EXIT.unreachable);
    }
    if (!json && count === 0) io.err("The log stream ended before any record came");
    return { data: undefined, human: "" };
  },
};
