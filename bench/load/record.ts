/**
 * The record of one harness run: the JSON kept in `bench/results/` for tracking over time, and
 * BENCHMARKS.md rendered from it.
 *
 * @module
 */
import { type ColdStarts, type IdleMemories, RELEASE_SPACING_MS } from "./footprint.ts";
import type { Density } from "./density.ts";
import { DENSITY_HEAD, densityCells } from "./density_report.ts";
import type { Machine } from "./machine.ts";
import {
  COLD_HEAD,
  coldCells,
  markdownTable,
  MEMORY_HEAD,
  memoryCells,
  type Row,
  type RowSummary,
  type TargetCheck,
  targetLines,
  THROUGHPUT_HEAD,
  throughputCells,
} from "./report.ts";

/** Settings of a run. */
export interface Settings {
  /** Smoke run: fewer, shorter rounds; writes only `bench/results/quick.json`. */
  quick: boolean;
  /** Measured rounds per row. */
  rounds: number;
  /** Warm-up before each measured run, s. */
  warmupS: number;
  /** Each measured run, s. */
  durationS: number;
  /** Keep-alive connections, the same for every row. */
  connections: number;
  /** Cold start samples per target. */
  coldSamples: number;
  /** Extra idle bundles (Bundlehost) or workers (workerd) for the memory figures. */
  idleUnits: number;
  /** Pause before a memory reading, ms. */
  settleMs: number;
  /** Bundles the density section releases besides the hello bundle. */
  densityBundles: number;
}

/** What every benchmark record (load harness, soak) starts with: when, what, where. */
export interface RecordHeader {
  /** Format version of this record. */
  schema: 1;
  /** ISO time the run started. */
  startedAt: string;
  /** ISO time it ended. */
  finishedAt: string;
  /** The command that produced it. */
  command: string;
  /** What that task runs. */
  runs?: string;
  /** Git commit (`-dirty` with local changes). */
  commit?: string;
  /** Machine facts. */
  machine: Machine;
}

/** Everything one run measured, as written to JSON. */
export interface RunRecord extends RecordHeader {
  /** Tool versions. */
  versions: {
    deno: string;
    v8: string;
    bundlehost: string;
    workerd?: string;
    workerdNpm: string;
    loadGenerator: { name: string; version: string; latencyResolution: string };
  };
  /** Settings. */
  settings: Settings;
  /** Every row with every round. */
  rows: (Omit<Row, "shape"> & { method: string; path: string })[];
  /** Medians and ratios. */
  summaries: RowSummary[];
  /** The issue's targets (reported, never asserted). */
  targets: TargetCheck[];
  /** Cold start samples. */
  coldStart: ColdStarts;
  /** Idle memory. */
  idleMemory: IdleMemories;
  /** Many bundles on one engine, idle and scaled to zero. */
  density?: Density;
  /** The route decision with the density bundles ÷ with one (`bench/density_bench.ts`). */
  routeRatio?: number;
  /** What failed during the run (rows or figures then missing). */
  errors: string[];
}

const MIB = 2 ** 20;

/**
 * Renders BENCHMARKS.md from a record.
 *
 * @param record The run.
 * @param rows The rows (with shapes).
 * @returns The Markdown.
 */
