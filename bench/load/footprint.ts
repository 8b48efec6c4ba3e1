/**
 * Cold start and idle memory, for Bundlehost (per tier) and workerd, with bare Deno as reference.
 *
 * - Bundlehost cold start: `POST /admin/releases` of a new version of a bundle → first successful
 *   `/rpc` reply routed to it (vetting with `deno info`, copy, registry commit, sandbox start); each
 *   version's module differs from the last, as a new version's code does, so vetting runs every
 *   time; a last set releases unchanged code, whose cached verdict skips `deno info`. The engine's
 *   own spawn-to-ready time
 *   (`bundlehost_instance_start_duration_seconds`) beside. The hello bundle asks for no permission,
 *   so in the worker tier it is handed a pre-spawned worker and that time runs from the hand-out to
 *   ready; the engine's reserve fills after the first answered request, so the first sample of a
 *   fresh engine spawns its worker.
 * - workerd and bare Deno cold start: process spawn → first successful reply (their unit of
 *   deployment is the process: workerd cannot add a worker to a running process).
 * - Bundlehost idle memory: growth of the engine's process tree (engine + process-tier children)
 *   per extra idle ACTIVE bundle.
 * - workerd idle memory: growth of one workerd process per extra configured worker (each touched
 *   once), and the whole process with one worker.
 *
 * @module
 */
import { type ProcessGroup, settledMemory, type TreeMemory } from "./procs.ts";
import {
  type BundlehostServer,
  freePort,
  HELLO_BUNDLE,
  PATHS,
  probe,
  type Server,
  startBare,
  startBundlehost,
  startWorkerd,
  waitForReply,
  WORKERD_CONFIG,
  writeWorkerdConfig,
} from "./targets.ts";
import type { Shape } from "./loadgen.ts";

const RPC: Shape = { name: "rpc", method: "POST", body: "{}" };

/** Cold start samples, ms. */
export interface ColdStart {
  /** Request (or spawn) → first successful reply, per sample. */
  firstReplyMs: number[];
  /**
   * Bundlehost: the same with {@linkcode RELEASE_SPACING_MS} of quiet before each release, so the
   * engine's reserve of spare workers has refilled: one release at a time, as an operator makes it.
   */
  spacedReplyMs?: number[];
  /**
   * Bundlehost: the same as `spacedReplyMs`, but each new version's files other than `bundle.json`
   * are those of the version before, so the cached vetting verdict is used and `deno info` does not
   * run.
   */
  sameCodeReplyMs?: number[];
  /** The engine's own spawn-to-ready time per sample (Bundlehost only). */
  instanceStartMs?: number[];
}

/** Cold start figures per target. */
export interface ColdStarts {
  /** Bundlehost per tier. */
  bundlehost: Partial<Record<"worker" | "process", ColdStart>>;
  /** workerd process. */
  workerd?: ColdStart;
  /** Bare Deno process. */
  bare?: ColdStart;
}

/** Idle memory figures per target. */
export interface IdleMemories {
  /** Bundlehost per tier. */
  bundlehost: Partial<Record<"worker" | "process", IdleMemory>>;
  /** workerd. */
  workerd?: IdleMemory;
  /** Bare Deno process. */
  bare?: TreeMemory;
  /**
   * The floor: a bare Deno process's growth per extra idle Web Worker running a ten-line module,
   * without (`plain`) and with (`node`) Deno's Node layer, which a sandbox's hardening loads.
   */
  workerFloor?: Partial<Record<"plain" | "node", IdleMemory>>;
}

/** Memory per idle unit, bytes. */
export interface IdleMemory {
  /** Extra units measured. */
  count: number;
  /** The tree with one unit (the baseline). */
  base: TreeMemory;
  /** The tree with `count` more. */
  loaded: TreeMemory;
  /** (loaded − base) / count, RSS. */
  rssPerUnit: number;
  /** (loaded − base) / count, PSS. */
  pssPerUnit: number;
}

