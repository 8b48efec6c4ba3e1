/**
 * `status [id]`: the engine at a glance, or one bundle in detail.
 *
 * @module
 */
import { bundlePath, type Command } from "./command.ts";
import { type BundleView, formatBundle, table } from "./format.ts";

interface EngineStatusView {
  uptimeMs: number;
  leakedWorkers: number;
  bundles: {
    id: string;
    state: string;
    current?: string;
    weights?: Record<string, number>;
    revisions: { version: string; state: string; isolation?: string; instances?: unknown[] }[];
  }[];
}

/**
 * The engine status as a summary line and a table of bundles.
 *
 * @param s The status.
 * @returns The text.
 */
export function formatStatus(s: EngineStatusView): string {
  const head = `Up ${
    Math.round(s.uptimeMs / 1000)
  } s, ${s.bundles.length} bundles, ${s.leakedWorkers} leaked workers`;
  if (s.bundles.length === 0) return head;
  const rows = [["ID", "STATE", "SERVING", "REVISIONS", "INSTANCES"]];
  for (const b of s.bundles) {
    const serving = b.weights
      ? Object.entries(b.weights).map(([v, w]) => `${v}=${w}`).join(",")
      : b.current ?? "-";
    rows.push([
      b.id,
      b.state,
      serving,
      b.revisions.map((r) => `${r.version} ${r.state}${r.isolation ? ` (${r.isolation})` : ""}`)
        .join(", "),
      String(b.revisions.reduce((n, r) => n + (r.instances?.length ?? 0), 0)),
    ]);
  }
  return `${head}\n\n${table(rows)}`;
}

/** The `status` command. */
export const status: Command = {
  name: "status",
  args: "[id]",
  summary: "engine status as a table, or one bundle in detail",
  async run({ admin, positionals }) {
    const id = positionals[0];
    if (id === undefined) {
      const data = await admin.call("GET", "/admin/status");
      return { data, human: formatStatus(data as EngineStatusView) };
    }
    const data = await admin.call("GET", bundlePath(id));
    return { data, human: formatBundle(data as BundleView) };
  },
};
