/**
 * `delete <id>`: removes a bundle with its releases and data, after a confirmation.
 *
 * @module
 */
import { bundlePath, type Command, need } from "./command.ts";
import { CliError, EXIT } from "./context.ts";

/** The `delete` command. */
export const remove: Command = {
  name: "delete",
  args: "<id>",
  summary: "delete a bundle, its releases and data (asks first)",
  details: "Asks for the bundle id to confirm; without a terminal it needs --yes.",
  flags: { yes: { type: "boolean", description: "delete without asking" } },
  async run(input) {
    need(input, 1, "a bundle id");
    const id = input.positionals[0]!;
    if (input.flags.yes !== true) {
      if (!input.io.interactive) {
        throw new CliError(
          `Refusing to delete "${id}" without confirmation: no terminal to ask, pass --yes`,
          EXIT.usage,
        );
      }
      const answer = await input.io.ask(
        `Delete bundle "${id}" with all its releases and data? Type its id to confirm:`,
      );
      if (answer?.trim() !== id) {
        throw new CliError(`Not deleted: "${id}" was not confirmed`, EXIT.usage);
      }
    }
    const data = await input.admin.call("DELETE", bundlePath(id));
    return { data, human: `Deleted ${id}` };
  },
};
