/**
 * The soak benchmark's report: the record written to `bench/results/`, the short table printed to
 * stdout, and the "Soak" section of BENCHMARKS.md (between markers, so that the load harness,
 * which rewrites the rest of that file, keeps it).
 *
 * @module
 */
import { markdownTable, textTable } from "../load/report.ts";
import type { RecordHeader } from "../load/record.ts";
import type { BehaviourStats } from "./hostile_driver.ts";
import type { AdminOp } from "./release_driver.ts";
import type { ResourceSample } from "./sampler.ts";
import type {
  Percentiles,
  ResourceSummary,
  SecondRow,
  SlotRow,
  TrafficSummary,
} from "./summary.ts";

/** First line of the soak section of BENCHMARKS.md. */
export const SECTION_BEGIN = "<!-- soak:begin (written by bench/soak/soak.ts; edits are lost) -->";
/** Last line of it. */
export const SECTION_END = "<!-- soak:end -->";

/** Settings of a soak run. */
export interface SoakSettings {
  /** Fixed-rate phase, s. */
  seconds: number;
  /** Fraction of the measured maximum the fixed rate runs at. */
  rateFraction: number;
  /** Closed-loop measurement per good bundle, s (after as much warm-up). */
  maxProbeSeconds: number;
  /** Keep-alive connections of the closed-loop measurement. */
  connections: number;
  /** Release period, s (the rollback comes half-way). */
  releaseEveryS: number;
  /** Hostile ticks per second. */
  hostileCallsPerS: number;
  /** Each misbehaviour's slot, s. */
  hostileSlotS: number;
  /** Good requests in flight at most. */
  maxInFlight: number;
  /** Client timeout of a good request, ms. */
  timeoutMs: number;
  /** Pause after the soak before the end reading, s. */
  settleS: number;
  /** A calm control before the soak at the same rate (no hostile calls, no releases), s; 0: none. */
  controlS: number;
}

/** Phase 1: the closed-loop maximum, per good bundle and combined. */
export interface MaxRate {
  /** Per bundle: requests per second, p50, p99 and failures of the closed-loop run. */
  perBundle: { id: string; rps: number; p50Ms: number; p99Ms: number; failures: number }[];
  /** The even mix's maximum: the harmonic mean of the per-bundle maxima. */
  combinedRps: number;
}

/** Everything one soak run measured, as written to JSON. */
export interface SoakRecord extends RecordHeader {
  /** Tool versions. */
  versions: { deno: string; v8: string; bundlehost: string; loadGenerator: string };
  /** Settings. */
  settings: SoakSettings;
  /** Phase 1. */
  maxRate: MaxRate;
  /** The fixed rate of phase 2, req/s. */
  targetRps: number;
  /** Good bundles: id, service, tier. */
  bundles: { id: string; service: string; isolation: string }[];
  /** Phase 2's good traffic. */
  traffic: TrafficSummary;
  /** The calm control before it: the same rate, no hostile calls, no releases. */
  control?: { seconds: number; traffic: TrafficSummary; perSecond: SecondRow[] };
  /** Whether the generator kept up: its own lag (due → taken up) p99 within 10 ms. */
  generatorKeptUp: boolean;
  /** Per-second rows. */
  perSecond: SecondRow[];
  /** Memory and descriptors. */
  resources: ResourceSummary;
  /** Every resource reading. */
  samples: ResourceSample[];
  /** What the hostile driver saw. */
  hostile: BehaviourStats[];
  /** The good traffic split by the misbehaviour whose slot it fell in. */
  goodBySlot: SlotRow[];
  /** Every release and rollback. */
  adminOps: AdminOp[];
  /** CPU the benchmark process itself (generator, drivers, sampler) used during phase 2, cores. */
  benchCpuCores: number;
  /** Whether the engine process was still running at the end. */
  engineAlive: boolean;
  /** The engine's exit status when it was not. */
  engineExit?: string;
  /** What went wrong in the benchmark itself. */
  errors: string[];
}

