/**
 * `traffic <id> <version>=<weight>...`: splits traffic between released versions.
 *
 * @module
 */
import { bundlePath, type Command, need } from "./command.ts";
import { CliError, EXIT } from "./context.ts";
import { type BundleView, formatBundle } from "./format.ts";

/** The `traffic` command. */
export const traffic: Command = {
  name: "traffic",
  args: "<id> <version>=<weight>...",
  summary: "split traffic between released versions, e.g. 1.1.0=10 1.0.0=90",
  async run(input) {
    need(input, 2, "a bundle id and at least one <version>=<weight>");
    const weights: Record<string, number> = {};
    for (const pair of input.positionals.slice(1)) {
      const m = /^([^=]+)=([0-9]+(?:\.[0-9]+)?)%?$/.exec(pair);
      if (!m) throw new CliError(`Bad weight "${pair}": use <version>=<weight>`, EXIT.usage);
      weights[m[1]!] = Number(m[2]);
    }
    const data = await input.admin.call(
      "PUT",
      `${bundlePath(input.positionals[0]!)}/traffic`,
      JSON.stringify({ weights }),
    );
    return { data, human: formatBundle(data as BundleView) };
  },
};
