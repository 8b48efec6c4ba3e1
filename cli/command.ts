/**
 * The shape of one CLI command: its name, arguments, flags and help, and what running it returns.
 * Each command lives in its own file and is listed in `commands.ts`.
 *
 * @module
 */
import type { AdminClient } from "./client.ts";
import { CliError, type CliIo, EXIT, type ExitCode } from "./context.ts";

/** A flag a command accepts. */
export interface Flag {
  /** `string` takes a value (`--steps 10,50`); `boolean` does not (`--yes`, `--no-activate`). */
  type: "string" | "boolean";
  /** One line for `--help`. */
  description: string;
  /** How the value is shown in `--help`, e.g. `<ms>`. */
  value?: string;
}

/** Parsed flag values by name. */
export type FlagValues = Record<string, string | boolean | undefined>;

/** What a command gets to run. */
export interface CommandInput {
  /** Arguments after the command name. */
  positionals: string[];
  /** The command's flags and the global ones. */
  flags: FlagValues;
  /** The admin API. */
  admin: AdminClient;
  /** The terminal. */
  io: CliIo;
}

/** What a command produced: printed as `human`, or as JSON with `--json`. */
export interface CommandOutput {
  /** The machine-readable result. */
  data: unknown;
  /** The same for people; nothing is printed when empty. */
  human: string;
  /** Exit code when not 0 (e.g. a watched canary that rolled back). */
  exitCode?: ExitCode;
}

/** One command of the CLI. */
export interface Command {
  /** The word after `deno task cli`. */
  name: string;
  /** Argument synopsis, e.g. `<id> <version>`. */
  args: string;
  /** One line for the command list. */
  summary: string;
  /** More lines for `<command> --help`. */
  details?: string;
  /** Flags of this command (the global ones come on top). */
  flags?: Record<string, Flag>;
  /** Runs the command. */
  run(input: CommandInput): Promise<CommandOutput>;
}

/**
 * Refuses a call with fewer arguments than the command needs.
 *
 * @param input The command input.
 * @param n Number of arguments needed.
 * @param what What they are, for the message.
 * @throws {CliError} exit 2.
 */
export function need(input: CommandInput, n: number, what: string): void {
  if (input.positionals.length < n) throw new CliError(`Missing ${what}`, EXIT.usage);
}

/**
 * A bundle id for a URL path.
 *
 * @param id The id as typed.
 * @returns The path segment `/admin/bundles/<id>`.
 */
export function bundlePath(id: string): string {
  return `/admin/bundles/${encodeURIComponent(id)}`;
}
