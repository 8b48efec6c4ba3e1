/**
 * The load harness's child processes: every process it starts is registered here, and
 * {@linkcode ProcessGroup.stopAll} ends them all, with their descendants (an engine's process-tier
 * children), whatever happened. Also reads the memory of a process tree from `/proc`.
 *
 * @module
 */
import { median } from "./stats.ts";

/** Options of {@linkcode ProcessGroup.spawn}. */
export interface SpawnOptions {
  /** Working directory. @default {the harness's} */
  cwd?: string;
  /** Environment; with `clearEnv` the only variables the child gets. @default {{}} */
  env?: Record<string, string>;
  /** Start from an empty environment. @default {false} */
  clearEnv?: boolean;
  /** Bytes of output kept for error messages (the rest is read and dropped). @default {65536} */
  keepBytes?: number;
}

/** A child the harness started. */
export interface Started {
  /** Short name, for messages. */
  readonly name: string;
  /** Process id. */
  readonly pid: number;
  /** Resolves with the exit status. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Whether it has exited. */
  exited(): boolean;
  /** The last output (stdout and stderr interleaved). */
  output(): string;
  /**
   * Waits until the output matches `pattern`.
   *
   * @returns The match.
   * @throws {Error} When the process exits first or `timeoutMs` passes.
   */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after `graceMs`; its descendants too. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

interface ProcStat {
  pid: number;
  ppid: number;
  start: string;
}

const decoder = new TextDecoder();

/** Runs a shell snippet (Deno asks for --allow-all to read /proc itself, so `cat` reads it). */
async function sh(script: string, args: string[] = []): Promise<string> {
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", script, "sh", ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(30_000),
    }).output();
    return decoder.decode(out.stdout);
  } catch {
    return "";
  }
}

/** Every process's pid, parent and start time, from /proc/<pid>/stat. */
async function snapshot(): Promise<ProcStat[]> {
  const out: ProcStat[] = [];
  for (const line of (await sh("cat /proc/[0-9]*/stat 2>/dev/null")).split("\n")) {
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
    const close = line.lastIndexOf(")");
    if (close < 0) continue;
    const fields = line.slice(close + 2).split(" ");
    out.push({ pid: parseInt(line), ppid: Number(fields[1]), start: fields[19] ?? "" });
  }
  return out;
}

/**
 * Every live descendant of `pid` (children, grandchildren, …), read from `/proc`.
 *
 * @param pid Root process id.
 * @returns Their `/proc` identities (pid and start time, so a reused pid is never mistaken).
 */
export async function descendants(pid: number): Promise<ProcStat[]> {
  const all = await snapshot();
  const out: ProcStat[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const stat of all) {
      if (stat.ppid === parent) {
        out.push(stat);
        frontier.push(stat.pid);
      }
    }
  }
  return out;
}

/** Memory of a process and its descendants, bytes. */
export interface TreeMemory {
  /** Sum of VmRSS (shared pages counted once per process). */
  rss: number;
  /** Sum of Pss from `smaps_rollup` (shared pages split between the processes sharing them). */
  pss: number;
  /** Processes counted. */
  processes: number;
}

/**
 * Reads the resident memory of `pid` and every descendant from `/proc`.
 *
 * @param pid Root process id.
 * @returns Summed RSS and PSS.
 */
export async function treeMemory(pid: number): Promise<TreeMemory> {
  const pids = [pid, ...(await descendants(pid)).map((d) => String(d.pid))].map(String);
  const text = await sh(
    'for p in "$@"; do cat "/proc/$p/status" "/proc/$p/smaps_rollup" 2>/dev/null; done',
    pids,
  );
  const sum = (field: string) =>
    [...text.matchAll(new RegExp(`^${field}:\\s+(\\d+) kB`, "gm"))]
      .reduce((n, m) => n + Number(m[1]) * 1024, 0);
  return {
    rss: sum("VmRSS"),
    pss: sum("Pss"),
    processes: [...text.matchAll(/^VmRSS:/gm)].length,
  };
}

async function alive(stat: ProcStat): Promise<boolean> {
  const text = await sh('cat "/proc/$1/stat" 2>/dev/null', [String(stat.pid)]);
  return text !== "" && text.slice(text.lastIndexOf(")") + 2).split(" ")[19] === stat.start;
}

async function anyAlive(stats: ProcStat[]): Promise<ProcStat[]> {
  const live: ProcStat[] = [];
  for (const stat of stats) if (await alive(stat)) live.push(stat);
  return live;
}

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every child process the harness started, so that none outlives it. */
export class ProcessGroup {
  readonly #children = new Set<Started>();
  #closed = false;

