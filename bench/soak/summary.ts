/**
 * The soak benchmark's figures, computed from what the generator, the drivers and the sampler
 * recorded: errors by kind, latency percentiles (overall, per bundle, per second), whether the
 * generator kept up, and the engine's memory and descriptors over time.
 *
 * @module
 */
import { type OpenLoopResult, OUTCOME } from "./open_loop.ts";
import type { ResourceSample } from "./sampler.ts";

/** Latency percentiles, ms. */
export interface Percentiles {
  /** Replies counted. */
  n: number;
  /** Median. */
  p50: number;
  /** 90th percentile. */
  p90: number;
  /** 99th percentile. */
  p99: number;
  /** 99.9th percentile. */
  p999: number;
  /** Slowest. */
  max: number;
}

/** Failed requests of the good traffic, by kind. */
export interface ErrorCounts {
  /** All of them. */
  total: number;
  /** HTTP status (not 200) → count. */
  byStatus: Record<string, number>;
  /** The socket failed or closed. */
  socket: number;
  /** No reply within the client timeout. */
  timeout: number;
  /** Not sent: too many requests in flight (the engine fell behind). */
  skipped: number;
  /** 200 with a body that is not `{"result": …}`. */
  badBody: number;
}

/** The good traffic, summed up. */
export interface TrafficSummary {
  /** Requests due. */
  due: number;
  /** Answered 200 with a result. */
  ok: number;
  /** Failures. */
  errors: ErrorCounts;
  /** Due time → reply of the ok requests. */
  latency: Percentiles;
  /** The same per target name. */
  perTarget: Record<string, { due: number; ok: number; errors: number; latency: Percentiles }>;
  /** Requests the generator took up per second (sent, or skipped at the in-flight cap). */
  takenPerS: number;
  /** Requests sent per second (the rate the engine was offered). */
  sentPerS: number;
  /** Due time → handed to a connection: the generator's own delay. */
  lag: Percentiles;
}

/** One second of the soak. */
export interface SecondRow {
  /** Second index from the soak's start. */
  s: number;
  /** Requests due in it. */
  due: number;
  /** Failed ones. */
  errors: number;
  /** Median latency of its ok replies, ms. */
  p50: number;
  /** 99th percentile, ms. */
  p99: number;
}

/** Memory and descriptors over the soak. */
export interface ResourceSummary {
  /** Reading at the soak's start (load not yet on). */
  start: ResourceSample;
  /** Reading after the soak and a settle pause. */
  end: ResourceSample;
  /** Highest engine RSS seen, bytes. */
  maxEngineRss: number;
  /** Highest engine fd count seen. */
  maxEngineFds: number;
  /** Highest children RSS sum seen, bytes. */
  maxChildrenRss: number;
  /** Least-squares slope of the engine's RSS over the soak, MiB per minute. */
  engineRssSlopeMiBPerMin: number;
  /** The engine process's CPU use over the soak, in cores (1 = one core busy all the time). */
  engineCpuCores: number;
  /** Its descendants' CPU use over the soak (the sandboxes, the hostile one too), in cores. */
  childrenCpuCores: number;
  /** Share of the soak's wall time the engine's main thread ran on a CPU. */
  mainRunShare: number;
  /** Share of it the main thread waited, runnable, for a CPU (the machine's contention). */
  mainWaitShare: number;
}

/**
 * Percentiles by nearest rank (NaN values ignored).
 *
 * @param values Values.
 * @returns The percentiles (NaN when empty).
 */
export function percentiles(values: ArrayLike<number>): Percentiles {
  const sorted = Float64Array.from(values).filter((v) => Number.isFinite(v)).sort();
  const n = sorted.length;
  const at = (q: number) => n === 0 ? NaN : sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!;
  return { n, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: at(1) };
}

function errorCounts(r: OpenLoopResult, pick: (i: number) => boolean): ErrorCounts {
  const e: ErrorCounts = { total: 0, byStatus: {}, socket: 0, timeout: 0, skipped: 0, badBody: 0 };
  for (let i = 0; i < r.count; i++) {
    const status = r.status[i]!;
    if (status === 200 || !pick(i)) continue;
    e.total++;
    if (status === OUTCOME.socketError) e.socket++;
    else if (status === OUTCOME.timeout) e.timeout++;
    else if (status === OUTCOME.skipped) e.skipped++;
    else if (status === OUTCOME.badBody) e.badBody++;
    else e.byStatus[status] = (e.byStatus[status] ?? 0) + 1;
  }
  return e;
}

function okLatencies(r: OpenLoopResult, pick: (i: number) => boolean): Float64Array {
  const out: number[] = [];
  for (let i = 0; i < r.count; i++) if (r.status[i] === 200 && pick(i)) out.push(r.latencyMs[i]!);
  return Float64Array.from(out);
}

/**
 * Sums up the good traffic.
 *
 * @param r The generator's records.
 * @param targets Target names, by index.
 * @param seconds How long requests were due, s.
 * @returns The summary.
 */
