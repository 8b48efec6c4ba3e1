/**
 * Tables for people: bundles, one bundle in detail. `--json` prints the admin API's data instead.
 *
 * @module
 */

/** A bundle as `GET /admin/bundles/:id` returns it (the fields the CLI shows). */
export interface BundleView {
  /** Bundle id. */
  id: string;
  /** Bundle state. */
  state: string;
  /** Version serving traffic. */
  active: string;
  /** Version the operator asked for. */
  desired: string;
  /** Traffic split, version → weight. */
  weights?: Record<string, number>;
  /** A phased release in progress or ended. */
  canary?: CanaryView;
  /** Released versions. */
  releases: { version: string }[];
  /** Installed revisions. */
  revisions: {
    version: string;
    state: string;
    isolation?: string;
    isolationReason?: string;
    instances: unknown[];
    error?: string;
  }[];
  /** Log lines dropped by the log budget. */
  logsDropped?: number;
}

/** A canary as the bundle view shows it. */
export interface CanaryView {
  /** Version under test. */
  version: string;
  /** Version it replaces. */
  from: string;
  /** Current weight, percent. */
  weight: number;
  /** `running`, `promoted`, `rolled-back` or `aborted`. */
  status: string;
  /** Why it ended, when it did not promote. */
  reason?: string;
  /** Index of the current step. */
  step?: number;
  /** All steps, percent. */
  steps?: number[];
}

/**
 * Aligns rows into columns.
 *
 * @param rows Rows, the first one the header.
 * @returns The table text.
 */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/**
 * A table of bundles.
 *
 * @param bundles The bundles.
 * @returns The table, or `No bundles.`.
 */
export function formatBundles(bundles: BundleView[]): string {
  if (bundles.length === 0) return "No bundles.";
  const rows = [["ID", "STATE", "ACTIVE", "DESIRED", "TRAFFIC", "VERSIONS", "INSTANCES"]];
  for (const b of bundles) {
    const traffic = b.weights
      ? Object.entries(b.weights).map(([v, w]) => `${v}=${w}`).join(",")
      : `${b.active}=100%`;
    const instances = b.revisions.reduce((n, r) => n + r.instances.length, 0);
    rows.push([
      b.id,
      b.state,
      b.active,
      b.desired,
      traffic,
      b.releases.map((r) => r.version).join(","),
      String(instances),
    ]);
  }
  return table(rows);
}

/**
 * One canary's progress in one line.
 *
 * @param c The canary.
 * @returns E.g. `Canary 2.0.0 (from 1.0.0): running, weight 50% (step 1 of 2)`.
 */
export function formatCanary(c: CanaryView): string {
  const step = c.steps && c.step !== undefined ? ` (step ${c.step + 1} of ${c.steps.length})` : "";
  return `Canary ${c.version} (from ${c.from}): ${c.status}, weight ${c.weight}%${
    c.status === "running" ? step : ""
  }${c.reason ? ` (${c.reason})` : ""}`;
}

/**
 * One bundle in detail: its row, its revisions, tiers, dropped logs and canary.
 *
 * @param b The bundle.
 * @returns The text.
 */
export function formatBundle(b: BundleView): string {
  const lines = [
    formatBundles([b]),
    "",
    table([
      ["VERSION", "STATE", "TIER", "INSTANCES", "ERROR"],
      ...b.revisions.map((r) => [
        r.version,
        r.state,
        r.isolation ?? "",
        String(r.instances.length),
        r.error ?? "",
      ]),
    ]),
  ];
  // Why each version runs in its tier (the operator policy's decision).
  for (const r of b.revisions) {
    if (r.isolationReason) lines.push(`${r.version}: ${r.isolation} tier (${r.isolationReason})`);
  }
  if (b.logsDropped) lines.push(`Log lines dropped by the log budget: ${b.logsDropped}`);
  if (b.canary) lines.push("", formatCanary(b.canary));
  return lines.join("\n");
}