export function renderMarkdown(record: RunRecord, rows: Row[]): string {
  const m = record.machine;
  const v = record.versions;
  const s = record.settings;
  const lg = v.loadGenerator;
  const lines = [
    "# Benchmarks",
    "",
    "<!-- Written by bench/load/harness.ts on every full `deno task bench` run; edits are lost. -->",
    "",
    `Latest full run: ${record.startedAt} → ${record.finishedAt}` +
    (record.commit ? `, commit \`${record.commit}\`` : "") +
    ". Record: `bench/results/latest.json`" +
    " (and one timestamped file per run).",
    "",
    `Command: \`${record.command}\` (the last step of \`deno task bench\`)` +
    (record.runs ? `, which runs \`${record.runs}\`` : ""),
    "",
    "## Machine and versions",
    "",
    `- CPU: ${m.cpuModel}, ${m.cpus} logical CPUs; memory ${
      (m.memoryBytes / 2 ** 30).toFixed(1)
    } GiB`,
    `- OS: ${m.os}, kernel ${m.kernel}`,
    `- Load average (1/5/15 min) at start ${m.loadStart.join(" / ")}, at end ${
      m.loadEnd.join(" / ")
    }` +
    " (other work on the machine shows here)",
    `- Deno ${v.deno} (V8 ${v.v8}), Bundlehost ${v.bundlehost}`,
    `- workerd ${v.workerd ?? "unavailable"} (npm \`workerd@${v.workerdNpm}\`)`,
    `- Load generator: ${lg.name} ${lg.version}, latency resolution ${lg.latencyResolution}`,
    "",
    "## Throughput and latency",
    "",
    `${s.rounds} alternating rounds; in each round every server is started alone, each request shape`,
    `gets ${s.warmupS} s of warm-up then ${s.durationS} s measured, ${s.connections} keep-alive`,
    "connections, one load-generator thread, then the server is stopped. Figures are medians over",
    "the rounds; a ratio is the median over rounds of the row's figure ÷ the reference's figure in",
    "the same round, against the same request shape; the range is the lowest and highest round.",
    "(a) = bare Deno.serve, (c) = workerd.",
    "",
    markdownTable(THROUGHPUT_HEAD, throughputCells(rows, record.summaries)),
    "",
    "What each row measures:",
    "",
    ...rows.map((r) => `- **${r.label}**: ${r.measures}`),
    "",
    "The load is closed-loop (a connection sends its next request when the previous reply has",
    "arrived), so every server runs saturated and its latency is mostly queueing: p50 ≈",
    "connections ÷ req/s. The p99 target compares tails under that saturation.",
    "",
    "Targets (reported, never asserted):",
    "",
    ...targetLines(record.targets).map((l) => `- ${l.replace(/^(met|not met)\s+/, "**$1** — ")}`),
    "",
    "## Cold start",
    "",
    markdownTable(COLD_HEAD, coldCells(record.coldStart)),
    "",
    "- Bundlehost: `POST /admin/releases` of a new version of a bundle (a fresh copy of the hello",
    "  bundle) until the first `200` from `/rpc` routed to it (`x-route-id`, `x-bundle` checked):",
    "  vetting with `deno info`, copy into the data folder, registry commit, sandbox start and",
    "  `onStart`. Each version's module ends with a comment naming the version, so its code is new",
    '  and vetting runs, as for a real new version; the "code unchanged" row releases the same',
    "  module each time, so the engine reuses the verdict it cached for that content and `deno info`",
    "  does not run. The engine's own timer (`bundlehost_instance_start_duration_seconds`) is the",
    "  sandbox part alone.",
    "- Back to back, each release comes right after the previous one's first reply, while the engine",
    "  refills its reserve of spare workers (a spawn blocks the engine's thread for 20 ms or more, and",
    `  the new worker's boot takes a core for about as long); the spaced samples wait ${RELEASE_SPACING_MS} ms`,
    "  before each release, as one operator releasing one version does.",
    "- workerd and bare Deno: process spawn until the first `200`. workerd's unit of isolation is",
    "  the isolate, but a new worker means a new config and so a new process: that is its cold start.",
    "",
    "## Idle memory",
    "",
    markdownTable(MEMORY_HEAD, memoryCells(record.idleMemory)),
    "",
    "- Bundlehost: the engine's process tree (engine plus its process-tier children) read from",
    `  \`/proc\` (VmRSS; PSS from \`smaps_rollup\`), with the hello bundle, then after releasing ${s.idleUnits}`,
    `  more copies of it (each ACTIVE with its one idle instance); per unit = growth ÷ ${s.idleUnits}.`,
    `  Each reading is the median of 5 samples taken after ${s.settleMs} ms of quiet.`,
    `- workerd: one process with one worker, then one with ${
      1 + s.idleUnits
    } workers (each its own socket, each`,
    "  touched once); per unit = growth ÷ the extra workers. PSS splits shared pages between the",
    "  processes that share them, so it is the fairer figure for the process tier.",
    "- Floor: a bare Deno process (`worker_hop_server.ts`) with one idle Web Worker, then with",
    `  ${
      1 + s.idleUnits
    } (each has answered one message); per unit = growth ÷ ${s.idleUnits}. The worker runs a`,
    '  ten-line module; "with the Node layer" it also imports `node:worker_threads`, as every',
    "  worker-tier sandbox does (its hardening refuses that module's `Worker` and `BroadcastChannel`).",
    "  No worker-per-bundle design on this Deno gets below the first figure.",
    "",
    ...densitySection(record),
    "## Running it",
    "",
    "- Everything: `deno task bench` (the `deno bench` micro-benchmarks, the script benches, then",
    "  this harness). The harness alone: `deno task bench:load`.",
    "- Smoke run: `BENCH_QUICK=1 deno task bench:load` (or `--quick`); it writes only",
    "  `bench/results/quick.json` and leaves this file alone.",
    "- Knobs: `--rounds`, `--duration`, `--warmup`, `--connections`, `--loadgen wrk|autocannon`",
    "  (or `BENCH_ROUNDS`, `BENCH_DURATION`, `BENCH_WARMUP`, `BENCH_CONNECTIONS`, `BENCH_LOADGEN`).",
    "- It needs Deno and npm: workerd (and autocannon, the fallback load generator) come pinned from",
    "  npm into npm's cache; wrk comes from Debian (installed with apt-get when running as root).",
    "  Every process it starts is stopped at the end, on error and on Ctrl-C.",
  ];
  if (record.errors.length > 0) {
    lines.push("", "## Errors during the run", "", ...record.errors.map((e) => `- ${e}`));
  }
  return `${lines.join("\n")}\n`;
}