/**
 * Writes a copy of the hello bundle as `id@version`. With `stamp`, the module ends with a comment
 * naming the version, so its content (and the vetting cache's key) is new, as a new version's code
 * is; without it, the module is the hello bundle's byte for byte.
 */
async function copyBundle(
  dir: string,
  id: string,
  version: string,
  stamp = true,
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const source = await Deno.readTextFile(`${HELLO_BUNDLE}/mod.ts`);
  await Deno.writeTextFile(`${dir}/mod.ts`, stamp ? `${source}// ${id}@${version}\n` : source);
  const manifest = JSON.parse(await Deno.readTextFile(`${HELLO_BUNDLE}/bundle.json`));
  await Deno.writeTextFile(`${dir}/bundle.json`, JSON.stringify({ ...manifest, id, version }));
  return dir;
}

function idle(count: number, base: TreeMemory, loaded: TreeMemory): IdleMemory {
  return {
    count,
    base,
    loaded,
    rssPerUnit: (loaded.rss - base.rss) / count,
    pssPerUnit: (loaded.pss - base.pss) / count,
  };
}

async function instanceStartMs(url: string, id: string, version: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) =>
    l.startsWith("bundlehost_instance_start_duration_seconds_sum{") &&
    l.includes(`bundlehost_bundle_id="${id}"`) &&
    l.includes(`bundlehost_bundle_version="${version}"`)
  );
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(" ") + 1)) * 1000;
}

/**
 * Quiet before each spaced release, ms: the refill of the engine's spare worker (its spawn blocks
 * the engine's thread for 20 ms or more, and its boot takes a core for about as long) is over.
 */
export const RELEASE_SPACING_MS = 250;

/**
 * Releases `count` new versions of a fresh bundle one after another and times each release → first
 * reply routed to the new version; then `count` more, each after {@linkcode RELEASE_SPACING_MS} of
 * quiet; then `count` more spaced ones whose code is unchanged (vetting cached). Every other
 * version's module is new.
 *
 * @param server A running engine.
 * @param dir Folder (readable by the engine) for the bundle copies.
 * @param count Samples of each kind.
 * @returns The samples.
 * @throws {Error} When a reply comes from another version.
 */
export async function bundlehostColdStart(
  server: BundlehostServer,
  dir: string,
  count: number,
): Promise<ColdStart> {
  const result: Required<ColdStart> = {
    firstReplyMs: [],
    instanceStartMs: [],
    spacedReplyMs: [],
    sameCodeReplyMs: [],
  };
  const sets = [
    { minor: 0, spaced: false, samples: result.firstReplyMs },
    { minor: 1, spaced: true, samples: result.spacedReplyMs },
    { minor: 2, spaced: true, samples: result.sameCodeReplyMs, sameCode: true },
  ];
  for (const { minor, spaced, samples, sameCode } of sets) {
    if (sameCode) {
      // Its first release vets the unchanged module once; the samples follow.
      await server.release(
        await copyBundle(`${dir}/cold-1.${minor}.0`, "cold-start", `1.${minor}.0`, false),
      );
    }
    for (let i = 1; i <= count; i++) {
      const version = `1.${minor}.${i}`;
      const folder = await copyBundle(`${dir}/cold-${version}`, "cold-start", version, !sameCode);
      if (spaced) await new Promise((resolve) => setTimeout(resolve, RELEASE_SPACING_MS));
      const started = performance.now();
      await server.release(folder);
      const headers = await probe(`${server.url}${PATHS.rpc}`, RPC, { "x-route-id": "cold-start" });
      samples.push(performance.now() - started);
      const served = headers.get("x-bundle");
      if (served !== `cold-start@${version}`) throw new Error(`Reply came from ${served}`);
      if (!spaced) {
        result.instanceStartMs.push(await instanceStartMs(server.url, "cold-start", version));
      }
    }
  }
  return result;
}

