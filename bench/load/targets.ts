/**
 * The servers the load harness measures, each started as its own process on a loopback port:
 * the bare `Deno.serve` hello handler (the limit), Bundlehost (`main.ts`, started as
 * `deno task run` starts it) serving the hello bundle in one isolation tier, and workerd serving
 * the same handler.
 *
 * @module
 */
import { resolve } from "node:path";
import type { ProcessGroup, Started } from "./procs.ts";
import type { Shape } from "./loadgen.ts";

/** The repository root. */
export const ROOT: string = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
/** The hello bundle fixture. */
export const HELLO_BUNDLE: string = `${ROOT}/bench/load/hello_bundle`;
const BARE_SERVER = `${ROOT}/bench/load/bare_server.ts`;
const WORKER_HOP_SERVER = `${ROOT}/bench/load/worker_hop_server.ts`;
const WORKER_JS = `${ROOT}/bench/load/workerd/worker.js`;
/** The committed workerd config (one worker). */
export const WORKERD_CONFIG: string = `${ROOT}/bench/load/workerd/config.capnp`;

/** Paths every target answers, per shape (the bare and workerd handlers ignore the path). */
export const PATHS: Record<Shape["name"], string> = {
  rpc: "/rpc/HelloBench/hello",
  http: "/b/hello-bench/",
};

/** What each shape must answer, byte for byte. */
export const EXPECTED: Record<Shape["name"], string> = {
  rpc: '{"result":"hello"}',
  http: "hello",
};

/** A running server. */
export interface Server {
  /** Process id (the engine's, for Bundlehost: its sandboxes are descendants). */
  readonly pid: number;
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The process, for its output. */
  readonly process: Started;
  /** Stops it and everything it started. */
  stop(): Promise<void>;
}

/** A running Bundlehost engine. */
export interface BundlehostServer extends Server {
  /** Calls the admin API with the engine's token. */
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  /** Releases a bundle folder and checks it is ACTIVE. */
  release(path: string): Promise<void>;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A free loopback port (bound, read, released: another process could take it in between, which
 * loopback-only benchmarking tolerates).
 *
 * @returns The port.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Polls `url` until it answers 2xx.
 *
 * @param url URL to GET.
 * @param process The server, so that an early exit fails fast.
 * @param timeoutMs Longest wait.
 * @throws {Error} When the server exits or the time runs out.
 */
export async function waitForReply(
  url: string,
  process: Started,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    if (process.exited()) {
      await process.status;
      throw new Error(`${process.name} exited before answering:\n${process.output()}`);
    }
    if (Date.now() > deadline) throw new Error(`${process.name} did not answer ${url} in time`);
    await pause(1);
  }
}

/**
 * Sends one request of `shape` and checks the reply's status and bytes.
 *
 * @param url Full URL.
 * @param shape Request shape.
 * @param headers Extra headers.
 * @returns The response headers.
 * @throws {Error} On a wrong reply.
 */
export async function probe(
  url: string,
  shape: Shape,
  headers: Record<string, string> = {},
): Promise<Headers> {
  const response = await fetch(url, {
    method: shape.method,
    ...(shape.body !== undefined
      ? { body: shape.body, headers: { "content-type": "application/json", ...headers } }
      : { headers }),
  });
  const text = await response.text();
  if (response.status !== 200 || text !== EXPECTED[shape.name]) {
    throw new Error(`${shape.method} ${url} answered ${response.status} ${text.slice(0, 300)}`);
  }
  return response.headers;
}

function baseEnv(): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** How many workers `worker_hop_server.ts` starts, and which module they run. */
export interface WorkerHopOptions {
  /** Workers started (requests go to the first). */
  workers: number;
  /** `node`: each worker loads Deno's Node layer, as a worker-tier sandbox does. */
  variant: "plain" | "node";
}

/**
 * Starts the bare `Deno.serve` hello handler, or (`workerHop`) the same with the answer coming
 * from one Web Worker.
 *
 * @param group Where the process is registered.
 * @param port When set, listen there and return at the first reply (for cold start); otherwise
 * an ephemeral port, returned when the server says it listens.
 * @param workerHop Start `worker_hop_server.ts` instead of `bare_server.ts` (with options: that
 * many workers, for the memory floor).
 * @returns The server.
 */
