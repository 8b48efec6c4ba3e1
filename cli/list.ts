/**
 * `list`: every bundle in one table.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { type BundleView, formatBundles } from "./format.ts";

/** The `list` command. */
export const list: Command = {
  name: "list",
  args: "",
  summary: "list bundles: state, active version, traffic, instances",
  async run({ admin }) {
    const data = await admin.call("GET", "/admin/bundles");
    return { data, human: formatBundles(data as BundleView[]) };
  },
};
