/**
 * Development mode (`deno task dev`): the engine watches bundle folders and, on every save, vets
 * the folder and swaps it in as a new development revision (`<version>-dev.<epoch ms>`), without a
 * version bump and without failing a call in flight: a revision goes ACTIVE the way any release
 * does (calls in flight finish on the one before, which stays warm), and a change that does not
 * release leaves the revision before serving. Old development revisions are removed as new ones
 * come, so a long session keeps a few release folders per bundle, not one per save.
 *
 * @module
 */
import type { Engine } from "../engine.ts";
import { type Clock, systemClock, type TimerHandle } from "../base/clock.ts";

/**
 * Options of {@linkcode DevMode}.
 *
 * @example Watch two bundle folders
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 * import { DevMode, type DevModeOptions } from "./dev_mode.ts";
 *
 * await using engine = await createEngine();
 * const options: DevModeOptions = { folders: ["./bundles/hello", "./bundles/catalog"] };
 * await using dev = new DevMode(engine, options);
 * ```
 */
export interface DevModeOptions {
  /** Bundle folders (each with a `bundle.json`) to release and watch. */
  folders: string[];
  /** Quiet time after the last change in a folder before it is released, ms. @default {150} */
  debounceMs?: number;
  /** Development revisions kept per bundle besides those serving. @default {2} */
  keep?: number;
  /** Time source of the debounce and of revision numbers. @default {systemClock} */
  clock?: Clock;
  /** Where progress lines go. @default {console.log} */
  print?: (line: string) => void;
  /** Where failures go, once per change. @default {console.error} */
  printError?: (line: string) => void;
}

/**
 * What one reload did.
 *
 * @example Report a reload
 * ```ts
 * import type { Reload } from "./dev_mode.ts";
 * function report(reload: Reload): string {
 *   return reload.ok ? `${reload.label} in ${reload.ms} ms` : reload.error;
 * }
 * console.log(report({ folder: "bundles/hello", ok: true, label: "hello@1.0.0-dev.1", ms: 42 }));
 * ```
 */
export type Reload =
  | { folder: string; ok: true; label: string; ms: number }
  | { folder: string; ok: false; error: string };

/** A development revision of `version`: same release, later prerelease. */
function devVersion(version: string, at: number): string {
  const base = version.replace(/-.*$/, "").replace(/\+.*$/, "");
  return `${base}-dev.${at}`;
}

const DEV = /-dev\.[0-9]+$/;

/** Watches bundle folders and releases each saved change as a development revision. */
export class DevMode implements AsyncDisposable {
  readonly #engine: Engine;
  readonly #folders: string[];
  readonly #debounceMs: number;
  readonly #keep: number;
  readonly #clock: Clock;
  readonly #print: (line: string) => void;
  readonly #printError: (line: string) => void;
  readonly #timers = new Map<string, TimerHandle>();
  /** One reload at a time per folder; a change during a reload queues one more. */
  readonly #running = new Map<string, Promise<Reload>>();
  readonly #again = new Set<string>();
  readonly #lastError = new Map<string, string>();
  /** Each folder's real path, as file events name it. */
  readonly #real = new Map<string, string>();
  #watcher: Deno.FsWatcher | undefined;
  #watching: Promise<void> | undefined;
  #lastVersion = 0;

  /**
   * Creates development mode for an engine; nothing happens until {@linkcode DevMode.start}.
   *
   * @param engine The engine.
   * @param options Folders, debounce, printing.
   */
  constructor(engine: Engine, options: DevModeOptions) {
    this.#engine = engine;
    this.#folders = options.folders.map((f) => f.replace(/\/+$/, ""));
    this.#debounceMs = options.debounceMs ?? 150;
    this.#keep = options.keep ?? 2;
    this.#clock = options.clock ?? systemClock;
    this.#print = options.print ?? console.log;
    this.#printError = options.printError ?? console.error;
  }

