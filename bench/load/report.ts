/**
 * The load harness's report: medians and paired ratios, the printed tables, the JSON record and
 * BENCHMARKS.md.
 *
 * @module
 */
import type { LoadResult, Shape } from "./loadgen.ts";
import { type ColdStarts, type IdleMemories, RELEASE_SPACING_MS } from "./footprint.ts";
import type { Density } from "./density.ts";
import { median } from "./stats.ts";

/** Which server a row loads. */
export type ServerName =
  | "bare"
  | "worker-hop"
  | "bundlehost-worker"
  | "bundlehost-process"
  | "workerd";

/** One row of the throughput table: a server driven with one request shape. */
export interface Row {
  /** Stable id, e.g. `bundlehost-worker/rpc`. */
  id: string;
  /** Server. */
  server: ServerName;
  /** Request shape. */
  shape: Shape;
  /** Label in the table. */
  label: string;
  /** What the row measures. */
  measures: string;
  /** One result per measured round (`undefined` where the round failed). */
  rounds: (LoadResult | undefined)[];
}

/** Median, p50/p99 and paired ratios of one row. */
export interface RowSummary {
  /** Row id. */
  id: string;
  /** Medians over the rounds. */
  median: { rps: number; p50Ms: number; p99Ms: number };
  /** Median over rounds of this row's figure ÷ bare's (same shape, same round). */
  vsBare: { rps: number; p50: number; p99: number };
  /** Same against workerd. */
  vsWorkerd: { rps: number; p50: number; p99: number };
  /** Non-2xx responses and socket errors over all rounds. */
  failures: number;
}

function paired(row: Row, ref: Row | undefined, pick: (r: LoadResult) => number): number {
  if (!ref) return NaN;
  return median(row.rounds.map((r, i) => {
    const other = ref.rounds[i];
    return r && other ? pick(r) / pick(other) : NaN;
  }));
}

/**
 * Summarises every row; ratios pair each round with the reference's figure of the same round.
 *
 * @param rows The rows.
 * @returns One summary per row, in order.
 */
export function summarise(rows: Row[]): RowSummary[] {
  return rows.map((row) => {
    const bare = rows.find((r) => r.server === "bare" && r.shape.name === row.shape.name);
    const workerd = rows.find((r) => r.server === "workerd" && r.shape.name === row.shape.name);
    const ok = row.rounds.filter((r): r is LoadResult => r !== undefined);
    const ratios = (ref: Row | undefined) => ({
      rps: paired(row, ref, (r) => r.rps),
      p50: paired(row, ref, (r) => r.p50Ms),
      p99: paired(row, ref, (r) => r.p99Ms),
    });
    return {
      id: row.id,
      median: {
        rps: median(ok.map((r) => r.rps)),
        p50Ms: median(ok.map((r) => r.p50Ms)),
        p99Ms: median(ok.map((r) => r.p99Ms)),
      },
      vsBare: ratios(bare),
      vsWorkerd: ratios(workerd),
      failures: ok.reduce((n, r) => n + r.non2xx + r.errors, 0),
    };
  });
}

const num = (v: number, digits: number) => Number.isFinite(v) ? v.toFixed(digits) : "n/a";
const ratio = (v: number) => Number.isFinite(v) ? `${v.toFixed(2)}×` : "n/a";
const ms = (v: number) => num(v, v < 10 ? 2 : 1);
const mib = (bytes: number) =>
  Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : "n/a";

/** Column titles of the throughput table. */
export const THROUGHPUT_HEAD: string[] = [
  "target · request",
  "req/s",
  "req/s range",
  "p50 ms",
  "p99 ms",
  "req/s ÷ (a)",
  "req/s ÷ (c)",
  "p50 ÷ (a)",
  "p50 ÷ (c)",
  "p99 ÷ (a)",
  "p99 ÷ (c)",
];

/**
 * The throughput table's cells.
 *
 * @param rows Rows.
 * @param summaries Their summaries.
 * @returns One array of cells per row.
 */
export function throughputCells(rows: Row[], summaries: RowSummary[]): string[][] {
  return rows.map((row, i) => {
    const s = summaries[i]!;
    const rps = row.rounds.filter((r): r is LoadResult => r !== undefined).map((r) => r.rps);
    const k = (v: number) => `${(v / 1000).toFixed(1)}k`;
    return [
      s.failures > 0 ? `${row.label} (${s.failures} failed)` : row.label,
      num(s.median.rps, 0),
      rps.length > 0 ? `${k(Math.min(...rps))}–${k(Math.max(...rps))}` : "n/a",
      ms(s.median.p50Ms),
      ms(s.median.p99Ms),
      ratio(s.vsBare.rps),
      ratio(s.vsWorkerd.rps),
      ratio(s.vsBare.p50),
      ratio(s.vsWorkerd.p50),
      ratio(s.vsBare.p99),
      ratio(s.vsWorkerd.p99),
    ];
  });
}

