/**
 * Facts about the machine and the tools a benchmark ran on, read from `/proc` and the tools.
 *
 * @module
 */

/** The machine a run measured. */
export interface Machine {
  /** Logical CPUs. */
  cpus: number;
  /** CPU model (`model name` in /proc/cpuinfo). */
  cpuModel: string;
  /** Total memory, bytes. */
  memoryBytes: number;
  /** Operating system (PRETTY_NAME in /etc/os-release). */
  os: string;
  /** Kernel release. */
  kernel: string;
  /** 1, 5 and 15 minute load averages when the run started. */
  loadStart: number[];
  /** The same when it ended. */
  loadEnd: number[];
}

function attempt<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/**
 * The load averages now.
 *
 * @returns 1, 5 and 15 minute load averages (empty when unknown).
 */
export function loadAverage(): number[] {
  return attempt(() => Deno.loadavg().map((v) => Math.round(v * 100) / 100), []);
}

/**
 * Reads the machine facts (the end load average is filled in at the end of a run).
 *
 * @returns The facts.
 */
export async function machine(): Promise<Machine> {
  // Deno wants --allow-all to read /proc itself; cat may.
  const cpuinfo = await firstLine("sh", ["-c", "grep -m1 '^model name' /proc/cpuinfo"]) ?? "";
  const osRelease = attempt(() => Deno.readTextFileSync("/etc/os-release"), "");
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: /:\s*(.+)$/.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    memoryBytes: attempt(() => Deno.systemMemoryInfo().total, 0),
    os: /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? Deno.build.os,
    kernel: attempt(() => Deno.osRelease(), "unknown"),
    loadStart: loadAverage(),
    loadEnd: [],
  };
}

/**
 * Runs a command and returns its first output line (for versions and commits).
 *
 * @param command Executable.
 * @param args Arguments.
 * @returns The first non-empty line, or `undefined` when it fails.
 */
export async function firstLine(command: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return out.success ? text.split("\n").find((l) => l.trim() !== "")?.trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The checked-out commit, with `-dirty` when the tree has changes.
 *
 * @param root Repository root.
 * @returns The short commit, or `undefined` outside git.
 */
export async function gitCommit(root: string): Promise<string | undefined> {
  const commit = await firstLine("git", ["-C", root, "rev-parse", "--short", "HEAD"]);
  if (commit === undefined) return undefined;
  const status = await new Deno.Command("git", {
    args: ["-C", root, "status", "--porcelain"],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  const dirty = status !== undefined && status.stdout.byteLength > 0;
  return dirty ? `${commit}-dirty` : commit;
}
