/**
 * A bundle's own imports, resolved at release (docs/architecture.md, "A bundle's imports"). A
 * bundle resolves bare specifiers through its own `deno.json` (`imports`, `scopes`) and can import
 * the SDK's bundle-side entry as `@bundlehost/sdk/bundle`; the engine's import map never applies.
 *
 * A Web Worker resolves modules with the engine's import map and no worker option changes that, so
 * the released copy carries no bare specifier at all: the engine copies the SDK's bundle-side files
 * (no runtime imports, no privilege: `defineBundle` returns its argument) into the release under the
 * reserved folder {@linkcode RESERVED_DIR}, asks `deno info` to resolve the graph with the bundle's
 * map, and rewrites each bare specifier in the stored files to what it resolved to (a relative path
 * inside the folder, or the full `npm:`/`jsr:`/`https:` specifier). Both tiers then load the same
 * files with no import map (the process tier runs with `--no-config`, vetting too), the rewritten
 * files are what the content hash and the vet cache key cover, and vetting still refuses a file
 * outside the folder and an undeclared npm or remote import. A file of the bundle's own under the
 * reserved folder is refused, so the SDK copy cannot be shadowed.
 *
 * @module
 */
import { ReleaseRefusedError } from "../base/errors.ts";
import type { ReleaseFile } from "./files.ts";

/** Folder of a release reserved for what the engine adds (the SDK copy). */
export const RESERVED_DIR = ".bundlehost";

/** The specifier a bundle imports the SDK by. */
export const SDK_SPECIFIER = "@bundlehost/sdk/bundle";

/** Where the SDK's bundle-side files sit in a release. */
export const SDK_DIR = `${RESERVED_DIR}/sdk`;

/** The SDK's bundle-side files: its entry and the type file beside it (no runtime imports). */
const SDK_SOURCES: readonly string[] = ["bundle.ts", "types.ts"];

/** Most entries in a bundle's import map (imports plus every scope's). */
export const MAX_MAP_ENTRIES = 1000;

/** `compilerOptions` that change the emitted code, which the engine does not apply per bundle. */
const EMIT_OPTIONS: readonly string[] = [
  "jsx",
  "jsxFactory",
  "jsxFragmentFactory",
  "jsxImportSource",
  "jsxPrecompileSkipElements",
  "experimentalDecorators",
  "emitDecoratorMetadata",
];

/** Options for {@linkcode resolveBundleImports}. */
export interface ResolveOptions {
  /** Entry module, relative to the bundle folder. */
  entry: string;
  /** A folder path that does not exist yet, for the files while `deno info` reads them. */
  stage: string;
  /** Deno executable. @default {"deno"} */
  denoCommand?: string;
  /** Give up after this long, ms. @default {60000} */
  timeoutMs?: number;
}

/** A bundle's import map, as read from its `deno.json`. */
interface ImportMap {
  imports: Record<string, string>;
  scopes: Record<string, Record<string, string>>;
}

/**
 * Whether a specifier is bare: resolved only through an import map.
 *
 * @param specifier As written in an import.
 * @returns `true` for `zod` or `@lib/x.ts`, `false` for `./x.ts`, `/x.ts` or `npm:zod`.
 */
export function isBareSpecifier(specifier: string): boolean {
  if (/^\.{0,2}\//.test(specifier)) return false;
  return !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(specifier);
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ReleaseRefusedError(`Cannot release bundle: deno.json "${field}" is not an object`);
  }
  return value as Record<string, unknown>;
}

function stringMap(value: unknown, field: string): Record<string, string> {
  for (const [key, target] of Object.entries(object(value, field))) {
    if (typeof target !== "string") {
      throw new ReleaseRefusedError(
        `Cannot release bundle: deno.json "${field}" maps "${key.slice(0, 80)}" to a non-string`,
      );
    }
  }
  return value as Record<string, string>;
}

