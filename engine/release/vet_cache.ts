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
 * folder, hit or not (`vet.ts`).
 *
 * @module
 */

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

/** Most graphs kept. */
const DEFAULT_CAPACITY = 256;

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The cache key of a folder: SHA-256 over the verdict's inputs and, in path order, every file but
 * the top-level `bundle.json` (links by their target text).
 *
 * @param root Bundle folder (real path).
 * @param parts The other inputs of the verdict.
 * @returns The key.
 */
export async function vetKey(root: string, parts: VetKeyParts): Promise<string> {
  const lines: string[] = [
    JSON.stringify([parts.entry, parts.imports, parts.denoCommand, parts.cwd ?? null]),
  ];
  const folders = [""];
  for (let rel = folders.pop(); rel !== undefined; rel = folders.pop()) {
    for await (const entry of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isSymlink) {
        lines.push(`${path}\u0000link\u0000${await Deno.readLink(`${root}/${path}`)}`);
      } else if (entry.isDirectory) folders.push(path);
      else if (path !== "bundle.json") {
        const data = await Deno.readFile(`${root}/${path}`);
        const digest = hex(await crypto.subtle.digest("SHA-256", data));
        lines.push(`${path}\u0000${data.byteLength}\u0000${digest}`);
      }
    }
  }
  const [head, ...files] = lines;
  files.sort();
  const text = new TextEncoder().encode([head, ...files].join("\n"));
  return hex(await crypto.subtle.digest("SHA-256", text));
}

/** Accepted graphs by {@linkcode vetKey}, least recently used dropped first. */
export class VetCache {
  readonly #capacity: number;
  readonly #graphs = new Map<string, CachedGraph>();

  /**
   * Creates an empty cache.
   *
   * @param capacity Most graphs kept. @default {256}
   */
  constructor(capacity: number = DEFAULT_CAPACITY) {
    this.#capacity = capacity;
  }

  /** Graphs kept. */
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
    return {
      moduleFiles: [...graph.moduleFiles],
      npmPackages: [...graph.npmPackages],
      remoteModules: [...graph.remoteModules],
    };
  }

  /**
   * Remembers an accepted graph.
   *
   * @param key A {@linkcode vetKey}.
   * @param graph The graph, module paths relative to the folder.
   */
  set(key: string, graph: CachedGraph): void {
    this.#graphs.delete(key);
    this.#graphs.set(key, graph);
    while (this.#graphs.size > this.#capacity) {
      this.#graphs.delete(this.#graphs.keys().next().value!);
    }
  }
}