  /** Whether {@linkcode ProcessGroup.stopAll} has been called (the run was interrupted or ended). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Children not yet stopped. */
  get size(): number {
    return this.#children.size;
  }

  /**
   * Starts a child with piped output, registered for {@linkcode ProcessGroup.stopAll}.
   *
   * @param name Short name, for messages.
   * @param command Executable.
   * @param args Arguments.
   * @param options Working directory, environment, output kept.
   * @returns The running child.
   * @throws {Error} Once {@linkcode ProcessGroup.stopAll} has been called.
   */
  spawn(name: string, command: string, args: string[], options: SpawnOptions = {}): Started {
    // After an interrupt the run's own flow may still try to start the next server.
    if (this.#closed) throw new Error(`Not starting ${name}: the harness is stopping`);
    const child = new Deno.Command(command, {
      args,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      env: options.env ?? {},
      clearEnv: options.clearEnv ?? false,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const keep = options.keepBytes ?? 65_536;
    let text = "";
    let done = false;
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        text += chunk;
        if (text.length > keep * 2) text = text.slice(-keep);
      }
    };
    const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]).catch(() => {});
    const exit = child.status.then((s) => {
      done = true;
      return s;
    });
    const status = exit.then(async (s) => {
      await pumps;
      return s;
    });
    let stopping: Promise<void> | undefined;
    const started: Started = {
      name,
      pid: child.pid,
      status,
      exited: () => done,
      output: () => text.slice(-keep),
      async waitFor(pattern, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        while (true) {
          const match = text.match(pattern);
          if (match) return match;
          if (done) {
            await status;
            throw new Error(`${name} exited before printing ${pattern}:\n${text.slice(-4000)}`);
          }
          if (Date.now() > deadline) {
            throw new Error(`${name} did not print ${pattern} within ${timeoutMs} ms`);
          }
          await pause(10);
        }
      },
      stop: (graceMs = 5_000) => {
        stopping ??= (async () => {
          // Read before the root goes: an orphan would be re-parented and lost to the scan.
          const tree = await descendants(child.pid);
          if (!done) signal(child.pid, "SIGTERM");
          const deadline = Date.now() + graceMs;
          while (!done && Date.now() < deadline) await pause(20);
          if (!done) child.kill("SIGKILL");
          await exit;
          while ((await anyAlive(tree)).length > 0 && Date.now() < deadline) await pause(50);
          for (const stat of await anyAlive(tree)) signal(stat.pid, "SIGKILL");
          // A descendant holding the pipes open must not keep this waiting.
          await Promise.race([pumps, pause(1_000)]);
          this.#children.delete(started);
        })();
        return stopping;
      },
    };
    this.#children.add(started);
    return started;
  }

  /** Stops every child still registered (in parallel) and refuses to start new ones. */
  async stopAll(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#children].map((c) => c.stop(3_000)));
  }
}

/**
 * Runs `work` with a process group and a temporary folder, and stops every child and removes the
 * folder afterwards, also on Ctrl-C or SIGTERM (exit codes 130 and 143).
 *
 * @param prefix Prefix of the temporary folder's name.
 * @param work The run.
 */
export async function withProcessGroup(
  prefix: string,
  work: (group: ProcessGroup, tmp: string) => Promise<void>,
): Promise<void> {
  const group = new ProcessGroup();
  const tmp = await Deno.makeTempDir({ prefix });
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    cleaning ??= (async () => {
      await group.stopAll();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    })();
  const onSignal = (signal: Deno.Signal, code: number) => () => {
    console.error(`\n${signal}: stopping ${group.size} processes`);
    void cleanup().finally(() => Deno.exit(code));
  };
  const sigint = onSignal("SIGINT", 130);
  const sigterm = onSignal("SIGTERM", 143);
  Deno.addSignalListener("SIGINT", sigint);
  Deno.addSignalListener("SIGTERM", sigterm);
  try {
    await work(group, tmp);
  } finally {
    await cleanup();
    Deno.removeSignalListener("SIGINT", sigint);
    Deno.removeSignalListener("SIGTERM", sigterm);
  }
}

/**
 * Samples a tree's memory five times, 100 ms apart, after `settleMs` of quiet, and keeps the
 * median of each figure (shared by the idle-memory and density sections).
 *
 * @param pid Root of the tree.
 * @param settleMs Quiet before the first sample, ms.
 * @returns The medians.
 */
export async function settledMemory(pid: number, settleMs: number): Promise<TreeMemory> {
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  await pause(settleMs);
  const samples: TreeMemory[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(await treeMemory(pid));
    await pause(100);
  }
  return {
    rss: median(samples.map((s) => s.rss)),
    pss: median(samples.map((s) => s.pss)),
    processes: median(samples.map((s) => s.processes)),
  };
}