/** Reads the import map and checks `compilerOptions` of a bundle's `deno.json`, if it has one. */
function readBundleConfig(files: readonly ReleaseFile[]): ImportMap {
  const map: ImportMap = { imports: {}, scopes: {} };
  const file = files.find((f) => f.path === "deno.json");
  if (file === undefined) {
    if (files.some((f) => f.path === "deno.jsonc")) {
      throw new ReleaseRefusedError(
        "Cannot release bundle: the engine reads a bundle's deno.json, not deno.jsonc: rename it (JSON without comments)",
      );
    }
    return map;
  }
  let config: unknown;
  try {
    config = JSON.parse(new TextDecoder().decode(file.data));
  } catch (error) {
    throw new ReleaseRefusedError(
      `Cannot release bundle: deno.json is not valid JSON (${(error as Error).message})`,
    );
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new ReleaseRefusedError("Cannot release bundle: deno.json is not a JSON object");
  }
  const { imports, scopes, compilerOptions } = config as Record<string, unknown>;
  if (imports !== undefined) map.imports = stringMap(imports, "imports");
  if (scopes !== undefined) {
    for (const [scope, entries] of Object.entries(object(scopes, "scopes"))) {
      map.scopes[scope] = stringMap(entries, `scopes.${scope.slice(0, 80)}`);
    }
  }
  const count = Object.keys(map.imports).length +
    Object.values(map.scopes).reduce((n, s) => n + Object.keys(s).length, 0);
  if (count > MAX_MAP_ENTRIES) {
    throw new ReleaseRefusedError(
      `Cannot release bundle: deno.json maps ${count} specifiers, more than ${MAX_MAP_ENTRIES}`,
    );
  }
  if (typeof compilerOptions === "object" && compilerOptions !== null) {
    const emit = EMIT_OPTIONS.find((option) => option in compilerOptions);
    if (emit !== undefined) {
      throw new ReleaseRefusedError(
        `Cannot release bundle: deno.json "compilerOptions.${emit}" changes the emitted code, which the engine does not apply per bundle: remove it (type-checking options are fine)`,
      );
    }
  }
  return map;
}

/** The SDK's bundle-side files as release files under {@linkcode SDK_DIR}. */
async function sdkFiles(): Promise<ReleaseFile[]> {
  return await Promise.all(SDK_SOURCES.map(async (name) => {
    const url = new URL(`../sdk/${name}`, import.meta.url);
    const data = url.protocol === "file:"
      ? await Deno.readFile(url)
      : new Uint8Array(await (await fetch(url)).arrayBuffer());
    return { path: `${SDK_DIR}/${name}`, data };
  }));
}

/** Targets relative to the bundle folder (`./lib/`) made absolute against the staged folder. */
function absolute(map: Record<string, string>, base: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(map).map((
      [key, target],
    ) => [key, /^\.{0,2}\//.test(target) ? new URL(target, base).href : target]),
  );
}

/**
 * Adds the SDK copy to a release's files and rewrites every bare specifier of its module graph to
 * what the bundle's own `deno.json` (or the SDK mapping) resolves it to. A bare specifier nothing
 * maps is left as it is, for vetting to refuse with its name.
 *
 * @param files The release's files, sorted by path.
 * @param options The entry and a staging folder for `deno info`.
 * @returns The files as they are stored and run, sorted by path.
 * @throws {ReleaseRefusedError} For a file under {@linkcode RESERVED_DIR}, a malformed
 * `deno.json`, or a `compilerOptions` entry that changes the emitted code.
 *
 * @example Resolve an uploaded bundle's imports
 * ```ts ignore
 * const stored = await resolveBundleImports(files, { entry: "mod.ts", stage: "/data/stage-1" });
 * ```
 */
export async function resolveBundleImports(
  files: readonly ReleaseFile[],
  options: ResolveOptions,
): Promise<ReleaseFile[]> {
  const reserved = files.find((f) =>
    f.path === RESERVED_DIR || f.path.startsWith(`${SDK_DIR}/`) ||
    f.path.startsWith(`${RESERVED_DIR}/`)
  );
  if (reserved !== undefined) {
    throw new ReleaseRefusedError(
      `Cannot release bundle: "${reserved.path}" is under ${RESERVED_DIR}/, a folder the engine reserves for its own files`,
    );
  }
  const map = readBundleConfig(files);
  const needle = new TextEncoder().encode(SDK_SPECIFIER);
  const usesSdk = files.some((f) => includes(f.data, needle));
  const all = usesSdk ? [...files, ...await sdkFiles()] : [...files];
  all.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const mapped = Object.keys(map.imports).length + Object.keys(map.scopes).length > 0;
  if (!usesSdk && !mapped) return all;
  return await rewriteGraph(all, map, usesSdk, options);
}

function includes(haystack: Uint8Array, needle: Uint8Array): boolean {
  const first = needle[0];
  for (let i = haystack.indexOf(first!); i >= 0; i = haystack.indexOf(first!, i + 1)) {
    if (i + needle.length > haystack.length) return false;
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return true;
  }
  return false;
}

interface InfoTarget {
  specifier?: string;
  error?: string;
}
interface InfoModule {
  specifier: string;
  local?: string;
  dependencies?: { specifier?: string; code?: InfoTarget; type?: InfoTarget }[];
}

/** Stages the files, asks `deno info` how the map resolves them, and applies the rewrites. */
async function rewriteGraph(
  files: readonly ReleaseFile[],
  map: ImportMap,
  usesSdk: boolean,
  options: ResolveOptions,
): Promise<ReleaseFile[]> {
  await Deno.mkdir(options.stage, { recursive: true });
  const stage = await Deno.realPath(options.stage);
  const base = `file://${stage}/`;
  const importMap = {
    imports: {
      ...absolute(map.imports, base),
      ...(usesSdk ? { [SDK_SPECIFIER]: `${base}${SDK_DIR}/bundle.ts` } : {}),
    },
    scopes: Object.fromEntries(
      Object.entries(map.scopes).map(([scope, entries]) => [
        /^\.{0,2}\//.test(scope) ? new URL(scope, base).href : scope,
        absolute(entries, base),
      ]),
    ),
  };
  try {
    for (const file of files) {
      const path = `${stage}/${file.path}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(path, file.data);
    }
    await Deno.writeTextFile(`${stage}.importmap.json`, JSON.stringify(importMap));
    const output = await new Deno.Command(options.denoCommand ?? "deno", {
      args: [
        "info",
        "--json",
        "--no-lock",
        "--no-config",
        `--import-map=${stage}.importmap.json`,
        `${stage}/${options.entry.replace(/^\.\//, "")}`,
      ],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
    }).output();
    // A graph deno info cannot read is vetting's to refuse, with its own message.
    if (!output.success) return [...files];
    const info = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules?: InfoModule[] };
    const edits = collectEdits(info.modules ?? [], stage);
    return files.map((file) => {
      const fileEdits = edits.get(file.path);
      return fileEdits === undefined
        ? file
        : { path: file.path, data: applyEdits(file, fileEdits) };
    });
  } finally {
    await Deno.remove(stage, { recursive: true }).catch(() => {});
    await Deno.remove(`${stage}.importmap.json`).catch(() => {});
  }
}

