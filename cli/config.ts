/**
 * `config get <id>` and `config set <id> [<json>]`: a bundle's config (README, "Config"). `set`
 * replaces the operator's overrides with a JSON object (from the argument, or from standard input
 * when none is given), merged over the manifest's defaults; `get` prints the merged config, or
 * with `--history` the kept revisions of the overrides.
 *
 * @module
 */
import { bundlePath, type Command, need } from "./command.ts";
import { CliError, EXIT } from "./context.ts";
import { BUNDLE_ID } from "./init.ts";

/** Largest JSON read from standard input, bytes (the engine's own bound is lower). */
const MAX_INPUT_BYTES = 64 * 1024;

function parseObject(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`The config is not valid JSON: ${(error as Error).message}`, EXIT.usage);
  }
}

/** The `config` command. */
export const config: Command = {
  name: "config",
  args: "get|set <id> [<json>]",
  summary: "show or set a bundle's config (overrides merged over bundle.json config)",
  details: [
    "get <id>: the merged config the active version gets as ctx.config (--history: the kept",
    "revisions of the overrides). set <id> [<json>]: replaces the overrides with a JSON object,",
    "read from standard input when no argument is given; nested objects merge key by key, null",
    "removes a key. Running instances get it without a restart, then run onRefresh.",
  ].join("\n"),
  flags: {
    history: { type: "boolean", description: "get: list the kept revisions of the overrides" },
  },
  async run(input) {
    const { positionals, flags, admin, io } = input;
    need(input, 2, "get or set, and a bundle id");
    const [verb, id] = positionals as [string, string];
    if (!BUNDLE_ID.test(id)) throw new CliError(`Invalid bundle id "${id}"`, EXIT.usage);
    if (verb === "get") {
      const query = flags.history === true ? "?history" : "";
      const data = await admin.call("GET", `${bundlePath(id)}/config${query}`);
      return { data, human: JSON.stringify(data, null, 2) };
    }
    if (verb !== "set") {
      throw new CliError(`Unknown config action "${verb}": use get or set`, EXIT.usage);
    }
    let text = positionals[2];
    if (text === undefined) {
      if (!io.readInput) throw new CliError("Give the config as an argument", EXIT.usage);
      text = await io.readInput(MAX_INPUT_BYTES);
    }
    const body = JSON.stringify(parseObject(text));
    const data = await admin.call("PUT", `${bundlePath(id)}/config`, body);
    return { data, human: `Config of ${id} set; running instances have it` };
  },
};
