/**
 * Command-line parsing: finds the command, refuses flags it does not take (naming the flag, with
 * a suggestion), and parses the rest.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Command, Flag, FlagValues } from "./command.ts";
import { CliError, EXIT } from "./context.ts";
import { GLOBAL_FLAGS } from "./help.ts";
import { didYouMean } from "./suggest.ts";

/**
 * The command word: the first argument that is neither a flag nor a flag's value.
 *
 * @param args The arguments.
 * @param commands The commands (their string flags take a value).
 * @returns The word and its index, or `undefined`.
 */
export function findCommand(
  args: readonly string[],
  commands: readonly Command[],
): { word: string; index: number } | undefined {
  const valued = new Set(
    [GLOBAL_FLAGS, ...commands.map((c) => c.flags ?? {})].flatMap((flags) =>
      Object.entries(flags).filter(([, f]) => f.type === "string").map(([name]) => name)
    ),
  );
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return i + 1 < args.length ? { word: args[i + 1]!, index: i + 1 } : undefined;
    if (arg.startsWith("-")) {
      if (arg.startsWith("--") && !arg.includes("=") && valued.has(arg.slice(2))) i++;
      continue;
    }
    return { word: arg, index: i };
  }
  return undefined;
}

/**
 * Parses a command's arguments.
 *
 * @param command The command.
 * @param args The arguments without the command word.
 * @returns Flags and positionals.
 * @throws {CliError} exit 2 for a flag the command does not take, or a flag without its value.
 */
export function parseCommandArgs(
  command: Command,
  args: string[],
): { flags: FlagValues; positionals: string[] } {
  const flags: Record<string, Flag> = { ...GLOBAL_FLAGS, ...command.flags };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") break;
    if (!arg.startsWith("-") || arg === "-h") continue;
    const name = arg.replace(/^--?/, "").split("=")[0]!;
    const negated = name.startsWith("no-") && flags[name.slice(3)]?.type === "boolean";
    if (arg.startsWith("--") && (flags[name] || negated)) {
      // The value of a string flag may itself start with a dash (`--token -x…`).
      if (flags[name]?.type === "string" && !arg.includes("=")) i++;
      continue;
    }
    const hint = didYouMean(name, Object.keys(flags), "--");
    throw new CliError(
      `Unknown flag ${arg.split("=")[0]} for "${command.name}".${hint}`,
      EXIT.usage,
    );
  }
  const options = Object.fromEntries(
    Object.entries(flags).map(([name, f]) => [name, name === "help" ? { ...f, short: "h" } : f]),
  ) as Record<string, { type: "string" | "boolean"; short?: string }>;
  try {
    const { values, positionals } = parseArgs({
      args,
      options,
      allowPositionals: true,
      allowNegative: true,
      strict: true,
    });
    return { flags: values as FlagValues, positionals };
  } catch (error) {
    throw new CliError((error as Error).message, EXIT.usage);
  }
}
