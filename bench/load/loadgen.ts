/**
 * The load generator and the other outside tools, pinned: wrk (Debian; C, one thread,
 * microsecond latencies) by default, or autocannon from npm. npm tools run from npm's own
 * cache (`npm exec`), never from the repository tree.
 *
 * @module
 */
import type { ProcessGroup, Started } from "./procs.ts";

/** workerd's npm version (`npm:workerd`); its binary comes in `@cloudflare/workerd-<platform>`. */
export const WORKERD_VERSION = "1.20261117.1";
/** autocannon's npm version, the fallback load generator. */
export const AUTOCANNON_VERSION = "9.0.0";

const LUA = new URL("./wrk_report.lua", import.meta.url).pathname;

/** One request shape, the same for every target. */
export interface Shape {
  /** `rpc` (POST, JSON body) or `http` (GET). */
  name: "rpc" | "http";
  /** HTTP method. */
  method: "GET" | "POST";
  /** Request body (POST only). */
  body?: string;
}

/** What one load run measured. */
export interface LoadResult {
  /** Completed requests per second. */
  rps: number;
  /** Median latency, ms. */
  p50Ms: number;
  /** 99th percentile latency, ms. */
  p99Ms: number;
  /** Requests completed. */
  requests: number;
  /** Responses that were not 2xx/3xx. */
  non2xx: number;
  /** Socket errors and timeouts. */
  errors: number;
}

/** A load generator: same connections, same duration, same shape for every target. */
export interface LoadGenerator {
  /** `wrk` or `autocannon`. */
  readonly name: string;
  /** Version as the tool reports it. */
  readonly version: string;
  /** How finely it reports latency. */
  readonly resolution: string;
  /**
   * Drives `url` with `connections` keep-alive connections for `seconds`.
   *
   * @returns The run's figures.
   */
  run(url: string, shape: Shape, seconds: number, connections: number): Promise<LoadResult>;
}

/** Which generator: `auto` is wrk when it is (or can be made) available, else autocannon. */
export type LoadGeneratorChoice = "auto" | "wrk" | "autocannon";

const decoder = new TextDecoder();