/**
 * Measures the engine tree's growth per extra idle bundle (copies of the hello bundle, each
 * ACTIVE with its one instance).
 *
 * @param server A running engine serving only the hello bundle.
 * @param dir Folder (readable by the engine) for the bundle copies.
 * @param count Extra bundles.
 * @param settleMs Pause before each memory reading.
 * @returns The figures.
 */
export async function bundlehostIdleMemory(
  server: BundlehostServer,
  dir: string,
  count: number,
  settleMs: number,
): Promise<IdleMemory> {
  const base = await settledMemory(server.pid, settleMs);
  for (let i = 1; i <= count; i++) {
    await server.release(await copyBundle(`${dir}/idle-${i}`, `idle-${i}`, "1.0.0"));
  }
  return idle(count, base, await settledMemory(server.pid, settleMs));
}

/**
 * Times process spawn → first reply for workerd (the committed one-worker config).
 *
 * @param group Where the processes are registered.
 * @param bin workerd executable.
 * @param count Samples.
 * @returns The samples.
 */
export async function workerdColdStart(
  group: ProcessGroup,
  bin: string,
  count: number,
): Promise<ColdStart> {
  return await processColdStart(count, (port) => startWorkerd(group, bin, WORKERD_CONFIG, port));
}

/**
 * Times process spawn → first reply for the bare Deno.serve handler.
 *
 * @param group Where the processes are registered.
 * @param count Samples.
 * @returns The samples.
 */
export async function bareColdStart(group: ProcessGroup, count: number): Promise<ColdStart> {
  return await processColdStart(count, (port) => startBare(group, port));
}

async function processColdStart(
  count: number,
  start: (port: number) => Promise<Server>,
): Promise<ColdStart> {
  const result: ColdStart = { firstReplyMs: [] };
  for (let i = 0; i < count; i++) {
    const port = freePort();
    const started = performance.now();
    const server = await start(port);
    result.firstReplyMs.push(performance.now() - started);
    await server.stop();
  }
  return result;
}

/**
 * Measures workerd's growth per extra configured worker: one process with one worker, then one
 * with `1 + count`, every worker touched once.
 *
 * @param group Where the processes are registered.
 * @param bin workerd executable.
 * @param dir Scratch folder for the configs.
 * @param count Extra workers.
 * @param settleMs Pause before each memory reading.
 * @returns The figures (`base` is the one-worker process).
 */
export async function workerdIdleMemory(
  group: ProcessGroup,
  bin: string,
  dir: string,
  count: number,
  settleMs: number,
): Promise<IdleMemory> {
  const measure = async (workers: number, sub: string): Promise<TreeMemory> => {
    const { config, ports } = await writeWorkerdConfig(`${dir}/${sub}`, workers);
    const server = await startWorkerd(
      group,
      bin,
      config,
      undefined,
      `http://127.0.0.1:${ports[0]}/`,
    );
    try {
      for (const port of ports) {
        await waitForReply(`http://127.0.0.1:${port}/`, server.process, 10_000);
      }
      return await settledMemory(server.pid, settleMs);
    } finally {
      await server.stop();
    }
  };
  const base = await measure(1, "one");
  return idle(count, base, await measure(1 + count, "many"));
}

/**
 * The bare Deno.serve process's memory once it has answered.
 *
 * @param group Where the process is registered.
 * @param settleMs Pause before the reading.
 * @returns Its memory.
 */
export async function bareIdleMemory(group: ProcessGroup, settleMs: number): Promise<TreeMemory> {
  const server = await startBare(group, freePort());
  try {
    return await settledMemory(server.pid, settleMs);
  } finally {
    await server.stop();
  }
}

/**
 * Measures a bare Deno process's growth per extra idle Web Worker (`worker_hop_server.ts` with one
 * worker, then with `1 + count`, every worker having answered once): what any worker-per-bundle
 * design pays before its own code.
 *
 * @param group Where the processes are registered.
 * @param count Extra workers.
 * @param settleMs Pause before each memory reading.
 * @param variant `node`: each worker loads Deno's Node layer (`node:worker_threads`).
 * @returns The figures (`base` is the one-worker process).
 */
