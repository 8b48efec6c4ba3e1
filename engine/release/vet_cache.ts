/**
 * Vetting once per content: `deno info` runs in a subprocess and was the largest part of a release
 * after the sandbox's own start. Two folders whose files are byte-for-byte the same (a new version
 * that changes only `bundle.json`, a restore of a stored release) give the same module graph, so
 * an accepted graph is remembered under a key made of what `deno info` reads and what the verdict
 * depends on: every file of the folder but the manifest (path, size, SHA-256), the entry, the
 * `imports` allow-list, and the `deno` command and working directory it runs with.
 *
 * The manifest is left out because `deno info` does not read it (a module that imports
 * `bundle.json` as JSON gets no dependencies from it, whatever it holds); a folder that differs in
 * any other byte is vetted afresh. Only accepted graphs are kept, with module paths relative to the
 * folder, so a hit is rebased onto the folder being released. Outward links are checked on every
 * folder read from the disk, hit or not (`vet.ts`); a release's own folder, written by the engine
 * from the bytes it keys, holds regular files only and is keyed from those bytes.
 *
 * An engine also keeps its accepted graphs on disk, in its data folder (`<data>/vet/<key>.json`,
 * at most {@linkcode MAX_STORED_GRAPHS}), so a restart does not run `deno info` again for every
 * stored release: restoring 1000 releases was mostly that. The key then also covers the Deno and
 * engine versions, so an upgrade vets afresh. The files sit beside the registry and the releases
 * they describe, with the same trust: whoever can write them can write the releases too.
 *
 * @module
 */

import { ENGINE_VERSION } from "../base/version.ts";
import { toHex } from "../base/bytes.ts";
import { fileDigestLine, type ReleaseFile } from "./files.ts";

/** An accepted graph, module paths relative to the bundle folder. */
export interface CachedGraph {
  /** Local modules, relative to the folder. */
  moduleFiles: string[];
  /** npm packages, as `name@version`. */
  npmPackages: string[];
  /** Remote module specifiers. */
  remoteModules: string[];
}

/** What besides the folder's files decides a verdict. */
export interface VetKeyParts {
  /** Entry module, relative to the folder. */
  entry: string;
  /** The manifest's `imports` allow-list. */
  imports: readonly string[];
  /** Deno executable. */
  denoCommand: string;
  /** Working directory of `deno info`, if set. */
  cwd?: string;
}

/** Most graphs kept in memory. */
const DEFAULT_CAPACITY = 256;

/** Most graphs kept on disk; past it, older files make room. */
export const MAX_STORED_GRAPHS = 4096;

/**
 * The cache key of a folder: SHA-256 over the verdict's inputs and, in path order, every file but
 * the top-level `bundle.json` (links by their target text).
 *
 * @param root Bundle folder (real path).
 * @param parts The other inputs of the verdict.
 * @returns The key.
 */
export async function vetKey(root: string, parts: VetKeyParts): Promise<string> {
  const lines: string[] = [];
  const folders = [""];
  for (let rel = folders.pop(); rel !== undefined; rel = folders.pop()) {
    for await (const entry of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isSymlink) {
        lines.push(`${path}\u0000link\u0000${await Deno.readLink(`${root}/${path}`)}`);
      } else if (entry.isDirectory) folders.push(path);
      else if (path !== "bundle.json") {
        lines.push(await fileDigestLine(path, await Deno.readFile(`${root}/${path}`)));
      }
    }
  }
  return await keyOf(lines, parts);
}

/**
 * {@linkcode vetKey} of a folder holding exactly `files` (regular files, as a release writes
 * them), computed from the bytes in memory: the release that has just written the folder does
 * not read it back.
 *
 * @param files The folder's files, paths relative to it.
 * @param parts The other inputs of the verdict.
 * @returns The key, the same as `vetKey` of that folder gives.
 */
export async function vetKeyOfFiles(
  files: readonly ReleaseFile[],
  parts: VetKeyParts,
): Promise<string> {
  const lines: string[] = [];
  for (const file of files) {
    if (file.path !== "bundle.json") lines.push(await fileDigestLine(file.path, file.data));
  }
  return await keyOf(lines, parts);
}

async function keyOf(lines: string[], parts: VetKeyParts): Promise<string> {
  const head = JSON.stringify([
    parts.entry,
    parts.imports,
    parts.denoCommand,
    parts.cwd ?? null,
    Deno.version.deno,
    ENGINE_VERSION,
    // Graphs vetted with the engine's import map (before `--no-config`) are not reused.
    "no-config",
  ]);
  const text = new TextEncoder().encode([head, ...lines.sort()].join("\n"));
  return toHex(await crypto.subtle.digest("SHA-256", text));
}

/** Accepted graphs by {@linkcode vetKey}, least recently used dropped first. */
export class VetCache {
  readonly #capacity: number;
  readonly #graphs = new Map<string, CachedGraph>();
  readonly #dir: string | undefined;
  readonly #maxStored: number;
  /**
   * The files of the folder, oldest write first: read from the folder once, at the first write,
   * then kept as writes add them, so a write does not list the folder again (that listing took
   * about 60 ms at 1000 files, 240 ms at the cap, on every release).
   */
  #stored?: Promise<Set<string>>;

