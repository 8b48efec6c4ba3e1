/**
 * Help texts, generated from the commands' own declarations so they never drift.
 *
 * @module
 */
import type { Command, Flag } from "./command.ts";

/** Flags every command takes. */
export const GLOBAL_FLAGS: Record<string, Flag> = {
  url: {
    type: "string",
    value: "<url>",
    description: "engine URL (env BUNDLEHOST_URL, default http://127.0.0.1:8000)",
  },
  token: {
    type: "string",
    value: "<token>",
    description: "admin token (env BUNDLEHOST_ADMIN_TOKEN, default .bundlehost/admin_token)",
  },
  json: { type: "boolean", description: "print JSON instead of tables" },
  help: { type: "boolean", description: "show help" },
};

function flagLines(flags: Record<string, Flag>): string[] {
  const rows = Object.entries(flags).map(([name, f]) => [
    `--${name}${f.value ? ` ${f.value}` : ""}`,
    f.description,
  ]);
  const width = Math.max(...rows.map(([left]) => left!.length));
  return rows.map(([left, right]) => `  ${left!.padEnd(width)}  ${right}`);
}

/**
 * The overview: every command with one line.
 *
 * @param commands The commands.
 * @returns The text.
 */
export function usage(commands: readonly Command[]): string {
  const rows = commands.map((c) => [`${c.name}${c.args ? ` ${c.args}` : ""}`, c.summary]);
  const width = Math.max(...rows.map(([left]) => left!.length));
  return [
    "Usage: deno task cli <command> [options]",
    "",
    "Commands:",
    ...rows.map(([left, right]) => `  ${left!.padEnd(width)}  ${right}`),
    `  ${"help [command]".padEnd(width)}  this text, or one command's flags`,
    "",
    "Options:",
    ...flagLines(GLOBAL_FLAGS),
    "",
    "Exit codes: 0 ok, 1 the engine refused or failed, 2 usage error, 3 no token or engine unreachable.",
  ].join("\n");
}

/**
 * One command's help: synopsis, description, its flags and the global ones.
 *
 * @param command The command.
 * @returns The text.
 */
export function commandHelp(command: Command): string {
  const lines = [
    `Usage: deno task cli ${command.name}${command.args ? ` ${command.args}` : ""} [options]`,
    "",
    command.summary[0]!.toUpperCase() + command.summary.slice(1),
  ];
  if (command.details) lines.push("", command.details);
  if (command.flags && Object.keys(command.flags).length > 0) {
    lines.push("", "Flags:", ...flagLines(command.flags));
  }
  lines.push("", "Options:", ...flagLines(GLOBAL_FLAGS));
  return lines.join("\n");
}
