/**
 * Shared harness of the hostile-input suite (`tests/hostile_*_test.ts`): the real engine
 * (`main.ts`) in a child process with a victim bundle, and a probe that keeps calling the victim,
 * `/healthz` and the admin API while an attack runs, recording every latency and failure.
 *
 * Bounds are deliberately generous (no request over 500 ms by default): the suite proves that the
 * engine holds, not how fast it is, and must pass on a loaded 2-core machine.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type BundleFiles, writeBundle } from "./_helpers.ts";
import { type EngineProcess, startEngineProcess, TEST_TOKEN } from "./_server.ts";

/** A bundle to put in the engine's `bundles/` folder: its manifest and other files. */
export interface BundleSpec {
  /** `bundle.json` content. */
  manifest: Record<string, unknown>;
  /** Other files, e.g. `{ "mod.ts": "…" }`. */
  files: BundleFiles;
}

/** The victim: a bundle with no grants whose `VictimService.ping` answers at once. */
export const VICTIM: BundleSpec = {
  manifest: {
    id: "victim",
    version: "1.0.0",
    entry: "./mod.ts",
    services: { VictimService: "1.0.0" },
  },
  files: {
    "mod.ts": `export default {
  services: { VictimService: { ping: (input) => ({ pong: true, input }) } },
  fetch: () => new Response("victim"),
};`,
  },
};

/** An engine process started for one hostile test, with its folders. */
export interface HostileEngine extends AsyncDisposable {
  /** The engine process (url, pid, output). */
  proc: EngineProcess;
  /** Base URL. */
  url: string;
  /** Temporary root folder. */
  root: string;
  /** The engine's data folder. */
  dataDir: string;
}

/** Options of {@linkcode hostileEngine}. */
export interface HostileEngineOptions {
  /** Bundles released at first start besides the victim. */
  bundles?: BundleSpec[];
  /** Extra arguments for main.ts. */
  args?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /**
   * Operator policy written to a file and passed as `--ceiling` (e.g. `{"services": {"S": ["*"]}}`
   * when several bundles provide one service on purpose).
   */
  policy?: Record<string, unknown>;
  /** The engine's file-descriptor limit (`prlimit --nofile`); the inherited one when unset. */
  nofile?: number;
}

/**
 * Starts the real engine with the victim bundle (and `bundles`) released, on an ephemeral port.
 *
 * @param options Bundles, arguments and environment.
 * @returns The engine; `await using` kills it and removes its folders.
 */