export async function startBare(
  group: ProcessGroup,
  port?: number,
  workerHop: boolean | WorkerHopOptions = false,
): Promise<Server> {
  const args = ["run", "--allow-net=127.0.0.1"];
  if (workerHop) args.push(`--allow-read=${ROOT}/bench/load`, WORKER_HOP_SERVER);
  else args.push(BARE_SERVER);
  args.push(String(port ?? 0));
  if (typeof workerHop === "object") args.push(String(workerHop.workers), workerHop.variant);
  const process = group.spawn(
    workerHop ? "Deno.serve + worker hop" : "bare Deno.serve",
    Deno.execPath(),
    args,
    { clearEnv: true, env: baseEnv() },
  );
  try {
    let url = `http://127.0.0.1:${port}`;
    if (port === undefined) {
      url = (await process.waitFor(/listening on (http:\/\/[0-9.]+:\d+)/, 60_000))[1]!;
    } else await waitForReply(`${url}/`, process, 60_000);
    return { pid: process.pid, url, process, stop: () => process.stop() };
  } catch (error) {
    await process.stop();
    throw error;
  }
}

/**
 * The flags of `deno task run` (read from deno.json, so they stay in step), with the repository
 * paths made absolute, the data folder moved, and `extraRead` readable too.
 *
 * @param dataDir The engine's data folder.
 * @param extraRead More folders the engine may read (the harness's bundle copies).
 * @returns `deno` arguments up to (without) `main.ts`.
 * @throws {Error} When the run task has no `deno run … main.ts` form.
 */
export async function engineRunFlags(dataDir: string, extraRead: string[]): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)) as {
    tasks: Record<string, string | { command: string }>;
  };
  const task = config.tasks.run;
  const command = typeof task === "string" ? task : task?.command ?? "";
  const tokens = command.trim().split(/\s+/);
  const end = tokens.findIndex((t) => t === "main.ts" || t === "./main.ts");
  if (tokens[0] !== "deno" || tokens[1] !== "run" || end < 0) {
    throw new Error(`deno.json's run task is not "deno run … main.ts": ${command}`);
  }
  const paths = (list: string, map: (p: string) => string) =>
    list.split(",").filter((p) => p !== "").map(map);
  return tokens.slice(2, end).map((flag) => {
    const [name, value] = flag.split(/=(.*)/s) as [string, string | undefined];
    if (value === undefined) return flag;
    if (name === "--allow-read") {
      const read = paths(value, (p) => p === ".bundlehost" ? dataDir : resolve(ROOT, p));
      return `--allow-read=${[...read, ...extraRead].join(",")}`;
    }
    if (name === "--allow-write") {
      return `--allow-write=${
        paths(value, (p) => p === ".bundlehost" ? dataDir : resolve(ROOT, p)).join(",")
      }`;
    }
    return flag;
  });
}

/** Options of {@linkcode startEngine}. */
export interface EngineStartOptions {
  /** Force every bundle into this tier (`--isolation`). @default {each manifest's own tier} */
  isolation?: "worker" | "process";
  /** Name of the process, for messages. @default {"bundlehost"} */
  name?: string;
  /** Bundle ids the operator policy trusts with the worker tier (`--ceiling`). @default {none} */
  trusted?: string[];
  /**
   * Services every bundle may provide besides their first owner (`--ceiling` `services`): the
   * cold-start and idle-memory copies provide the hello bundle's service. @default {none}
   */
  sharedServices?: string[];
  /** Longest wait for the engine to listen (it restores its registry first), ms. @default {60000} */
  listenTimeoutMs?: number;
}

/**
 * Starts the engine (`main.ts`, with the run task's flags) on a fresh data folder with no bundle.
 *
 * @param group Where the process is registered.
 * @param workDir A fresh folder for the data folder; the engine may also read `readDir`.
 * @param readDir Where the harness writes bundle copies (the engine releases them from there).
 * @param options Tier and name.
 * @returns The server, listening, with an empty registry.
 */
