/**
 * The soak benchmark's resource sampler: once a second, the engine process's RSS and open file
 * descriptors, the summed RSS of its descendants (the process-tier sandboxes) and the CPU time of
 * both, from `/proc` (read through `sh`, as `bench/load/procs.ts` does: Deno wants `--allow-all`
 * to read `/proc`).
 *
 * @module
 */

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
  /** CPU time its descendants have used so far, the exited ones included, s. */
  childrenCpuS: number;
  /** Time the engine's main thread (its event loop) has run on a CPU so far, s. */
  mainRunS: number;
  /** Time it has waited, runnable, for a CPU so far (`/proc/<pid>/schedstat`), s. */
  mainWaitS: number;
  /** Summed VmRSS of the engine's descendants, bytes. */
  childrenRss: number;
  /** How many descendants. */
  children: number;
}

const decoder = new TextDecoder();

/** The fields of `/proc/<pid>/stat` the sampler uses. */
interface Stat {
  ppid: number;
  /** utime + stime, ticks. */
  own: number;
  /** cutime + cstime (children it has reaped), ticks. */
  reaped: number;
  /** Resident pages. */
  rssPages: number;
}

function parseStats(text: string): Map<number, Stat> {
  const stats = new Map<number, Stat>();
  for (const line of text.split("\n")) {
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
    const close = line.lastIndexOf(")");
    if (close < 0 || !/^\d+ \(/.test(line)) continue;
    const f = line.slice(close + 2).split(" ").map(Number);
    stats.set(parseInt(line), {
      ppid: f[1]!,
      own: f[11]! + f[12]!,
      reaped: f[13]! + f[14]!,
      rssPages: f[21]!,
    });
  }
  return stats;
}

/**
 * One reading of the engine process and its descendants (the process-tier sandboxes, `deno info`
 * during a release), from one pass over `/proc`.
 *
 * Children's CPU counts every tick once: a live descendant's own time, and the time of every
 * descendant already reaped (held in its reaper's `cutime`, up to the engine's).
 *
 * @param pid Engine process id.
 * @returns The reading; NaN fields when the process is gone.
 */
export async function sampleEngine(pid: number): Promise<Omit<ResourceSample, "atS">> {
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      'grep "^VmRSS:" "/proc/$1/status"; [ -d "/proc/$1/fd" ] && echo "fds $(ls "/proc/$1/fd" | wc -l)"; ' +
      'echo "hz $(getconf CLK_TCK) page $(getconf PAGESIZE)"; ' +
      'echo "sched $(cat "/proc/$1/schedstat")"; cat /proc/[0-9]*/stat 2>/dev/null',
      "sh",
      String(pid),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(10_000),
  }).output().catch(() => undefined);
  const text = out ? decoder.decode(out.stdout) : "";
  const [, hz = NaN, page = NaN] = /^hz (\d+) page (\d+)/m.exec(text)?.map(Number) ?? [];
  const stats = parseStats(text);
  const engine = stats.get(pid);
  let childrenRss = 0;
  let childrenTicks = engine?.reaped ?? NaN;
  let children = 0;
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const [child, stat] of stats) {
      if (stat.ppid !== parent) continue;
      children++;
      childrenRss += stat.rssPages * page;
      childrenTicks += stat.own + stat.reaped;
      frontier.push(child);
    }
  }
  const sched = /^sched (\d+) (\d+)/m.exec(text);
  return {
    mainRunS: Number(sched?.[1] ?? NaN) / 1e9,
    mainWaitS: Number(sched?.[2] ?? NaN) / 1e9,
    engineRss: Number(/^VmRSS:\s+(\d+) kB/m.exec(text)?.[1] ?? NaN) * 1024,
    engineFds: Number(/^fds (\d+)/m.exec(text)?.[1] ?? NaN),
    engineCpuS: engine ? engine.own / hz : NaN,
    childrenCpuS: childrenTicks / hz,
    childrenRss,
    children,
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