async function capture(
  command: string,
  args: string[],
  timeoutMs: number,
  env: Record<string, string> = {},
): Promise<{ success: boolean; text: string }> {
  try {
    const out = await new Deno.Command(command, {
      args,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    return {
      success: out.success,
      text: decoder.decode(out.stdout) + decoder.decode(out.stderr),
    };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { success: false, text: "not found" };
    throw error;
  }
}

/**
 * Resolves an npm package's executable through `npm exec` (npx), installing it into npm's cache
 * on first use.
 *
 * @param spec Package and pinned version, e.g. `workerd@1.20261117.1`.
 * @param bin Executable name.
 * @returns The real path of the executable.
 * @throws {Error} When npm cannot install or find it.
 */
export async function npmBin(spec: string, bin: string): Promise<string> {
  const out = await capture(
    "npm",
    ["exec", "--yes", `--package=${spec}`, "-c", `command -v ${bin}`],
    600_000,
    { npm_config_update_notifier: "false", npm_config_fund: "false" },
  );
  const path = out.text.split("\n").map((l) => l.trim()).find((l) => l.startsWith("/"));
  if (!out.success || !path) throw new Error(`Cannot get ${spec} from npm:\n${out.text}`);
  return await Deno.realPath(path);
}

function stopAfter(child: Started, ms: number): () => void {
  // Every load run ends by itself; this only bounds a generator that hangs.
  const timer = setTimeout(() => {
    console.error(`${child.name} ran ${ms} ms: stopping it`);
    void child.stop();
  }, ms);
  return () => clearTimeout(timer);
}

function wrk(group: ProcessGroup, version: string): LoadGenerator {
  return {
    name: "wrk",
    version,
    resolution: "1 µs",
    async run(url, shape, seconds, connections) {
      const child = group.spawn(
        "wrk",
        "wrk",
        ["-t1", `-c${connections}`, `-d${seconds}s`, "--timeout", "5s", "-s", LUA, url],
        { env: { WRK_METHOD: shape.method, WRK_BODY: shape.body ?? "" } },
      );
      const cancel = stopAfter(child, (seconds + 30) * 1000);
      const status = await child.status.finally(cancel);
      await child.stop();
      const line = /WRK_JSON (\{.*\})/.exec(child.output())?.[1];
      if (!status.success || !line) throw new Error(`wrk failed:\n${child.output()}`);
      const r = JSON.parse(line) as {
        durationUs: number;
        requests: number;
        errors: Record<string, number>;
        latencyUs: { p50: number; p99: number };
      };
      const e = r.errors;
      return {
        rps: r.requests / (r.durationUs / 1e6),
        p50Ms: r.latencyUs.p50 / 1000,
        p99Ms: r.latencyUs.p99 / 1000,
        requests: r.requests,
        non2xx: e.status ?? 0,
        errors: (e.connect ?? 0) + (e.read ?? 0) + (e.write ?? 0) + (e.timeout ?? 0),
      };
    },
  };
}

function autocannon(group: ProcessGroup, bin: string): LoadGenerator {
  return {
    name: "autocannon",
    version: AUTOCANNON_VERSION,
    resolution: "1 ms (its histogram stores whole milliseconds)",
    async run(url, shape, seconds, connections) {
      const args = [bin, "-c", String(connections), "-p", "1", "-d", String(seconds)];
      args.push("--timeout", "5", "--json", "-m", shape.method);
      if (shape.body !== undefined) {
        args.push("-b", shape.body, "-H", "content-type=application/json");
      }
      const child = group.spawn("autocannon", "node", [...args, url]);
      const cancel = stopAfter(child, (seconds + 30) * 1000);
      const status = await child.status.finally(cancel);
      await child.stop();
      const json = child.output().split("\n").find((l) => l.startsWith("{"));
      if (!status.success || !json) throw new Error(`autocannon failed:\n${child.output()}`);
      const r = JSON.parse(json) as {
        duration: number;
        requests: { total: number };
        latency: { p50: number; p99: number };
        non2xx: number;
        errors: number;
        timeouts: number;
      };
      return {
        rps: r.requests.total / r.duration,
        p50Ms: r.latency.p50,
        p99Ms: r.latency.p99,
        requests: r.requests.total,
        non2xx: r.non2xx,
        errors: r.errors + r.timeouts,
      };
    },
  };
}

async function wrkVersion(): Promise<string | undefined> {
  const out = await capture("wrk", ["--version"], 10_000);
  return /^wrk (\S+)/m.exec(out.text)?.[1];
}

function isRoot(): boolean {
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}

/** Installs Debian's wrk when running as root with apt-get, as `.ci/run` installs Prometheus. */
async function installWrk(log: (line: string) => void): Promise<boolean> {
  if (!isRoot()) return false;
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const install = ["install", "-y", "-qq", "--no-install-recommends", "wrk"];
  log("installing wrk (Debian package)");
  if ((await capture("apt-get", install, 600_000, env)).success) return true;
  await capture("apt-get", ["update", "-qq"], 600_000, env);
  return (await capture("apt-get", install, 600_000, env)).success;
}

/**
 * Picks and prepares the load generator.
 *
 * @param group Where its runs are registered, so that cleanup stops them.
 * @param choice `auto`, `wrk` or `autocannon`.
 * @param log Progress lines.
 * @returns The generator.
 * @throws {Error} When the chosen generator cannot be had.
 */
export async function loadGenerator(
  group: ProcessGroup,
  choice: LoadGeneratorChoice,
  log: (line: string) => void,
): Promise<LoadGenerator> {
  if (choice !== "autocannon") {
    let version = await wrkVersion();
    if (version === undefined && await installWrk(log)) version = await wrkVersion();
    if (version !== undefined) return wrk(group, version);
    if (choice === "wrk") throw new Error("wrk is not installed and could not be installed");
    log("wrk is not available: falling back to autocannon (latency in whole ms)");
  }
  return autocannon(group, await npmBin(`autocannon@${AUTOCANNON_VERSION}`, "autocannon"));
}