const MIB = 2 ** 20;
const mib = (bytes: number) => Number.isFinite(bytes) ? `${(bytes / MIB).toFixed(1)} MiB` : "n/a";
const ms = (v: number) => Number.isFinite(v) ? `${v.toFixed(v < 10 ? 2 : 1)} ms` : "n/a";
const pct = (v: number) => Number.isFinite(v) ? `${(100 * v).toFixed(0)} %` : "n/a";
const lat = (p: Percentiles) => `p50 ${ms(p.p50)}, p99 ${ms(p.p99)}, max ${ms(p.max)}`;

function errorText(r: SoakRecord): string {
  const e = r.traffic.errors;
  const parts = Object.entries(e.byStatus).map(([s, n]) => `${n}× ${s}`);
  if (e.socket) parts.push(`${e.socket} socket`);
  if (e.timeout) parts.push(`${e.timeout} timeout`);
  if (e.skipped) parts.push(`${e.skipped} not sent (in-flight cap)`);
  if (e.badBody) parts.push(`${e.badBody} bad body`);
  return parts.length === 0 ? "0" : `${e.total} (${parts.join(", ")})`;
}

/**
 * The headline figures as [what, value] rows.
 *
 * @param r The record.
 * @returns Rows of cells.
 */
export function headlineCells(r: SoakRecord): string[][] {
  const t = r.traffic;
  const res = r.resources;
  const ops = r.adminOps;
  const failedOps = ops.filter((o) => !o.ok).length;
  const rows: string[][] = [
    ["closed-loop maximum (phase 1)", `${r.maxRate.combinedRps.toFixed(0)} req/s (even mix)`],
    [
      "fixed rate (phase 2)",
      `${r.targetRps.toFixed(0)} req/s = ${
        Number.isFinite(r.maxRate.combinedRps) ? `${r.settings.rateFraction} × max` : "--rate"
      }, ${r.settings.seconds} s`,
    ],
    [
      "generator",
      `took up ${t.takenPerS.toFixed(0)} req/s (sent ${t.sentPerS.toFixed(0)}), own lag p50 ${
        ms(t.lag.p50)
      }, p99 ${ms(t.lag.p99)}: ${r.generatorKeptUp ? "kept up" : "did NOT keep up"}`,
    ],
    ["requests due / ok", `${t.due} / ${t.ok}`],
    ["errors (goal 0)", errorText(r)],
    ["latency from due time, all", lat(t.latency)],
  ];
  for (const [name, p] of Object.entries(t.perTarget)) {
    rows.push([`latency, ${name}`, `${lat(p.latency)}${p.errors ? `, ${p.errors} errors` : ""}`]);
  }
  if (r.control) {
    const c = r.control.traffic;
    rows.push([
      `calm control before (${r.control.seconds} s, same rate)`,
      `errors ${c.errors.total}, ${lat(c.latency)}, generator lag p99 ${ms(c.lag.p99)}`,
    ]);
  }
  const worst = r.perSecond.reduce((a, b) => (b.p99 > a.p99 ? b : a), r.perSecond[0]!);
  if (worst) rows.push(["worst second's p99", `${ms(worst.p99)} (second ${worst.s})`]);
  rows.push(
    [
      "engine RSS start → end (max)",
      `${mib(res.start.engineRss)} → ${mib(res.end.engineRss)} (${mib(res.maxEngineRss)})`,
    ],
    ["engine RSS trend", `${res.engineRssSlopeMiBPerMin.toFixed(1)} MiB/min (least squares)`],
    [
      "engine fds start → end (max)",
      `${res.start.engineFds} → ${res.end.engineFds} (${res.maxEngineFds})`,
    ],
    [
      "children RSS start → end (max)",
      `${mib(res.start.childrenRss)} → ${mib(res.end.childrenRss)} (${mib(res.maxChildrenRss)}),` +
      ` ${res.start.children} → ${res.end.children} processes`,
    ],
    [
      "releases + rollbacks",
      `${ops.length} (${failedOps} failed), slowest ${ms(Math.max(0, ...ops.map((o) => o.ms)))}`,
    ],
    [
      "CPU during the soak, in cores",
      `engine process ${res.engineCpuCores.toFixed(2)}, its children ${
        res.childrenCpuCores.toFixed(2)
      } (sandboxes), this benchmark ${r.benchCpuCores.toFixed(2)} (generator, drivers, sampler)`,
    ],
    [
      "engine main thread (event loop)",
      `ran ${pct(res.mainRunShare)} of the time, waited for a CPU ${pct(res.mainWaitShare)}`,
    ],
    ["engine alive at the end", r.engineAlive ? "yes" : `NO (${r.engineExit ?? "exited"})`],
  );
  return rows;
}

