/**
 * Real-HTTP test harness: an engine with the service-release plugin served by `Deno.serve` on an
 * ephemeral loopback port (in-process), or the real `main.ts` in a child process (for crash tests).
 *
 * @module
 */
import { createEngine, type Engine, type EngineOptions } from "../mod.ts";
import { serviceRelease, type ServiceReleaseOptions } from "../plugins/service_release/mod.ts";
import { FAST, ROOT } from "./_helpers.ts";

/** Admin token used by every test server. */
export const TEST_TOKEN = "test-token-0123456789abcdef";

/** A running test server. */
export interface TestServer extends AsyncDisposable {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** The engine. */
  engine: Engine;
  /** Temporary folder (data in `<root>/.bundlehost`). */
  root: string;
  /** `fetch` against the server; adds the admin token when `admin` is true. */
  request(path: string, init?: RequestInit & { admin?: boolean }): Promise<Response>;
}

/**
 * Starts an engine with the service-release plugin on 127.0.0.1 and an ephemeral port.
 *
 * @param options Engine options (plugins are appended after service-release).
 * @param release Service-release plugin options.
 * @returns The server; `await using` stops it and removes its folder.
 */
export async function testServer(
  options: EngineOptions = {},
  release: ServiceReleaseOptions = {},
): Promise<TestServer> {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-http-" });
  const engine = await createEngine({
    ...FAST,
    dataDir: `${root}/.bundlehost`,
    ...options,
    plugins: [serviceRelease({ adminToken: TEST_TOKEN, ...release }), ...(options.plugins ?? [])],
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, engine.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    engine,
    root,
    request(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.admin) headers.set("authorization", `Bearer ${TEST_TOKEN}`);
      return fetch(`${url}${path}`, { ...init, headers });
    },
    async [Symbol.asyncDispose]() {
      // A test's stream left open would keep the server's graceful shutdown waiting.
      engine.endStreams();
      await server.shutdown();
      await engine.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** Flags `deno task run` uses, with the data folder moved (kept in step with deno.json). */
/**
 * The flags of `deno task run` (read from deno.json, so tests always run the engine exactly as
 * shipped), with the project folder made absolute and the data folder moved to `dataDir`.
 *
 * @param dataDir Data folder for this engine.
 * @returns `deno` arguments up to (not including) the script.
 */
export function runFlags(dataDir: string): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  const words = config.tasks.run!.split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run" || words.at(-1) !== "main.ts") {
    throw new Error(`Unexpected run task: ${config.tasks.run}`);
  }
  return words.slice(1, -1).map((flag) => {
    if (flag === "--allow-read=.") return `--allow-read=${ROOT},${dataDir}`;
    if (flag === "--allow-write=.bundlehost") return `--allow-write=${dataDir}`;
    return flag;
  });
}

/** The real engine (`main.ts`) running in a child process. */
export interface EngineProcess extends AsyncDisposable {
  /** Base URL. */
  url: string;
  /** Child process id. */
  pid: number;
  /** Everything the child printed so far. */
  output(): string;
  /** Whether the child has exited (its status has settled); needs no access to `/proc`. */
  exited(): boolean;
  /** SIGKILL, then wait for exit. */
  kill9(): Promise<void>;
  /** SIGTERM, then wait for exit. */
  stop(): Promise<Deno.CommandStatus>;
}

/**
 * Starts `main.ts` in a child process on an ephemeral port and waits until it listens.
 *
 * @param dataDir Data folder.
 * @param args Extra arguments for main.ts (e.g. `["--bundles", `${dataDir}/empty`]`, a folder the engine may read).
 * @param env Extra environment variables (e.g. `OTEL_DENO`, read by Deno itself at start).
 * @param nofile When set, the child's file-descriptor limit (set with `prlimit`).
 * @returns The process handle.
 */
export async function startEngineProcess(
  dataDir: string,
  args: string[] = [],
  env: Record<string, string> = {},
  nofile?: number,
): Promise<EngineProcess> {
  const deno = [
    ...runFlags(dataDir),
    `${ROOT}/main.ts`,
    "--port",
    "0",
    "--data-dir",
    dataDir,
    ...args,
  ];
  const child = new Deno.Command(nofile === undefined ? "deno" : "prlimit", {
    args: nofile === undefined ? deno : [`--nofile=${nofile}`, "deno", ...deno],
    cwd: ROOT,
    env: { BUNDLEHOST_ADMIN_TOKEN: TEST_TOKEN, NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const deadline = Date.now() + 60_000;
  let url: string | undefined;
  let early: Deno.CommandStatus | undefined;
  child.status.then((s) => (early = s));
  while (!url) {
    const match = /listening on (http:\/\/[0-9.]+:[0-9]+)/.exec(text);
    if (match) url = match[1];
    else if (early) {
      await pumps;
      throw new Error(`Engine exited with code ${early.code} before listening:\n${text}`);
    } else if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`Engine did not start within 60 s:\n${text}`);
    } else await new Promise((r) => setTimeout(r, 20));
  }
  let exited = false;
  const status = child.status.then(async (s) => {
    exited = true;
    await pumps;
    return s;
  });
  return {
    url: url!,
    pid: child.pid,
    output: () => text,
    exited: () => exited,
    async kill9() {
      if (!exited) child.kill("SIGKILL");
      await status;
    },
    async stop() {
      if (!exited) child.kill("SIGTERM");
      return await status;
    },
    async [Symbol.asyncDispose]() {
      if (!exited) child.kill("SIGKILL");
      await status;
    },
  };
}

/** Admin headers for a JSON request. */
export function adminJson(): HeadersInit {
  return { authorization: `Bearer ${TEST_TOKEN}`, "content-type": "application/json" };
}

/** What a `main.ts` run that ended by itself printed. */
export interface EngineExit {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Runs `main.ts` with the `deno task run` flags (for data folder `flagsDir`) and waits, at most
 * 60 s, for it to exit: for start-up mistakes, which must end it at once.
 *
 * @param flagsDir Data folder the run-task flags are made for (see {@linkcode runFlags}).
 * @param args Arguments for main.ts (`--bundles <flagsDir>/none` comes first).
 * @returns Exit code and output.
 */
export async function runEngineToExit(flagsDir: string, args: string[]): Promise<EngineExit> {
  const child = new Deno.Command("deno", {
    args: [...runFlags(flagsDir), `${ROOT}/main.ts`, "--bundles", `${flagsDir}/none`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const output = await child.output();
  clearTimeout(timer);
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