  /**
   * Creates an empty cache.
   *
   * @param capacity Most graphs kept in memory. @default {256}
   * @param dir A folder to keep accepted graphs in across restarts. @default {memory only}
   * @param maxStored Most files in that folder. @default {MAX_STORED_GRAPHS}
   */
  constructor(capacity: number = DEFAULT_CAPACITY, dir?: string, maxStored = MAX_STORED_GRAPHS) {
    this.#capacity = capacity;
    this.#dir = dir;
    this.#maxStored = maxStored;
  }

  /** Graphs kept in memory. */
  get size(): number {
    return this.#graphs.size;
  }

  /**
   * The graph under `key`, marked as recently used.
   *
   * @param key A {@linkcode vetKey}.
   * @returns A copy of the graph, or `undefined`.
   */
  get(key: string): CachedGraph | undefined {
    const graph = this.#graphs.get(key);
    if (graph === undefined) return undefined;
    this.#graphs.delete(key);
    this.#graphs.set(key, graph);
    return copy(graph);
  }

  /**
   * The graph under `key` from memory, or else from the cache's folder.
   *
   * @param key A {@linkcode vetKey}.
   * @returns A copy of the graph, or `undefined` (also for a file that is not a graph).
   */
  async lookup(key: string): Promise<CachedGraph | undefined> {
    const known = this.get(key);
    if (known !== undefined || this.#dir === undefined || !/^[0-9a-f]{64}$/.test(key)) {
      return known;
    }
    let stored: unknown;
    try {
      stored = JSON.parse(await Deno.readTextFile(`${this.#dir}/${key}.json`));
    } catch {
      return undefined; // Not there, or unreadable: vet afresh.
    }
    if (!isGraph(stored)) return undefined;
    this.#put(key, stored);
    return copy(stored);
  }

  /**
   * Remembers an accepted graph in memory.
   *
   * @param key A {@linkcode vetKey}.
   * @param graph The graph, module paths relative to the folder.
   */
  set(key: string, graph: CachedGraph): void {
    this.#put(key, graph);
  }

  /**
   * Remembers an accepted graph in memory and in the cache's folder. A failed write is not an
   * error: the graph is vetted again after a restart.
   *
   * @param key A {@linkcode vetKey}.
   * @param graph The graph, module paths relative to the folder.
   */
  async remember(key: string, graph: CachedGraph): Promise<void> {
    this.set(key, graph);
    if (this.#dir === undefined) return;
    try {
      await Deno.mkdir(this.#dir, { recursive: true });
      const file = `${this.#dir}/${key}.json`;
      const stored = await (this.#stored ??= storedFiles(this.#dir).catch((error) => {
        this.#stored = undefined; // Listed again at the next write.
        throw error;
      }));
      const temporary = `${file}.${crypto.randomUUID()}.tmp`;
      await Deno.writeTextFile(temporary, JSON.stringify(graph));
      await Deno.rename(temporary, file);
      stored.delete(file); // A rewrite is the newest again.
      stored.add(file);
      await makeRoom(stored, this.#maxStored);
    } catch {
      // Best effort: the in-memory entry still serves this process.
    }
  }

  #put(key: string, graph: CachedGraph): void {
    this.#graphs.delete(key);
    this.#graphs.set(key, graph);
    while (this.#graphs.size > this.#capacity) {
      this.#graphs.delete(this.#graphs.keys().next().value!);
    }
  }
}

/** The folder's files, oldest modification first (a folder that is not there yet has none). */
async function storedFiles(dir: string): Promise<Set<string>> {
  const files: { path: string; mtime: number }[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile) continue;
    const path = `${dir}/${entry.name}`;
    const info = await Deno.stat(path).catch(() => undefined);
    files.push({ path, mtime: info?.mtime?.getTime() ?? 0 });
  }
  files.sort((a, b) => a.mtime - b.mtime);
  return new Set(files.map((f) => f.path));
}

/** Keeps the folder at its cap: past it, the oldest files go. */
async function makeRoom(stored: Set<string>, max: number): Promise<void> {
  for (const path of stored) {
    if (stored.size <= max) return;
    stored.delete(path);
    await Deno.remove(path).catch(() => {});
  }
}

function copy(graph: CachedGraph): CachedGraph {
  return {
    moduleFiles: [...graph.moduleFiles],
    npmPackages: [...graph.npmPackages],
    remoteModules: [...graph.remoteModules],
  };
}

const strings = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === "string");

/** Whether a stored value is a graph whose module paths stay inside the folder. */
function isGraph(value: unknown): value is CachedGraph {
  if (typeof value !== "object" || value === null) return false;
  const graph = value as Record<string, unknown>;
  return strings(graph.moduleFiles) && strings(graph.npmPackages) &&
    strings(graph.remoteModules) &&
    graph.moduleFiles.every((p) => p !== "" && !p.startsWith("/") && !p.split("/").includes(".."));
}