  /**
   * Releases every folder once, then watches them all.
   *
   * @returns What the first release of each folder did.
   */
  async start(): Promise<Reload[]> {
    const first: Reload[] = [];
    for (const folder of this.#folders) first.push(await this.reload(folder));
    for (const folder of this.#folders) {
      this.#real.set(folder, await Deno.realPath(folder).catch(() => folder));
    }
    if (this.#folders.length > 0) {
      this.#watcher = Deno.watchFs(this.#folders, { recursive: true });
      this.#watching = this.#watch(this.#watcher);
    }
    return first;
  }

  /**
   * Releases a folder now as a development revision and prunes old ones. A failure is printed
   * once (again only when it changes) and leaves the serving revision as it is.
   *
   * @param folder One of the watched folders.
   * @returns What it did.
   */
  reload(folder: string): Promise<Reload> {
    const running = this.#running.get(folder);
    if (running) {
      this.#again.add(folder);
      return running;
    }
    const next = this.#reloadOnce(folder).finally(() => {
      this.#running.delete(folder);
      if (this.#again.delete(folder)) void this.reload(folder);
    });
    this.#running.set(folder, next);
    return next;
  }

  async #reloadOnce(folder: string): Promise<Reload> {
    const started = this.#clock.monotonic();
    let manifest: { id?: unknown; version?: unknown };
    try {
      manifest = JSON.parse(await Deno.readTextFile(`${folder}/bundle.json`));
    } catch (error) {
      return this.#failed(folder, `${folder}/bundle.json: ${(error as Error).message}`);
    }
    const id = typeof manifest.id === "string" ? manifest.id : undefined;
    const base = typeof manifest.version === "string" ? manifest.version : undefined;
    if (id === undefined || base === undefined) {
      return this.#failed(folder, `${folder}/bundle.json: needs "id" and "version"`);
    }
    // Strictly increasing, so two saves in one millisecond still get two versions.
    this.#lastVersion = Math.max(this.#lastVersion + 1, this.#clock.now());
    const version = devVersion(base, this.#lastVersion);
    const registry = this.#engine.registry;
    try {
      const result = await registry.release({ path: folder }, { version });
      if (result.state !== "ACTIVE") {
        const status = this.#engine.bundle(id).revisions.find((r) => r.version === version);
        throw new Error(status?.error ?? `the new revision is ${result.state}, not ACTIVE`);
      }
    } catch (error) {
      // The registry names files in the author's folder already (engine/base/author_terms.ts).
      return this.#failed(folder, `${folder}: ${(error as Error).message}`);
    }
    await registry.prune(id, this.#keep, (v) => DEV.test(v)).catch(() => []);
    this.#lastError.delete(folder);
    const ms = Math.round(this.#clock.monotonic() - started);
    const label = `${id}@${version}`;
    this.#print(`Reloaded ${label} from ${folder} in ${ms} ms`);
    return { folder, ok: true, label, ms };
  }

  #failed(folder: string, error: string): Reload {
    if (this.#lastError.get(folder) !== error) this.#printError(error);
    this.#lastError.set(folder, error);
    return { folder, ok: false, error };
  }

  async #watch(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        if (event.kind === "access") continue;
        for (const path of event.paths) {
          const folder = this.#folderOf(path);
          if (folder !== undefined) this.#schedule(folder);
        }
      }
    } catch {
      // Closed.
    }
  }

  #folderOf(path: string): string | undefined {
    let best: string | undefined;
    let bestLength = -1;
    for (const [folder, real] of this.#real) {
      if ((path === real || path.startsWith(`${real}/`)) && real.length > bestLength) {
        best = folder;
        bestLength = real.length;
      }
    }
    return best;
  }

  #schedule(folder: string): void {
    const timer = this.#timers.get(folder);
    if (timer !== undefined) this.#clock.clearTimeout(timer);
    this.#timers.set(
      folder,
      this.#clock.setTimeout(() => {
        this.#timers.delete(folder);
        void this.reload(folder);
      }, this.#debounceMs),
    );
  }

  /** Resolves once no reload is running, queued or waiting out its debounce. */
  async idle(): Promise<void> {
    while (this.#running.size > 0 || this.#timers.size > 0 || this.#again.size > 0) {
      if (this.#running.size > 0) await Promise.allSettled([...this.#running.values()]);
      else await new Promise((resolve) => this.#clock.setTimeout(() => resolve(undefined), 10));
    }
  }

  /** Stops watching; reloads in progress finish. */
  async close(): Promise<void> {
    for (const timer of this.#timers.values()) this.#clock.clearTimeout(timer);
    this.#timers.clear();
    try {
      this.#watcher?.close();
    } catch {
      // Already closed.
    }
    await this.#watching;
    await Promise.allSettled([...this.#running.values()]);
  }

  /** Same as {@linkcode DevMode.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