export function summariseTraffic(
  r: OpenLoopResult,
  targets: string[],
  seconds: number,
): TrafficSummary {
  const all = () => true;
  const perTarget: TrafficSummary["perTarget"] = {};
  targets.forEach((name, t) => {
    const pick = (i: number) => r.target[i] === t;
    const latency = percentiles(okLatencies(r, pick));
    const errors = errorCounts(r, pick).total;
    let due = 0;
    for (let i = 0; i < r.count; i++) if (pick(i)) due++;
    perTarget[name] = { due, ok: latency.n, errors, latency };
  });
  const lag = percentiles(r.lagMs);
  const latency = percentiles(okLatencies(r, all));
  return {
    due: r.count,
    ok: latency.n,
    errors: errorCounts(r, all),
    latency,
    perTarget,
    takenPerS: lag.n / seconds,
    sentPerS: (lag.n - errorCounts(r, all).skipped) / seconds,
    lag,
  };
}

/**
 * Per-second rows of the good traffic (by due time).
 *
 * @param r The generator's records.
 * @returns One row per second.
 */
export function perSecond(r: OpenLoopResult): SecondRow[] {
  const buckets: { due: number; errors: number; ok: number[] }[] = [];
  for (let i = 0; i < r.count; i++) {
    const s = Math.floor(r.dueMs[i]! / 1000);
    const b = buckets[s] ??= { due: 0, errors: 0, ok: [] };
    b.due++;
    if (r.status[i] === 200) b.ok.push(r.latencyMs[i]!);
    else b.errors++;
  }
  return buckets.map((b, s) => {
    const p = percentiles(b.ok);
    return { s, due: b.due, errors: b.errors, p50: p.p50, p99: p.p99 };
  });
}

/**
 * Memory and descriptors: start, end, highs and the RSS trend.
 *
 * @param samples Readings during the soak (the first one before the load).
 * @param end The reading after the soak and a settle pause.
 * @returns The summary.
 */
export function summariseResources(
  samples: ResourceSample[],
  end: ResourceSample,
): ResourceSummary {
  const all = [...samples, end];
  const max = (pick: (s: ResourceSample) => number) =>
    Math.max(...all.map(pick).filter((v) => Number.isFinite(v)));
  const points = samples.filter((s) => Number.isFinite(s.engineRss));
  const n = points.length;
  const mx = points.reduce((a, s) => a + s.atS, 0) / n;
  const my = points.reduce((a, s) => a + s.engineRss, 0) / n;
  const sxy = points.reduce((a, s) => a + (s.atS - mx) * (s.engineRss - my), 0);
  const sxx = points.reduce((a, s) => a + (s.atS - mx) ** 2, 0);
  const first = points[0];
  const last = points.at(-1);
  const cores = (pick: (s: ResourceSample) => number) =>
    first && last && last.atS > first.atS
      ? (pick(last) - pick(first)) / (last.atS - first.atS)
      : NaN;
  return {
    engineCpuCores: cores((s) => s.engineCpuS),
    childrenCpuCores: cores((s) => s.childrenCpuS),
    mainRunShare: cores((s) => s.mainRunS),
    mainWaitShare: cores((s) => s.mainWaitS),
    start: samples[0] ?? end,
    end,
    maxEngineRss: max((s) => s.engineRss),
    maxEngineFds: max((s) => s.engineFds),
    maxChildrenRss: max((s) => s.childrenRss),
    engineRssSlopeMiBPerMin: n > 1 && sxx > 0 ? (sxy / sxx) * 60 / 2 ** 20 : NaN,
  };
}

/** The good traffic while one misbehaviour had its turn. */
export interface SlotRow {
  /** Behaviour name. */
  name: string;
  /** Good requests due during its slots. */
  due: number;
  /** Failed ones. */
  errors: number;
  /** Latency of the ok ones. */
  latency: Percentiles;
}

/**
 * Splits the good traffic by the misbehaviour whose slot it fell in.
 *
 * @param r The generator's records.
 * @param hostileStartEpochMs When the hostile driver's first slot started (epoch ms).
 * @param slotMs Slot length, ms.
 * @param names Behaviour names in rotation order.
 * @returns One row per behaviour.
 */
export function bySlot(
  r: OpenLoopResult,
  hostileStartEpochMs: number,
  slotMs: number,
  names: string[],
): SlotRow[] {
  const rows = names.map(() => ({ due: 0, errors: 0, ok: [] as number[] }));
  const offset = r.startEpochMs - hostileStartEpochMs;
  for (let i = 0; i < r.count; i++) {
    const at = offset + r.dueMs[i]!;
    if (at < 0) continue;
    const row = rows[Math.floor(at / slotMs) % names.length]!;
    row.due++;
    if (r.status[i] === 200) row.ok.push(r.latencyMs[i]!);
    else row.errors++;
  }
  return rows.map((row, k) => ({
    name: names[k]!,
    due: row.due,
    errors: row.errors,
    latency: percentiles(row.ok),
  }));
}
