/**
 * The density section's table (printed, and in BENCHMARKS.md), and a run of the density section
 * alone: `deno run -A bench/load/density_report.ts [count]` prints the table without writing any
 * record (the full harness, `deno task bench:load`, runs it as one of its sections).
 *
 * @module
 */
import { type Density, DENSITY_SETTLE_MS, measureDensity } from "./density.ts";
import { withProcessGroup } from "./procs.ts";
import { median } from "./stats.ts";

const MIB = 2 ** 20;

/**
 * The `p`-th percentile (nearest rank) of `values`.
 *
 * @param values Samples.
 * @param p Percentile, 0–100.
 * @returns The value, `NaN` when there is none.
 */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]!;
}

const fixed = (v: number, digits: number) => Number.isFinite(v) ? v.toFixed(digits) : "n/a";
const ms = (v: number) => `${fixed(v, v < 10 ? 2 : 1)} ms`;
const mib = (bytes: number) => `${fixed(bytes / MIB, 1)} MiB`;
const kib = (bytes: number) => `${fixed(bytes / 1024, 1)} KiB`;
const times = (v: number) => `${fixed(v, 2)}×`;

/** Column titles of the density table. */
export const DENSITY_HEAD: string[] = ["what", "1 bundle", "all bundles", "ratio"];

/**
 * The density table's cells: each figure with the hello bundle alone and with every bundle.
 *
 * @param d Figures.
 * @returns Rows of cells.
 */
export function densityCells(d: Density): string[][] {
  const n = `${d.count + 1} bundles`;
  const row = (what: string, one: number, all: number, unit: (v: number) => string) => [
    what,
    unit(one),
    unit(all),
    times(all / one),
  ];
  const endpoint = (name: string, e: Density["status"]) => [
    row(`${name}: reply time (median)`, median(e.one.ms), median(e.all.ms), ms),
    row(`${name}: reply size`, e.one.bytes, e.all.bytes, kib),
  ];
  return [
    row(`engine RSS, idle (${n} released, scaled to zero)`, d.memoryOne.rss, d.memoryAll.rss, mib),
    row("engine PSS, idle", d.memoryOne.pss, d.memoryAll.pss, mib),
    ...(d.memoryRestored
      ? [
        row(
          "engine RSS after a restart (all restored, idle)",
          d.memoryOne.rss,
          d.memoryRestored.rss,
          mib,
        ),
        row("engine PSS after a restart", d.memoryOne.pss, d.memoryRestored.pss, mib),
      ]
      : []),
    [
      "RSS per released idle bundle",
      "—",
      mib((d.memoryAll.rss - d.memoryOne.rss) / d.count),
      "—",
    ],
    row("engine CPU while idle, % of a core", d.idleCpuOne, d.idleCpuAll, (v) => fixed(v, 1)),
    [
      `call: first to a scaled-to-zero bundle, p50 (${d.firstCallMs.length} bundles) vs a warm one`,
      ms(median(d.warmCallMs)),
      ms(median(d.firstCallMs)),
      times(median(d.firstCallMs) / median(d.warmCallMs)),
    ],
    [
      "call: the same, p99",
      ms(percentile(d.warmCallMs, 99)),
      ms(percentile(d.firstCallMs, 99)),
      times(percentile(d.firstCallMs, 99) / percentile(d.warmCallMs, 99)),
    ],
    ...endpoint("GET /admin/status", d.status),
    ...endpoint("GET /metrics", d.metrics),
    [
      `release → ACTIVE, per release (median of ${d.releaseMs.length})`,
      "—",
      ms(median(d.releaseMs)),
      "—",
    ],
    [
      "restart: engine spawn → listening (empty registry vs every release restored)",
      ms(median(d.startEmptyMs)),
      ms(median(d.restoreListeningMs)),
      times(median(d.restoreListeningMs) / median(d.startEmptyMs)),
    ],
    [
      "restart: engine spawn → every bundle ACTIVE",
      ms(median(d.startEmptyMs)),
      ms(median(d.restoreActiveMs)),
      times(median(d.restoreActiveMs) / median(d.startEmptyMs)),
    ],
  ];
}

async function main(): Promise<void> {
  const count = Number(Deno.args[0] ?? 1000);
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`Bad count "${Deno.args[0]}"`);
  await withProcessGroup("bundlehost-density-", async (group, tmp) => {
    const d = await measureDensity({
      group,
      tmp,
      count,
      firstCalls: 50,
      restarts: 2,
      settleMs: DENSITY_SETTLE_MS,
      log: console.log,
    });
    const { textTable } = await import("./report.ts");
    console.log(textTable(DENSITY_HEAD, densityCells(d)));
    console.log(JSON.stringify(
      { releaseMs: d.releaseMs.slice(0, 5), firstCallMs: d.firstCallMs.slice(0, 10) },
    ));
  });
}

if (import.meta.main) await main();