const spread = (values: number[]) =>
  values.length === 0 ? "n/a" : `${ms(Math.min(...values))}–${ms(Math.max(...values))}`;

/** Column titles of the cold start table. */
export const COLD_HEAD: string[] = ["what (n samples)", "median ms", "range ms"];

/**
 * The cold start table's cells.
 *
 * @param cold Figures.
 * @returns Rows of cells.
 */
export function coldCells(cold: ColdStarts): string[][] {
  const out: string[][] = [];
  const add = (label: string, values: number[] | undefined) => {
    if (values && values.length > 0) {
      out.push([`${label} (${values.length})`, ms(median(values)), spread(values)]);
    }
  };
  for (const tier of ["worker", "process"] as const) {
    const c = cold.bundlehost[tier];
    add(`Bundlehost ${tier} tier: release new version → first /rpc reply`, c?.firstReplyMs);
    add(
      `Bundlehost ${tier} tier: the same, ${RELEASE_SPACING_MS} ms of quiet before each release`,
      c?.spacedReplyMs,
    );
    add(
      `Bundlehost ${tier} tier: the same, spaced, code unchanged (vetting verdict cached)`,
      c?.sameCodeReplyMs,
    );
    add(`Bundlehost ${tier} tier: sandbox spawn → ready (engine's own timer)`, c?.instanceStartMs);
  }
  add("workerd: process spawn → first reply", cold.workerd?.firstReplyMs);
  add("bare Deno.serve: process spawn → first reply", cold.bare?.firstReplyMs);
  return out;
}

/** Column titles of the idle memory table. */
export const MEMORY_HEAD: string[] = ["unit", "RSS per unit", "PSS per unit", "baseline RSS"];

/**
 * The idle memory table's cells.
 *
 * @param idle Figures.
 * @returns Rows of cells.
 */
export function memoryCells(idle: IdleMemories): string[][] {
  const out: string[][] = [];
  for (const tier of ["worker", "process"] as const) {
    const m = idle.bundlehost[tier];
    if (!m) continue;
    out.push([
      `Bundlehost ${tier} tier: extra idle bundle (engine tree, ${m.count} added)`,
      mib(m.rssPerUnit),
      mib(m.pssPerUnit),
      `${mib(m.base.rss)} (engine + hello bundle)`,
    ]);
  }
  if (idle.workerd) {
    const m = idle.workerd;
    out.push([
      `workerd: extra idle worker in one process (${m.count} added)`,
      mib(m.rssPerUnit),
      mib(m.pssPerUnit),
      `${mib(m.base.rss)} (process, one worker)`,
    ]);
    out.push(["workerd: one more process (one worker)", mib(m.base.rss), mib(m.base.pss), "—"]);
  }
  if (idle.bare) {
    out.push(["bare Deno.serve: one process", mib(idle.bare.rss), mib(idle.bare.pss), "—"]);
  }
  const floor = idle.workerFloor ?? {};
  for (const variant of ["plain", "node"] as const) {
    const m = floor[variant];
    if (!m) continue;
    out.push([
      `floor: bare Deno, extra idle Web Worker${
        variant === "node" ? " with the Node layer" : ""
      } (${m.count} added)`,
      mib(m.rssPerUnit),
      mib(m.pssPerUnit),
      `${mib(m.base.rss)} (process, one worker)`,
    ]);
  }
  return out;
}

/**
 * A table as aligned plain text.
 *
 * @param head Column titles.
 * @param rows Cells.
 * @returns The text.
 */
export function textTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((cell, c) => c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))
      .join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/**
 * A table as Markdown (deno fmt aligns it afterwards).
 *
 * @param head Column titles.
 * @param rows Cells.
 * @returns The Markdown.
 */
export function markdownTable(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  const rule = `| ${head.map((_, c) => c === 0 ? "---" : "---:").join(" | ")} |`;
  return [line(head), rule, ...rows.map(line)].join("\n");
}

/** One target of the issue, checked (reported, never asserted). */
export interface TargetCheck {
  /** What is aimed for. */
  goal: string;
  /** The measured figure. */
  value: number;
  /** Its unit: a ratio to a baseline of the same run, milliseconds or MiB. */
  unit: "×" | "ms" | "MiB";
  /** Whether it is met. */
  met: boolean;
}

