/**
 * `stop <id>`: stops a bundle; it stays stopped across restarts.
 *
 * @module
 */
import { bundlePath, type Command, need } from "./command.ts";
import { type BundleView, formatBundle } from "./format.ts";

/** The `stop` command. */
export const stop: Command = {
  name: "stop",
  args: "<id>",
  summary: "stop a bundle (stays stopped across restarts)",
  async run(input) {
    need(input, 1, "a bundle id");
    const data = await input.admin.call("POST", `${bundlePath(input.positionals[0]!)}/stop`);
    return { data, human: formatBundle(data as BundleView) };
  },
};
