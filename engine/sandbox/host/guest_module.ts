/**
 * The worker tier's guest runtime as one JavaScript module. Every worker-tier sandbox loads the
 * runtime (`../guest/worker_main.ts` and its ~30 TypeScript modules) before its bundle; loaded as
 * one file made by `deno bundle`, a worker's boot takes less CPU and memory, measured in a bare
 * process spawning 20 workers one after another (2 cores, medians of 3 runs): 50–60 ms of CPU per
 * worker against 60–70, and about 0.3 MiB less RSS each.
 *
 * The engine builds it once per process at start, in a child `deno bundle` (the Deno the engine
 * runs bundles with), and writes it into its data folder under a name made of its content's hash,
 * so a file is never rewritten in place; a file found under that name is used only when it holds
 * exactly the build's text, and is replaced otherwise. Until the build is done, and whenever it fails, workers
 * load the TypeScript entry as before: the build only changes how fast a worker boots.
 *
 * The file is engine code loaded with the engine's permissions, as the TypeScript entry is (hole
 * 1); it lives in the data folder, which only the engine writes.
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import { toHex } from "../../base/bytes.ts";

/** The runtime's TypeScript entry. */
export const GUEST_ENTRY: URL = new URL("../guest/worker_main.ts", import.meta.url);

/** File name prefix of a bundled runtime in its folder. */
const PREFIX = "guest-runtime-";

/** Longest a build may take before the engine gives up on it, ms. */
const BUILD_TIMEOUT_MS = 60_000;

// One build per process and Deno executable: every engine of a process (tests make many) shares it.
const built = new Map<string, Promise<string>>();

/**
 * Bundles the guest runtime's entry into one module with `deno bundle`.
 *
 * @param denoCommand Deno executable.
 * @returns The module's text.
 * @throws {Error} When `deno bundle` fails or times out.
 */
function entryPath(): string {
  return decodeURIComponent(GUEST_ENTRY.pathname);
}

async function bundleRuntime(denoCommand: string): Promise<string> {
  const output = await new Deno.Command(denoCommand, {
    // `--no-config`: the runtime imports only relative modules and Node built-ins. Not
    // `--keep-names`: its `__name` helper would enter the source of `hardenGuestScope`, which runs
    // alone as the first module of a nested worker (where the helper does not exist); a name a
    // bundle can read is set where it is made (`string_body.ts`).
    args: ["bundle", "--quiet", "--platform", "deno", "--no-config", "--no-lock", entryPath()],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
  }).output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().slice(0, 2_000);
    throw new Error(`deno bundle exited with code ${output.code}: ${stderr}`);
  }
  const text = new TextDecoder().decode(output.stdout);
  // The runtime's entry ends by starting the runtime: a cut output would not.
  if (!text.includes("startRuntime(")) throw new Error("deno bundle gave no runtime");
  return text;
}

async function contentName(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  const hex = toHex(new Uint8Array(digest).slice(0, 12));
  return `${PREFIX}${hex}.js`;
}

/** Removes the runtimes an earlier engine version wrote (best effort). */
async function pruneOthers(dir: string, keep: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name !== keep && entry.name.startsWith(PREFIX)) {
      await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
    }
  }
}

/** The module a worker-tier sandbox boots from: the bundled runtime once built, else the source. */
export class GuestModule {
  #url: URL = GUEST_ENTRY;

  /** The module to spawn a worker with now. */
  get url(): URL {
    return this.#url;
  }

  /**
   * Builds the bundled runtime (once per process) and writes it into `dir`; from then on
   * {@linkcode GuestModule.url} names it. Never rejects: a failure keeps the TypeScript entry.
   *
   * @param dir A folder only the engine writes (created if missing).
   * @param denoCommand Deno executable.
   * @returns Why the build failed, or `undefined` when the bundled runtime is in use.
   */
  async prepare(dir: string, denoCommand: string): Promise<string | undefined> {
    try {
      let build = built.get(denoCommand);
      if (build === undefined) {
        build = bundleRuntime(denoCommand);
        built.set(denoCommand, build);
        // A later engine may try again.
        build.catch(() => built.delete(denoCommand));
      }
      const text = await build;
      const name = await contentName(text);
      const path = `${dir}/${name}`;
      // A file already there is used only when it holds exactly this text.
      const present = await Deno.readTextFile(path).catch(() => undefined);
      if (present !== text) {
        await Deno.mkdir(dir, { recursive: true });
        const partial = `${path}.${crypto.randomUUID()}.partial`;
        await Deno.writeTextFile(partial, text);
        await Deno.rename(partial, path);
      }
      this.#url = pathToFileURL(path);
      await pruneOthers(dir, name);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }
}