/**
 * The hostile driver's table: per misbehaviour, calls and what the engine answered.
 *
 * @param r The record.
 * @returns Rows of cells.
 */
export function hostileCells(r: SoakRecord): string[][] {
  return r.hostile.map((h, k) => [
    `${h.name} (${h.does})`,
    String(h.calls),
    String(h.restarts),
    Object.entries(h.outcomes).sort((a, b) => b[1] - a[1]).map(([o, n]) => `${n}× ${o}`)
      .join(", ") || "—",
    ms(h.maxMs),
    goodCell(r.goodBySlot[k]),
  ]);
}

function goodCell(row: SlotRow | undefined): string {
  if (!row) return "n/a";
  const share = row.due > 0 ? ` (${((100 * row.errors) / row.due).toFixed(1)} %)` : "";
  return `${row.errors} errors of ${row.due}${share}, p50 ${ms(row.latency.p50)}, p99 ${
    ms(row.latency.p99)
  }`;
}

/** Column titles of the hostile table. */
export const HOSTILE_HEAD: string[] = [
  "misbehaviour",
  "calls",
  "restarts by the driver",
  "answers",
  "slowest",
  "good traffic meanwhile",
];

/**
 * The text printed at the end of a run.
 *
 * @param r The record.
 * @returns The text.
 */
export function textReport(r: SoakRecord): string {
  return [
    textTable(["soak", "figure"], headlineCells(r)),
    "",
    textTable(HOSTILE_HEAD, hostileCells(r)),
  ].join("\n");
}

/** How the run was made, as lines of Markdown. */
function prose(r: SoakRecord): string[] {
  const s = r.settings;
  const m = r.machine;
  const bundles = r.bundles.map((b) => `\`${b.id}\` (${b.service}, ${b.isolation} tier)`);
  const control = s.controlS > 0
    ? `First a calm control: the same rate for ${s.controlS} s with no hostile calls and no releases. `
    : "";
  return [
    "The real engine (`main.ts` with `deno task run`'s flags) serves two well-behaved bundles,",
    `${bundles.join(" and ")}, whose \`echo\` answers at once.`,
    `Phase 1 drives each alone, closed loop, with ${r.versions.loadGenerator} (${s.connections}`,
    `connections, ${s.maxProbeSeconds} s after as much warm-up); the even mix's maximum is the`,
    `harmonic mean of the two. Phase 2 offers ${s.rateFraction} × that maximum as a fixed rate,`,
    "alternating between the two bundles, from an open-loop generator (a Deno Worker writing",
    `HTTP/1.1 on keep-alive sockets; at most ${s.maxInFlight} requests in flight, beyond which a due`,
    `request is not sent and counts as an error; ${s.timeoutMs} ms client timeout). Latency is`,
    "measured from the time a request was due, so a stall counts in full; the generator's own lag",
    `(due → taken up) says whether it kept up. ${control}Then, for ${s.seconds} s, the same load`,
    `while a hostile bundle (\`soak-hostile\`, process tier, 128 MiB cap, 1 s timeout) is called`,
    `${s.hostileCallsPerS} times a second, one misbehaviour per ${s.hostileSlotS} s slot in rotation`,
    "(the driver starts it again through the admin API when a crash loop stopped it), and every",
    `${s.releaseEveryS} s a new version of one good bundle is released through the admin API and`,
    `rolled back ${s.releaseEveryS / 2} s later. The engine's RSS, open fds (the generator's`,
    "connections included) and its children's RSS are read from `/proc` every second; the end",
    `reading is taken ${s.settleS} s after the load stops. Machine: ${m.cpus} × ${m.cpuModel}; load`,
    `average ${m.loadStart.join(" / ")} at start, ${
      m.loadEnd.join(" / ")
    } at end (other work shows`,
    "here).",
  ];
}

