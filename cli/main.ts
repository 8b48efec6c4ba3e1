/**
 * The CLI's dispatcher: finds the command, parses its flags, runs it, prints the result, and turns
 * every expected failure into a message and an exit code.
 *
 * @module
 */
import { findCommand, parseCommandArgs } from "./args.ts";
import { adminClient } from "./client.ts";
import { COMMANDS } from "./commands.ts";
import { CliError, type CliIo, EXIT, systemIo } from "./context.ts";
import { commandHelp, usage } from "./help.ts";
import { didYouMean } from "./suggest.ts";

function report(io: CliIo, json: boolean, error: CliError, command?: string): number {
  if (json) io.out(JSON.stringify({ error: error.message, exitCode: error.exitCode }));
  else {
    io.err(error.message);
    if (error.exitCode === EXIT.usage) {
      io.err(`Run "deno task cli ${command ? `${command} ` : ""}--help" for usage.`);
    }
  }
  return error.exitCode;
}

/**
 * Runs the CLI.
 *
 * @param args Command-line arguments.
 * @param io The terminal (tests pass their own).
 * @returns The exit code.
 */
export async function main(args: string[], io: CliIo = systemIo): Promise<number> {
  const json = args.includes("--json");
  const found = findCommand(args, COMMANDS);
  const wantsHelp = args.includes("--help") || args.includes("-h");
  if (found === undefined) {
    if (wantsHelp) {
      io.out(usage(COMMANDS));
      return EXIT.ok;
    }
    io.err(usage(COMMANDS));
    return EXIT.usage;
  }
  const rest = [...args.slice(0, found.index), ...args.slice(found.index + 1)];
  if (found.word === "help") {
    const topic = rest.find((a) => !a.startsWith("-"));
    const command = COMMANDS.find((c) => c.name === topic);
    if (topic !== undefined && command === undefined) {
      return report(
        io,
        json,
        new CliError(`Unknown command "${topic}".${didYouMean(topic, names())}`, EXIT.usage),
      );
    }
    io.out(command ? commandHelp(command) : usage(COMMANDS));
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === found.word);
  if (command === undefined) {
    return report(
      io,
      json,
      new CliError(
        `Unknown command "${found.word}".${didYouMean(found.word, names())}`,
        EXIT.usage,
      ),
    );
  }
  try {
    const { flags, positionals } = parseCommandArgs(command, rest);
    if (flags.help === true) {
      io.out(commandHelp(command));
      return EXIT.ok;
    }
    const admin = adminClient({
      ...(typeof flags.url === "string" ? { url: flags.url } : {}),
      ...(typeof flags.token === "string" ? { token: flags.token } : {}),
    });
    const result = await command.run({ positionals, flags, admin, io });
    if (json) {
      if (result.data !== undefined) io.out(JSON.stringify(result.data, null, 2));
    } else if (result.human !== "") io.out(result.human);
    return result.exitCode ?? EXIT.ok;
  } catch (error) {
    if (error instanceof CliError) return report(io, json, error, command.name);
    throw error;
  }
}

function names(): string[] {
  return [...COMMANDS.map((c) => c.name), "help"];
}