/** The figures besides the throughput rows that issue 14's targets read. */
export interface TargetFigures {
  /** Cold start samples. */
  coldStart?: ColdStarts;
  /** Idle memory per bundle. */
  idleMemory?: IdleMemories;
  /** The density section. */
  density?: Density;
  /** The route decision with every density bundle ÷ with one (`deno bench`), when measured. */
  routeRatio?: number;
}

/**
 * Checks issue 14's targets: throughput and tails against bare `Deno.serve` and workerd in the
 * same run, cold start, idle memory per bundle, and density. A figure that was not measured shows
 * as not met.
 *
 * @param summaries Row summaries.
 * @param figures The other sections' figures.
 * @returns The checks.
 */
export function checkTargets(summaries: RowSummary[], figures: TargetFigures = {}): TargetCheck[] {
  const out: TargetCheck[] = [];
  const add = (goal: string, value: number, unit: TargetCheck["unit"], met: boolean) =>
    out.push({ goal, value, unit, met: Number.isFinite(value) && met });
  const row = (id: string) => summaries.find((x) => x.id === id);
  const nan = { rps: NaN, p50: NaN, p99: NaN };
  const rpcWorker = row("bundlehost-worker/rpc");
  const rpcProcess = row("bundlehost-process/rpc");
  const httpWorker = row("bundlehost-worker/http");
  const w = { bare: rpcWorker?.vsBare ?? nan, workerd: rpcWorker?.vsWorkerd ?? nan };
  add("/rpc, worker tier: req/s ≥ 0.45 × bare", w.bare.rps, "×", w.bare.rps >= 0.45);
  add("/rpc, worker tier: req/s ≥ 2.5 × workerd", w.workerd.rps, "×", w.workerd.rps >= 2.5);
  add("/rpc, worker tier: p99 ≤ 3 × bare", w.bare.p99, "×", w.bare.p99 <= 3);
  const h = httpWorker?.vsWorkerd ?? nan;
  add("/b/:id/, worker tier: req/s ≥ 1.5 × workerd", h.rps, "×", h.rps >= 1.5);
  const p = rpcProcess?.vsBare ?? nan;
  add("/rpc, process tier: req/s ≥ 0.3 × bare", p.rps, "×", p.rps >= 0.3);
  add("/rpc, process tier: p99 ≤ 10 × bare", p.p99, "×", p.p99 <= 10);
  const cold = figures.coldStart?.bundlehost.worker;
  const firstReply = median(cold?.firstReplyMs ?? []);
  add(
    "release → first reply (no-grant bundle, worker tier) ≤ 20 ms p50",
    firstReply,
    "ms",
    firstReply <= 20,
  );
  const spacedReply = median(cold?.spacedReplyMs ?? []);
  add(
    `the same, one release at a time (${RELEASE_SPACING_MS} ms of quiet before each) ≤ 20 ms p50`,
    spacedReply,
    "ms",
    spacedReply <= 20,
  );
  const spawn = median(cold?.instanceStartMs ?? []);
  add("sandbox spawn → ready (engine's timer, worker tier) ≤ 12 ms p50", spawn, "ms", spawn <= 12);
  const perBundle = (figures.idleMemory?.bundlehost.worker?.rssPerUnit ?? NaN) / 2 ** 20;
  add("idle RSS per extra worker-tier bundle ≤ 8 MiB", perBundle, "MiB", perBundle <= 8);
  const d = figures.density;
  const n = d ? `${d.count + 1}` : "1000";
  const rss = (d?.memoryAll.rss ?? NaN) / 2 ** 20;
  add(`${n} released bundles, idle, scaled to zero: engine RSS ≤ 300 MiB`, rss, "MiB", rss <= 300);
  const first = median(d?.firstCallMs ?? []);
  add(`${n} bundles: first call to a scaled-to-zero one ≤ 30 ms p50`, first, "ms", first <= 30);
  const route = figures.routeRatio ?? NaN;
  add(`${n} bundles: route decision unchanged (≤ 1.2 × with one bundle)`, route, "×", route <= 1.2);
  return out;
}

/**
 * The target checks as lines.
 *
 * @param checks Checks.
 * @returns One line each.
 */
export function targetLines(checks: TargetCheck[]): string[] {
  const figure = (c: TargetCheck) =>
    c.unit === "×"
      ? ratio(c.value)
      : c.unit === "ms"
      ? `${num(c.value, 1)} ms`
      : `${num(c.value, 1)} MiB`;
  return checks.map((c) => `${c.met ? "met    " : "not met"}  ${c.goal}: measured ${figure(c)}`);
}
