/**
 * `rollback <id> [--version v]`: re-activates an earlier version.
 *
 * @module
 */
import { bundlePath, type Command, need } from "./command.ts";

/** The `rollback` command. */
export const rollback: Command = {
  name: "rollback",
  args: "<id>",
  summary: "re-activate an earlier version",
  flags: {
    version: {
      type: "string",
      value: "<v>",
      description: "version to go back to (default: the one active before the current)",
    },
  },
  async run(input) {
    need(input, 1, "a bundle id");
    const version = input.flags.version;
    const data = await input.admin.call(
      "POST",
      `${bundlePath(input.positionals[0]!)}/rollback`,
      JSON.stringify(typeof version === "string" ? { version } : {}),
    );
    return {
      data,
      human: `${input.positionals[0]} now serves ${(data as { active: string }).active}`,
    };
  },
};
