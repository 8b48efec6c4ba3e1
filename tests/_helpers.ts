/**
 * Helpers shared by the integration tests: throwaway bundle folders and engines that always close.
 *
 * @module
 */
import { type Clock, createEngine, type Engine, type EngineOptions } from "../mod.ts";

/** Folder of the repository root. */
export const ROOT: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Files of a test bundle: relative path → content. `bundle.json` is written from `manifest`. */
export type BundleFiles = Record<string, string>;

/**
 * Writes a bundle folder under `root` and returns its path.
 *
 * @param root Parent folder.
 * @param manifest `bundle.json` content (an object, or raw text to test bad JSON).
 * @param files Other files, e.g. `{ "mod.ts": "export default {}" }`.
 * @returns The bundle folder.
 */
export async function writeBundle(
  root: string,
  manifest: Record<string, unknown> | string,
  files: BundleFiles,
): Promise<string> {
  const name = typeof manifest === "string"
    ? `raw-${crypto.randomUUID().slice(0, 8)}`
    : `${String(manifest.id ?? "bundle")}-${String(manifest.version ?? "0")}-${
      crypto.randomUUID().slice(0, 8)
    }`;
  const dir = `${root}/${name}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/bundle.json`,
    typeof manifest === "string" ? manifest : JSON.stringify(manifest, null, 2),
  );
  for (const [path, content] of Object.entries(files)) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, content);
  }
  return dir;
}

/** A temporary folder and an engine whose data lives in it; both go away on dispose. */
export interface TestEngine extends AsyncDisposable {
  /** The engine. */
  engine: Engine;
  /** Temporary folder (bundles can be written under it). */
  root: string;
  /** Writes a bundle under the root (see {@linkcode writeBundle}). */
  bundle(manifest: Record<string, unknown> | string, files: BundleFiles): Promise<string>;
  /** Writes, installs and starts a bundle; returns its folder. */
  deploy(manifest: Record<string, unknown>, files: BundleFiles): Promise<string>;
}

/** Fast timings so fault tests finish quickly; tests override per case. */
export const FAST: EngineOptions = {
  heartbeatMs: 200,
  unresponsiveMs: 1_000,
  probeMs: 300,
  drainMs: 1_000,
  hookTimeoutMs: 2_000,
  startTimeoutMs: 20_000,
  // The version that served before a switch is stopped at once, as these tests expect; the
  // warm rollback target (engine default 300000 ms) is covered by scaling_test.ts and canary_test.ts.
  rollbackWarmMs: 0,
  // These tests exercise the worker tier on purpose (and start faster there): the operator policy
  // trusts every test bundle with it. The library default trusts none (hostile_memory_test.ts).
  ceiling: { trusted: ["*"] },
};

/**
 * Engine options for a test that moves time by hand: the engine runs on `clock`, and heartbeats
 * are spaced far apart, because a heartbeat's reply takes real time while the test may move the
 * clock by seconds at once (the instance would look unresponsive).
 *
 * @param clock The engine's clock, e.g. `new ManualClock(Date.now())`: sandboxes enforce call
 * deadlines on their own real clock, so it must start near real time.
 * @returns Options to pass to {@linkcode testEngine} or `testServer`.
 */
export function manualTime(clock: Clock): EngineOptions {
  return { clock, heartbeatMs: 3_600_000, unresponsiveMs: 7_200_000 };
}

/**
 * Engine options whose operator policy grants several bundles the same services (and topics): a
 * service belongs to the first bundle that releases it, so tests with several providers (routing
 * between implementations, degradeTo, mocks) grant the others explicitly. Keeps FAST's trust.
 *
 * @param services Service name → bundle ids that may provide it.
 * @param topics Topic → bundle ids that may subscribe to it.
 * @returns Options to pass to {@linkcode testEngine} or `testServer`.
 */
export function sharing(
  services: Record<string, string[]>,
  topics: Record<string, string[]> = {},
): EngineOptions {
  return { ceiling: { trusted: ["*"], services, topics } };
}

/**
 * Creates an engine in a fresh temporary folder.
 *
 * @param options Engine options (merged over {@linkcode FAST}).
 * @returns The engine and helpers; `await using` closes the engine and removes the folder.
 */
export async function testEngine(options: EngineOptions = {}): Promise<TestEngine> {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-test-" });
  const engine = await createEngine({ ...FAST, dataDir: `${root}/.bundlehost`, ...options });
  const bundle = (manifest: Record<string, unknown> | string, files: BundleFiles) =>
    writeBundle(`${root}/src`, manifest, files);
  return {
    engine,
    root,
    bundle,
    async deploy(manifest, files) {
      const dir = await bundle(manifest, files);
      await engine.runtime.install(dir);
      await engine.runtime.start(String(manifest.id));
      return dir;
    },
    async [Symbol.asyncDispose]() {
      await engine.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Waits until `check` returns true, polling every 10 ms.
 *
 * @param check Condition.
 * @param timeoutMs Give up after this long.
 * @param what Description for the failure message.
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = "condition",
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A manifest with sensible defaults for tests. */
export function manifest(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, version: "1.0.0", entry: "./mod.ts", ...extra };
}

/**
 * Asserts that `fn` rejects with an instance of `type` whose message includes `includes`, and
 * returns the error for further checks.
 *
 * @param fn Work expected to fail.
 * @param type Expected error class.
 * @param includes Expected message fragment.
 * @returns The error.
 */
export async function rejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => E = Error as unknown as new (...args: any[]) => E,
  includes = "",
): Promise<E> {
  let result: unknown;
  try {
    result = await fn();
  } catch (error) {
    if (!(error instanceof type)) {
      throw new Error(
        `Expected ${type.name}, got ${(error as Error)?.name}: ${(error as Error)?.message}`,
      );
    }
    if (!error.message.includes(includes)) {
      throw new Error(`Expected message to include "${includes}", got "${error.message}"`);
    }
    return error;
  }
  throw new Error(`Expected a rejection with ${type.name}, got a result: ${Deno.inspect(result)}`);
}