/**
 * The rewrites of every staged module, by path relative to the bundle folder: written bare
 * specifier → what it becomes. `deno info` lists each specifier of a module once, however often the
 * module imports it, so the rewrite applies to every import of it in the file.
 */
function collectEdits(
  modules: readonly InfoModule[],
  stage: string,
): Map<string, Map<string, string>> {
  const edits = new Map<string, Map<string, string>>();
  for (const module of modules) {
    if (module.local === undefined || !module.local.startsWith(`${stage}/`)) continue;
    const from = module.local.slice(stage.length + 1);
    const rewrites = new Map<string, string>();
    for (const dependency of module.dependencies ?? []) {
      const written = dependency.specifier;
      if (written === undefined || !isBareSpecifier(written)) continue;
      // The code target is what loads; a type-only import has only a type target.
      const target = dependency.code ?? dependency.type;
      if (target?.specifier === undefined) continue;
      rewrites.set(written, replacement(target.specifier, from, stage, written));
    }
    if (rewrites.size > 0) edits.set(from, rewrites);
  }
  return edits;
}

/** What a resolved specifier is written as in the stored module `from`. */
function replacement(resolved: string, from: string, stage: string, written: string): string {
  if (!resolved.startsWith("file://")) return resolved;
  const path = decodeURIComponent(new URL(resolved).pathname);
  if (!path.startsWith(`${stage}/`)) {
    throw new ReleaseRefusedError(
      `Cannot release bundle: deno.json maps "${written}" to ${path}, a file outside the bundle folder`,
    );
  }
  const target = path.slice(stage.length + 1).split("/");
  const source = from.split("/").slice(0, -1);
  let common = 0;
  while (common < source.length && source[common] === target[common]) common++;
  const up = source.length - common;
  const rest = target.slice(common).map(encodeURIComponent).join("/");
  return `${up === 0 ? "./" : "../".repeat(up)}${rest}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The file with each quoted specifier replaced where it is imported: after `from`, after `import`
 * (a side-effect import) and inside a literal `import(…)`.
 */
function applyEdits(
  file: ReleaseFile,
  rewrites: ReadonlyMap<string, string>,
): Uint8Array<ArrayBuffer> {
  let text = new TextDecoder().decode(file.data);
  for (const [written, to] of rewrites) {
    const pattern = new RegExp(
      `(\\bfrom\\s*|\\bimport\\s*|\\bimport\\s*\\(\\s*)(["'])${escapeRegExp(written)}\\2`,
      "g",
    );
    text = text.replace(
      pattern,
      (_match, lead: string, quote: string) => `${lead}${quote}${to}${quote}`,
    );
  }
  return new TextEncoder().encode(text);
}