export async function workerFloorMemory(
  group: ProcessGroup,
  count: number,
  settleMs: number,
  variant: "plain" | "node",
): Promise<IdleMemory> {
  const measure = async (workers: number): Promise<TreeMemory> => {
    const server = await startBare(group, undefined, { workers, variant });
    try {
      return await settledMemory(server.pid, settleMs);
    } finally {
      await server.stop();
    }
  };
  const base = await measure(1);
  return idle(count, base, await measure(1 + count));
}

/** What {@linkcode measureFootprint} needs. */
export interface FootprintOptions {
  /** Where every process is registered. */
  group: ProcessGroup;
  /** Scratch folder (engines' data, bundle copies, workerd configs). */
  tmp: string;
  /** workerd executable, when available. */
  workerd?: string;
  /** Cold start samples per target. */
  coldSamples: number;
  /** Extra idle bundles or workers. */
  idleUnits: number;
  /** Pause before a memory reading, ms. */
  settleMs: number;
  /** Records a failed step (the run goes on without its figure). */
  fail(what: string, error: unknown): void;
}

/**
 * Cold start and idle memory of every target, each engine fresh (the cold-start versions must not
 * sit in the memory reading). Stops early once the process group is closed (interrupted).
 *
 * @param options Processes, folders, sample counts, failure sink.
 * @returns The figures that could be taken.
 */
export async function measureFootprint(
  options: FootprintOptions,
): Promise<{ coldStart: ColdStarts; idleMemory: IdleMemories }> {
  const { group, tmp, workerd, fail } = options;
  const coldStart: ColdStarts = { bundlehost: {} };
  const idleMemory: IdleMemories = { bundlehost: {} };
  let serial = 0;
  const step = async (what: string, work: () => Promise<void>) => {
    if (group.closed) return;
    try {
      await work();
    } catch (error) {
      fail(what, error);
    }
  };
  const withEngine = async (
    tier: "worker" | "process",
    work: (server: BundlehostServer) => Promise<void>,
  ) => {
    const server = await startBundlehost(group, tier, `${tmp}/footprint-${++serial}`, tmp);
    try {
      await work(server);
    } finally {
      await server.stop();
    }
  };
  for (const tier of ["worker", "process"] as const) {
    const src = `${tmp}/bundles-${tier}`;
    await step(`cold start, ${tier} tier`, () =>
      withEngine(tier, async (server) => {
        coldStart.bundlehost[tier] = await bundlehostColdStart(server, src, options.coldSamples);
      }));
    await step(`idle memory, ${tier} tier`, () =>
      withEngine(tier, async (server) => {
        idleMemory.bundlehost[tier] = await bundlehostIdleMemory(
          server,
          src,
          options.idleUnits,
          options.settleMs,
        );
      }));
  }
  if (workerd) {
    await step("workerd cold start", async () => {
      coldStart.workerd = await workerdColdStart(group, workerd, options.coldSamples);
    });
    await step("workerd idle memory", async () => {
      idleMemory.workerd = await workerdIdleMemory(
        group,
        workerd,
        `${tmp}/workerd`,
        options.idleUnits,
        options.settleMs,
      );
    });
  }
  await step("bare cold start", async () => {
    coldStart.bare = await bareColdStart(group, options.coldSamples);
  });
  await step("bare idle memory", async () => {
    idleMemory.bare = await bareIdleMemory(group, options.settleMs);
  });
  for (const variant of ["plain", "node"] as const) {
    await step(`Web Worker memory floor (${variant})`, async () => {
      idleMemory.workerFloor ??= {};
      idleMemory.workerFloor[variant] = await workerFloorMemory(
        group,
        options.idleUnits,
        options.settleMs,
        variant,
      );
    });
  }
  return { coldStart, idleMemory };
}