function densitySection(record: RunRecord): string[] {
  const d = record.density;
  if (!d) return [];
  const route = record.routeRatio;
  return [
    "## Density",
    "",
    markdownTable(DENSITY_HEAD, densityCells(d)),
    "",
    `- One engine (worker tier) serves the hello bundle warm; then ${d.count} distinct copies of it`,
    "  are released one by one (each its own id and service,",
    "  `scaling: { minWorkers: 0, idleMs: 1000 }`), and every figure is read again once the",
    "  autoscaler has taken each to zero instances. Memory: the engine's process tree, as in the",
    `  idle memory section, but after ${(d.settleMs ?? 2_000) / 1000} s of quiet: the memory`,
    "  of ended sandboxes goes back to the system on the runtime's own timers",
    "  (V8 pools an ended isolate's pages for 8 s; idle I/O threads end after 10 s), so a reading",
    "  2 s after the last sandbox ended showed about twice the memory. Idle CPU: the engine's",
    "  user and system time over 2 s of quiet.",
    "- First call: `POST /rpc/<service>/hello` to a random scaled-to-zero bundle (a sandbox starts",
    "  while the call waits), each right after one to the warm hello bundle.",
    "- Restart: the engine is stopped and started on the same data folder; it restores every",
    "  release before it listens. The baseline is an engine started on an empty data folder, the",
    "  two alternating. Memory after a restart: the restarted engine once every release is",
    "  restored and idle. The density section alone:",
    "  `deno run -A bench/load/density_report.ts [count]` (prints the table, writes nothing).",
    `- Route decision (\`deno bench bench/density_bench.ts\`): \`Broker.call\` with ${d.count}`,
    `  bundles ÷ with one: ${route === undefined ? "n/a" : `${route.toFixed(2)}×`}.`,
    "",
  ];
}

/**
 * Writes the record: a timestamped JSON, `latest.json` and BENCHMARKS.md for a full run;
 * `quick.json` only for a quick one.
 *
 * @param root Repository root.
 * @param record The run.
 * @param rows The rows.
 * @returns The files written.
 */
export async function writeRecord(root: string, record: RunRecord, rows: Row[]): Promise<string[]> {
  const dir = `${root}/bench/results`;
  await Deno.mkdir(dir, { recursive: true });
  const json = `${JSON.stringify(record, null, 2)}\n`;
  if (record.settings.quick) {
    await Deno.writeTextFile(`${dir}/quick.json`, json);
    return [`${dir}/quick.json`];
  }
  const stamp = record.startedAt.replace(/[:.]/g, "-");
  const files = [`${dir}/${stamp}.json`, `${dir}/latest.json`, `${root}/BENCHMARKS.md`];
  await Deno.writeTextFile(files[0]!, json);
  await Deno.writeTextFile(files[1]!, json);
  const old = await Deno.readTextFile(files[2]!).catch(() => "");
  await Deno.writeTextFile(files[2]!, renderMarkdown(record, rows) + keptSections(old));
  return files;
}

/**
 * The sections other benchmarks write into BENCHMARKS.md (between `<!-- name:begin …-->` and
 * `<!-- name:end -->`, e.g. the soak's), so that rewriting the file keeps them.
 *
 * @param text The file's current text.
 * @returns Those sections, each preceded by a blank line ("" when there are none).
 */
export function keptSections(text: string): string {
  const sections = text.match(/<!-- ([a-z-]+):begin[^>]*-->[\s\S]*?<!-- \1:end -->/g) ?? [];
  return sections.map((section) => `\n${section}\n`).join("");
}

/** Bytes as MiB, for progress lines. */
export function mibText(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}
