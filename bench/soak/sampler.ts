/**
 * The soak benchmark's resource sampler: once a second, the engine process's RSS and open file
 * descriptors and the summed RSS of its descendants (the process-tier sandboxes), from `/proc`
 * (read through `sh`, as `bench/load/procs.ts` does: Deno wants `--allow-all` to read `/proc`).
 *
 * @module
 */
import { treeMemory } from "../load/procs.ts";

/** One reading. */
export interface ResourceSample {
  /** Seconds after the sampler started. */
  atS: number;
  /** Engine process VmRSS, bytes. */
  engineRss: number;
  /** Engine process open file descriptors. */
  engineFds: number;
  /** CPU time the engine process has used so far (user + system, all threads), s. */
  engineCpuS: number;
  /** Summed VmRSS of the engine's descendants, bytes. */
  childrenRss: number;
  /** How many descendants. */
  children: number;
}

const decoder = new TextDecoder();

/**
 * One reading of the engine process (and its tree).
 *
 * @param pid Engine process id.
 * @returns RSS, fds and the children's RSS; NaN fields when the process is gone.
 */
export async function sampleEngine(pid: number): Promise<Omit<ResourceSample, "atS">> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      'grep "^VmRSS:" "/proc/$1/status" && echo "fds $(ls "/proc/$1/fd" | wc -l)" && ' +
      'echo "hz $(getconf CLK_TCK)" && cat "/proc/$1/stat"',
      "sh",
      String(pid),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(10_000),
  }).output().catch(() => undefined);
  const text = out ? decoder.decode(out.stdout) : "";
  const engineRss = Number(/^VmRSS:\s+(\d+) kB/m.exec(text)?.[1] ?? NaN) * 1024;
  const engineFds = Number(/^fds (\d+)/m.exec(text)?.[1] ?? NaN);
  const hz = Number(/^hz (\d+)/m.exec(text)?.[1] ?? NaN);
  // /proc/<pid>/stat: "pid (comm) state …"; utime and stime are fields 14 and 15.
  const stat = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const engineCpuS = (Number(stat[11]) + Number(stat[12])) / hz;
  const tree = await treeMemory(pid);
  return {
    engineRss,
    engineFds,
    engineCpuS,
    childrenRss: tree.rss - (Number.isFinite(engineRss) ? engineRss : 0),
    children: Math.max(0, tree.processes - 1),
  };
}

/** A sampler running once a second until stopped. */
export interface Sampler {
  /** Stops it and returns every reading. */
  stop(): Promise<ResourceSample[]>;
}

/**
 * Starts sampling `pid` once a second (the first reading at once).
 *
 * @param pid Engine process id.
 * @param periodMs Time between readings, ms.
 * @returns The running sampler.
 */
export function startSampler(pid: number, periodMs = 1000): Sampler {
  const samples: ResourceSample[] = [];
  const start = performance.now();
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const atS = (performance.now() - start) / 1000;
      samples.push({ atS, ...(await sampleEngine(pid)) });
      const wait = start + (i + 1) * periodMs - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}