export async function startEngine(
  group: ProcessGroup,
  workDir: string,
  readDir: string,
  options: EngineStartOptions = {},
): Promise<BundlehostServer> {
  const dataDir = `${workDir}/data`;
  const empty = `${workDir}/no-bundles`;
  await Deno.mkdir(empty, { recursive: true });
  const token = Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const flags = await engineRunFlags(dataDir, [workDir, readDir]);
  const tier = options.isolation ? ["--isolation", options.isolation] : [];
  if (options.trusted || options.sharedServices) {
    const policy: Record<string, unknown> = {};
    if (options.trusted) policy.trusted = options.trusted;
    if (options.sharedServices) {
      policy.services = Object.fromEntries(options.sharedServices.map((s) => [s, ["*"]]));
    }
    await Deno.writeTextFile(`${workDir}/policy.json`, JSON.stringify(policy));
    tier.push("--ceiling", `${workDir}/policy.json`);
  }
  const process = group.spawn(options.name ?? "bundlehost", Deno.execPath(), [
    ...flags,
    `${ROOT}/main.ts`,
    ...["--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, "--bundles", empty],
    ...tier,
  ], { cwd: ROOT, clearEnv: true, env: { ...baseEnv(), BUNDLEHOST_ADMIN_TOKEN: token } });
  try {
    const url = (await process.waitFor(
      /listening on (http:\/\/[0-9.]+:\d+)/,
      options.listenTimeoutMs ?? 60_000,
    ))[1]!;
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const release = async (path: string) => {
      const response = await admin("POST", "/admin/releases", { path });
      const result = await response.json() as { state?: string };
      if (!response.ok || result.state !== "ACTIVE") {
        throw new Error(`Release of ${path} answered ${response.status} ${JSON.stringify(result)}`);
      }
    };
    return { pid: process.pid, url, process, admin, release, stop: () => process.stop() };
  } catch (error) {
    await process.stop();
    throw error;
  }
}

/**
 * Starts the engine (`main.ts`, with the run task's flags) in one isolation tier, on a fresh data
 * folder, and releases the hello bundle through the admin API.
 *
 * @param group Where the process is registered.
 * @param tier Isolation tier, forced with `--isolation`.
 * @param workDir A fresh folder for the data folder; the engine may also read `readDir`.
 * @param readDir Where the harness writes bundle copies (cold start, idle memory).
 * @returns The server, with the hello bundle ACTIVE.
 */
export async function startBundlehost(
  group: ProcessGroup,
  tier: "worker" | "process",
  workDir: string,
  readDir: string,
): Promise<BundlehostServer> {
  const server = await startEngine(group, workDir, readDir, {
    isolation: tier,
    name: `bundlehost (${tier})`,
    sharedServices: ["HelloBench"],
  });
  try {
    await server.release(HELLO_BUNDLE);
    return server;
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/**
 * Writes a workerd config with `count` copies of the hello worker, each behind its own socket.
 *
 * @param dir Folder for the config and a copy of worker.js.
 * @param count Number of workers.
 * @returns The config path and the socket ports (worker 0 first).
 */
export async function writeWorkerdConfig(
  dir: string,
  count: number,
): Promise<{ config: string; ports: number[] }> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.copyFile(WORKER_JS, `${dir}/worker.js`);
  const ports = Array.from({ length: count }, () => freePort());
  const services = ports.map((_, i) => `    (name = "hello${i}", worker = .helloWorker),`);
  const sockets = ports.map((port, i) =>
    `    (name = "http${i}", address = "127.0.0.1:${port}", http = (), service = "hello${i}"),`
  );
  const config = [
    'using Workerd = import "/workerd/workerd.capnp";',
    "",
    "const config :Workerd.Config = (",
    "  services = [",
    ...services,
    "  ],",
    "  sockets = [",
    ...sockets,
    "  ],",
    ");",
    "",
    "const helloWorker :Workerd.Worker = (",
    '  modules = [(name = "worker.js", esModule = embed "worker.js")],',
    '  compatibilityDate = "2024-09-23",',
    ");",
    "",
  ].join("\n");
  await Deno.writeTextFile(`${dir}/config.capnp`, config);
  return { config: `${dir}/config.capnp`, ports };
}

/**
 * Starts workerd.
 *
 * @param group Where the process is registered.
 * @param bin The workerd executable.
 * @param config Config file.
 * @param port When set, the `http` socket is moved to this port (the committed config).
 * @param readyUrl URL that answers once it serves (defaults to the `http` socket's).
 * @returns The server.
 */
export async function startWorkerd(
  group: ProcessGroup,
  bin: string,
  config: string,
  port?: number,
  readyUrl?: string,
): Promise<Server> {
  const args = ["serve", config];
  if (port !== undefined) args.push("--socket-addr", `http=127.0.0.1:${port}`);
  const process = group.spawn("workerd", bin, args, { clearEnv: true, env: baseEnv() });
  const url = port === undefined ? new URL(readyUrl!).origin : `http://127.0.0.1:${port}`;
  try {
    await waitForReply(readyUrl ?? `${url}/`, process, 60_000);
    return { pid: process.pid, url, process, stop: () => process.stop() };
  } catch (error) {
    await process.stop();
    throw error;
  }
}
