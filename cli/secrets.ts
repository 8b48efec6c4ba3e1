/**
 * `secrets list <id>`, `secrets set <id> <NAME>` and `secrets delete <id> <NAME>` (README,
 * "Secrets"). `set` reads the value from standard input (piped), or asks for it on a terminal:
 * never from an argument, which other users of the machine could read in the process list.
 *
 * @module
 */
import { bundlePath, type Command, need } from "./command.ts";
import { CliError, EXIT } from "./context.ts";
import { BUNDLE_ID } from "./init.ts";

/** Largest value read, bytes (the engine's own bound). */
const MAX_VALUE_BYTES = 8 * 1024;
const NAME = /^[A-Z][A-Z0-9_]{0,63}$/;

interface Listing {
  name: string;
  set: boolean;
  declared: boolean;
  updatedAt?: string;
}

/** The `secrets` command. */
export const secrets: Command = {
  name: "secrets",
  args: "list|set|delete <id> [<NAME>]",
  summary: "list, set or delete a bundle's secrets (values are never shown)",
  details: [
    "list <id>: names only, whether set, and when. set <id> <NAME>: the value is read from",
    'standard input (e.g. `printf %s "$TOKEN" | deno task cli secrets set shop API_TOKEN`) or',
    "asked for on a terminal, never taken from an argument; one final newline is dropped.",
    "delete <id> <NAME>: the bundle then reads undefined. Running instances get each change",
    "without a restart, then run onRefresh.",
  ].join("\n"),
  async run(input) {
    const { positionals, admin, io } = input;
    need(input, 2, "list, set or delete, and a bundle id");
    const [verb, id, name] = positionals as [string, string, string | undefined];
    if (!BUNDLE_ID.test(id)) throw new CliError(`Invalid bundle id "${id}"`, EXIT.usage);
    if (verb === "list") {
      const data = await admin.call("GET", `${bundlePath(id)}/secrets`) as Listing[];
      const lines = data.map((s) =>
        `${s.name}  ${s.set ? `set ${s.updatedAt ?? ""}` : "not set"}${
          s.declared ? "" : "  (no installed version declares it)"
        }`
      );
      return { data, human: lines.join("\n") || `${id} declares no secrets` };
    }
    if (verb !== "set" && verb !== "delete") {
      throw new CliError(`Unknown secrets action "${verb}": use list, set or delete`, EXIT.usage);
    }
    need(input, 3, "a secret name");
    if (!NAME.test(name!)) {
      throw new CliError(
        `Invalid secret name "${name}": upper-case letters, digits and _, starting with a letter`,
        EXIT.usage,
      );
    }
    const path = `${bundlePath(id)}/secrets/${name}`;
    if (verb === "delete") {
      const data = await admin.call("DELETE", path);
      return { data, human: `Secret ${name} of ${id} deleted` };
    }
    let value: string | null;
    if (io.interactive) value = await io.ask(`Value of ${name} (input is shown):`);
    else if (io.readInput) value = await io.readInput(MAX_VALUE_BYTES + 2);
    else value = null;
    if (value === null) throw new CliError(`No value for ${name} on standard input`, EXIT.usage);
    value = value.replace(/\r?\n$/, "");
    const data = await admin.call("PUT", path, JSON.stringify({ value }));
    return { data, human: `Secret ${name} of ${id} set; running instances have it` };
  },
};
