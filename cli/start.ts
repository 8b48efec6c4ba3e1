/**
 * `start <id>`: starts a stopped bundle.
 *
 * @module
 */
import { bundlePath, type Command, need } from "./command.ts";
import { type BundleView, formatBundle } from "./format.ts";

/** The `start` command. */
export const start: Command = {
  name: "start",
  args: "<id>",
  summary: "start a bundle",
  async run(input) {
    need(input, 1, "a bundle id");
    const data = await input.admin.call("POST", `${bundlePath(input.positionals[0]!)}/start`);
    return { data, human: formatBundle(data as BundleView) };
  },
};