export async function hostileEngine(options: HostileEngineOptions = {}): Promise<HostileEngine> {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-hostile-" });
  // The data folder is the root itself: the engine may read only the project and its data folder,
  // and the bundles it releases at first start must be readable.
  const dataDir = root;
  const bundlesDir = `${root}/seed`;
  for (const spec of [VICTIM, ...(options.bundles ?? [])]) {
    await writeBundle(bundlesDir, spec.manifest, spec.files);
  }
  const policyArgs: string[] = [];
  if (options.policy) {
    await Deno.writeTextFile(`${root}/policy.json`, JSON.stringify(options.policy));
    policyArgs.push("--ceiling", `${root}/policy.json`);
  }
  const proc = await startEngineProcess(
    dataDir,
    ["--bundles", bundlesDir, ...policyArgs, ...(options.args ?? [])],
    options.env,
    options.nofile,
  );
  return {
    proc,
    url: proc.url,
    root,
    dataDir,
    async [Symbol.asyncDispose]() {
      await proc.kill9();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** What a probe saw. */
export interface ProbeReport {
  /** Rounds completed (each round: healthz, victim call, admin list). */
  rounds: number;
  /** Slowest answer per target, in ms. */
  maxMs: { healthz: number; call: number; admin: number };
  /** Every failed or too-slow request, described. */
  failures: string[];
}

/** A probe running against an engine; `stop()` ends it and returns what it saw. */
export interface Probe {
  /** Stops the probe and returns its report. */
  stop(): Promise<ProbeReport>;
}

/** Options of {@linkcode probe}. */
export interface ProbeOptions {
  /** Pause between rounds, in ms. @default 25 */
  intervalMs?: number;
  /** A request slower than this is a failure, in ms. @default 500 */
  boundMs?: number;
}

/**
 * Starts probing `url`: `/healthz`, `POST /rpc/VictimService/ping` and `GET /admin/bundles`, one
 * after the other, round after round, each on a fresh connection so a connection attack cannot
 * hide behind a pooled keep-alive socket.
 *
 * @param url Engine base URL.
 * @param options Interval and bound.
 * @returns The running probe.
 */
export function probe(url: string, options: ProbeOptions = {}): Probe {
  const intervalMs = options.intervalMs ?? 25;
  const boundMs = options.boundMs ?? 500;
  const report: ProbeReport = { rounds: 0, maxMs: { healthz: 0, call: 0, admin: 0 }, failures: [] };
  let running = true;
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const one = async (
    target: keyof ProbeReport["maxMs"],
    path: string,
    init: RequestInit,
    check: (response: Response, body: string) => boolean,
  ) => {
    const started = performance.now();
    try {
      const response = await fetch(`${url}${path}`, {
        ...init,
        client,
        signal: AbortSignal.timeout(10_000),
      });
      const body = await response.text();
      const ms = performance.now() - started;
      report.maxMs[target] = Math.max(report.maxMs[target], ms);
      if (!check(response, body)) {
        report.failures.push(`${target}: ${response.status} ${body.slice(0, 200)}`);
      } else if (ms > boundMs) report.failures.push(`${target}: ${ms.toFixed(0)} ms`);
    } catch (error) {
      report.maxMs[target] = Math.max(report.maxMs[target], performance.now() - started);
      report.failures.push(`${target}: ${(error as Error).message}`);
    }
  };
  const loop = (async () => {
    while (running) {
      await one("healthz", "/healthz", {}, (r) => r.ok);
      await one("call", "/rpc/VictimService/ping", {
        method: "POST",
        headers: { "content-type": "application/json", "x-route-id": "victim" },
        body: "{}",
      }, (r, body) => r.ok && body.includes('"pong":true'));
      await one(
        "admin",
        "/admin/bundles",
        { headers: { authorization: `Bearer ${TEST_TOKEN}` } },
        (r) => r.ok,
      );
      report.rounds++;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      client.close();
      return report;
    },
  };
}

/**
 * Asserts that the engine held during an attack: the probe completed rounds, nothing failed or
 * took longer than its bound, and the engine process is still alive.
 *
 * @param report What the probe saw.
 * @param engine The engine under attack.
 * @param minRounds Rounds the probe must have completed.
 */
export function assertHeld(report: ProbeReport, engine: HostileEngine, minRounds = 3): void {
  // Not alive(): `deno task test` may not read /proc (Deno wants --allow-all there).
  assert.ok(!engine.proc.exited(), `engine process ${engine.proc.pid} is gone`);
  assert.deepEqual(report.failures, [], `probe failures: ${report.failures.join("; ")}`);
  assert.ok(report.rounds >= minRounds, `probe completed only ${report.rounds} rounds`);
}

/**
 * Whether a process is still running (not a zombie).
 *
 * @param pid Process id.
 * @returns True while `/proc/<pid>` exists and is not a zombie.
 */
export function alive(pid: number): boolean {
  const status = procText(pid, "status");
  return status !== undefined && !/^State:\s+Z/m.test(status);
}

/**
 * Reads `/proc/<pid>/<name>`. Deno asks for `--allow-all` to read another process's `/proc`
 * entries, which `deno task test` does not grant, so then it is read by a `deno eval` child
 * (which has every permission, and `--allow-run=deno` allows).
 *
 * @param pid Process id.
 * @param name Entry: `status`, or `fd` for the count of open descriptors.
 * @returns The text (for `fd`, the count), or `undefined` when the process is gone.
 */
function procText(pid: number, name: "status" | "fd"): string | undefined {
  const path = `/proc/${pid}/${name}`;
  try {
    return name === "fd" ? String([...Deno.readDirSync(path)].length) : Deno.readTextFileSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) return undefined;
  }
  const read = name === "fd"
    ? `console.log([...Deno.readDirSync(${JSON.stringify(path)})].length)`
    : `console.log(Deno.readTextFileSync(${JSON.stringify(path)}))`;
  const output = new Deno.Command("deno", {
    args: ["eval", `try { ${read} } catch { Deno.exit(3) }`],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  return output.success ? new TextDecoder().decode(output.stdout) : undefined;
}

/**
 * Resident memory of a process, from `/proc/<pid>/status`.
 *
 * @param pid Process id.
 * @returns RSS in MiB.
 */
export function rssMiB(pid: number): number {
  const status = procText(pid, "status") ?? "";
  const kib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return kib / 1024;
}

/**
 * Open file descriptors of a process.
 *
 * @param pid Process id.
 * @returns How many entries `/proc/<pid>/fd` holds.
 */
export function openFds(pid: number): number {
  return Number(procText(pid, "fd") ?? NaN);
}

/**
 * Total size of the files under a folder.
 *
 * @param path Folder.
 * @returns Bytes.
 */
export async function folderBytes(path: string): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir(path)) {
    const full = `${path}/${entry.name}`;
    if (entry.isDirectory) total += await folderBytes(full);
    else if (entry.isFile) total += (await Deno.stat(full)).size;
  }
  return total;
}