/**
 * The BENCHMARKS.md section.
 *
 * @param r The record.
 * @param file The record's path relative to the repository.
 * @returns The Markdown, markers included.
 */
export function markdownSection(r: SoakRecord, file: string): string {
  return [
    SECTION_BEGIN,
    "",
    "## Soak: fixed-rate load beside a hostile bundle",
    "",
    `Run ${r.startedAt} → ${r.finishedAt}${r.commit ? `, commit \`${r.commit}\`` : ""}: ` +
    `\`${r.command}\`${r.runs ? `, which runs \`${r.runs}\`` : ""}. Record: \`${file}\`.`,
    "",
    ...prose(r),
    "",
    markdownTable(["soak", "figure"], headlineCells(r)),
    "",
    markdownTable(HOSTILE_HEAD, hostileCells(r)),
    "",
    "Smoke run (about a minute in all; it writes only `bench/results/soak-quick.json`):",
    "`deno task bench:soak --seconds 15 --control 5`. Knobs: `--seconds`, `--rate-fraction`,",
    "`--rate` (a fixed rate, no phase 1), `--control` (0: none), `--release-every`,",
    "`--hostile-rate`, `--loadgen wrk|autocannon` (or `SOAK_*`, `BENCH_LOADGEN`).",
    ...(r.errors.length > 0
      ? ["", "Errors of the benchmark itself:", "", ...r.errors.map((e) => `- ${e}`)]
      : []),
    "",
    SECTION_END,
  ].join("\n");
}

/**
 * Puts `section` into a BENCHMARKS.md text: in place of an earlier soak section, or appended.
 *
 * @param text The file's text ("" when it does not exist).
 * @param section The section, markers included.
 * @returns The new text.
 */
export function withSection(text: string, section: string): string {
  const begin = text.indexOf(SECTION_BEGIN.slice(0, 16));
  const end = text.indexOf(SECTION_END);
  if (begin >= 0 && end > begin) {
    return `${text.slice(0, begin)}${section}${text.slice(end + SECTION_END.length)}`;
  }
  return `${text.trimEnd()}\n\n${section}\n`;
}

/**
 * The soak section of a BENCHMARKS.md text, markers included, for the load harness to keep.
 *
 * @param text The file's text.
 * @returns The section, or `undefined` when there is none.
 */
export function sectionOf(text: string): string | undefined {
  const begin = text.indexOf(SECTION_BEGIN.slice(0, 16));
  const end = text.indexOf(SECTION_END);
  return begin >= 0 && end > begin ? text.slice(begin, end + SECTION_END.length) : undefined;
}

/**
 * Writes the record (a timestamped JSON, `soak-latest.json` and the BENCHMARKS.md section) for a
 * full run, or `soak-quick.json` only for a shorter one.
 *
 * @param root Repository root.
 * @param r The record.
 * @param full Whether this is a full run.
 * @returns The files written.
 */
export async function writeSoak(root: string, r: SoakRecord, full: boolean): Promise<string[]> {
  const dir = `${root}/bench/results`;
  await Deno.mkdir(dir, { recursive: true });
  const json = `${JSON.stringify(r, null, 2)}\n`;
  if (!full) {
    await Deno.writeTextFile(`${dir}/soak-quick.json`, json);
    return [`${dir}/soak-quick.json`];
  }
  const stamp = r.startedAt.replace(/[:.]/g, "-");
  const file = `${dir}/soak-${stamp}.json`;
  await Deno.writeTextFile(file, json);
  await Deno.writeTextFile(`${dir}/soak-latest.json`, json);
  const md = `${root}/BENCHMARKS.md`;
  const text = await Deno.readTextFile(md).catch(() => "# Benchmarks\n");
  await Deno.writeTextFile(
    md,
    withSection(text, markdownSection(r, "bench/results/soak-latest.json")),
  );
  return [file, `${dir}/soak-latest.json`, md];
}
