/**
 * The repository's real module graph, read with `deno info --json` (one run per entry point, in
 * parallel). `deno info` lists type-only dependencies too (`import type`, `export type … from`,
 * `typeof import("…")`, `import("…").T`) as `type` entries, so the graph holds every edge the type
 * checker follows; `tests/architecture_test.ts` proves that on a fixture.
 *
 * @module
 */

/** One import from a local module to a local file or an outside specifier. */
export interface ImportEdge {
  /** Importing file, relative to the root (`engine/engine.ts`). */
  from: string;
  /** Imported file relative to the root, or the outside specifier (`node:os`, `npm:/zod@4.6.7`). */
  to: string;
  /** True when every import of `to` from `from` is type-only (erased at run time). */
  typeOnly: boolean;
}

/** Local files and the imports between them (and from them to outside modules). */
export interface ModuleGraph {
  /** Local files in the graph, relative to the root, sorted. */
  files: string[];
  /** Imports, sorted by `from` then `to`; one per pair. */
  edges: ImportEdge[];
}

/** How {@linkcode loadModuleGraph} runs. */
export interface LoadGraphOptions {
  /** Deno executable. @default {"deno"} */
  denoCommand?: string;
  /** Give up on one `deno info` after this long, ms. @default {60000} */
  timeoutMs?: number;
}

interface InfoTarget {
  specifier?: string;
  error?: string;
}
interface InfoDependency {
  specifier?: string;
  code?: InfoTarget;
  type?: InfoTarget;
}
interface InfoModule {
  specifier: string;
  error?: string;
  dependencies?: InfoDependency[];
}
/** The part of `deno info --json` output the graph reads. */
export interface DenoInfo {
  /** Every module in the graph. */
  modules?: InfoModule[];
  /** Specifier → specifier it resolves to (npm names, remote redirects). */
  redirects?: Record<string, string>;
}

/** Folder of the repository root (no trailing slash). */
export const REPO_ROOT: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * Entry points whose graphs together cover the code: the three top-level entries, every plugin's
 * `mod.ts`, and the two guest entries a sandbox loads by URL (no static import reaches them).
 *
 * @param root Repository root.
 * @returns Entry files relative to the root.
 */
export async function entryPoints(root: string = REPO_ROOT): Promise<string[]> {
  const entries = ["mod.ts", "main.ts", "cli.ts", "engine/sdk/bundle.ts", "engine/testing/mod.ts"];
  const plugins: string[] = [];
  for await (const entry of Deno.readDir(`${root}/plugins`)) {
    if (!entry.isDirectory) continue;
    const mod = `plugins/${entry.name}/mod.ts`;
    if (await Deno.stat(`${root}/${mod}`).then(() => true, () => false)) plugins.push(mod);
  }
  return [
    ...entries,
    ...plugins.sort(),
    "engine/sandbox/guest/worker_main.ts",
    "engine/sandbox/guest/process_main.ts",
  ];
}

function localPath(specifier: string, root: string): string | undefined {
  if (!specifier.startsWith("file://")) return undefined;
  const path = decodeURIComponent(new URL(specifier).pathname);
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : undefined;
}

/**
 * Turns `deno info --json` outputs into one graph of local files. Outside modules (`node:`, `npm:`,
 * remote, files outside the root) appear only as edge targets, by resolved specifier.
 *
 * @param infos Outputs of `deno info --json`, one per entry.
 * @param root Absolute repository root; local paths are relative to it.
 * @returns The merged graph.
 * @throws {Error} When `deno info` reports a module or import it could not resolve.
 */
export function graphFromInfo(infos: readonly DenoInfo[], root: string): ModuleGraph {
  const files = new Set<string>();
  const edges = new Map<string, ImportEdge>();
  for (const info of infos) {
    const redirects = info.redirects ?? {};
    for (const module of info.modules ?? []) {
      const from = localPath(module.specifier, root);
      if (module.error) throw new Error(`Cannot read module graph: ${module.error}`);
      if (from === undefined) continue;
      files.add(from);
      for (const dep of module.dependencies ?? []) {
        const error = dep.code?.error ?? dep.type?.error;
        if (error) {
          throw new Error(`Cannot read module graph: ${from} imports ${dep.specifier}: ${error}`);
        }
        const resolved = dep.code?.specifier ?? dep.type?.specifier;
        if (resolved === undefined) continue;
        const target = redirects[resolved] ?? resolved;
        const to = localPath(target, root) ?? target;
        const typeOnly = dep.code === undefined;
        const key = `${from}\n${to}`;
        const known = edges.get(key);
        edges.set(key, { from, to, typeOnly: typeOnly && (known?.typeOnly ?? true) });
      }
    }
  }
  const sorted = [...edges.values()].sort((a, b) =>
    a.from === b.from ? (a.to < b.to ? -1 : 1) : (a.from < b.from ? -1 : 1)
  );
  return { files: [...files].sort(), edges: sorted };
}

async function denoInfo(
  root: string,
  entry: string,
  options: LoadGraphOptions,
): Promise<DenoInfo> {
  const output = await new Deno.Command(options.denoCommand ?? "deno", {
    args: ["info", "--json", "--no-lock", `${root}/${entry}`],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  }).output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`Cannot read module graph of ${entry}: ${stderr || `exit ${output.code}`}`);
  }
  return JSON.parse(new TextDecoder().decode(output.stdout)) as DenoInfo;
}

/**
 * Reads the module graph reachable from `entries`, type-only imports included.
 *
 * @param entries Entry files relative to `root`.
 * @param root Absolute folder the paths are relative to.
 * @param options How to run `deno info`.
 * @returns The merged graph.
 * @throws {Error} When `deno info` fails or cannot resolve an import.
 */
export async function loadModuleGraph(
  entries: readonly string[],
  root: string = REPO_ROOT,
  options: LoadGraphOptions = {},
): Promise<ModuleGraph> {
  const infos = await Promise.all(entries.map((entry) => denoInfo(root, entry, options)));
  return graphFromInfo(infos, root);
}
