/**
 * A bundle's own imports, resolved at release (docs/architecture.md, "A bundle's imports"). A
 * bundle resolves bare specifiers through its own `deno.json` (`imports`, `scopes`) and can import
 * the SDK's bundle-side entry as `@bundlehost/sdk/bundle`; the engine's import map never applies.
 *
 * A Web Worker resolves modules with the engine's import map and no worker option changes that, so
 * the released copy carries no bare specifier at all: the engine copies the SDK's bundle-side files
 * (no runtime imports, no privilege: `defineBundle` returns its argument) into the release under the
 * reserved folder {@linkcode RESERVED_DIR}, and rewrites each bare specifier the bundle's modules
 * import to what the bundle's map resolves it to (a relative path inside the folder, or the full
 * `npm:`/`jsr:`/`https:` specifier). The rewrite finds imports by their syntax (`from "…"`,
 * `import "…"`, `import("…")`); a mapped specifier quoted that way inside a string or a comment is
 * rewritten too. Both tiers then load the same files with no import map (the process tier runs
 * with `--no-config`, vetting too), the rewritten files are what the content hash and the vet cache
 * key cover, and vetting still refuses a file outside the folder and an undeclared npm or remote
 * import. A file of the bundle's own under the reserved folder is refused, so the SDK copy cannot
 * be shadowed.
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

/** Files that can hold an import: JavaScript and TypeScript modules. */
const MODULE_FILE = /\.(?:[cm]?[jt]s|[jt]sx)$/;

/** A quoted specifier where it is imported: after `from`, inside `import(`, after `import`. */
const IMPORT = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)(["'])([^"'\n]{1,2048})\2/g;

/**
 * Adds the SDK copy to a release's files (when a file names the SDK) and rewrites every bare
 * specifier its modules import to what the bundle's own `deno.json` maps it to, as Deno resolves
 * an import map: `scopes` first, an exact key, the longest key ending in `/`, and a key mapped to an
 * `npm:`/`jsr:` package also maps that package's subpaths. A bare specifier nothing maps is left as
 * it is, for vetting to refuse with its name.
 *
 * @param files The release's files, sorted by path.
 * @returns The files as they are stored and run, sorted by path.
 * @throws {ReleaseRefusedError} For a file under {@linkcode RESERVED_DIR}, a malformed
 * `deno.json`, or a `compilerOptions` entry that changes the emitted code.
 *
 * @example Resolve an uploaded bundle's imports
 * ```ts ignore
 * const stored = await resolveBundleImports(await readBundleFiles("./bundles/catalog"));
 * ```
 */
export async function resolveBundleImports(files: readonly ReleaseFile[]): Promise<ReleaseFile[]> {
  const reserved = files.find((f) =>
    f.path === RESERVED_DIR || f.path.startsWith(`${RESERVED_DIR}/`)
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
  // The engine's entry for the SDK wins over the bundle's own.
  if (usesSdk) map.imports = { ...map.imports, [SDK_SPECIFIER]: `./${SDK_DIR}/bundle.ts` };
  // A root no mapping can name by accident: an absolute target (`/x`) lands outside it.
  const root = `file:///${crypto.randomUUID()}/`;
  return all.map((file) =>
    MODULE_FILE.test(file.path) && !file.path.startsWith(`${RESERVED_DIR}/`)
      ? rewrite(file, map, root)
      : file
  );
}

function includes(haystack: Uint8Array, needle: Uint8Array): boolean {
  const first = needle[0]!;
  for (let i = haystack.indexOf(first); i >= 0; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) return false;
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return true;
  }
  return false;
}

/** The file with each mapped bare specifier it imports replaced; unchanged if none is. */
function rewrite(file: ReleaseFile, map: ImportMap, root: string): ReleaseFile {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(file.data);
  } catch {
    return file; // Not text: no module Deno would load.
  }
  let changed = false;
  const scopes = scopesOf(file.path, map, root);
  const out = text.replace(IMPORT, (match, lead: string, quote: string, specifier: string) => {
    if (!isBareSpecifier(specifier)) return match;
    const target = resolveBare(specifier, file.path, scopes, map.imports, root);
    if (target === undefined) return match;
    changed = true;
    return `${lead}${quote}${target}${quote}`;
  });
  return changed ? { path: file.path, data: new TextEncoder().encode(out) } : file;
}

/** What `specifier`, imported by the module at `from`, is written as after resolution. */
function resolveBare(
  specifier: string,
  from: string,
  scopes: readonly Record<string, string>[],
  imports: Record<string, string>,
  root: string,
): string | undefined {
  for (const entries of scopes) {
    const target = lookup(specifier, entries);
    if (target !== undefined) return place(target, from, root);
  }
  const target = lookup(specifier, imports);
  return target === undefined ? undefined : place(target, from, root);
}

/** The scopes that apply to the module at `from`, most specific first. */
function scopesOf(from: string, map: ImportMap, root: string): Record<string, string>[] {
  const importer = `${root}${from}`;
  return Object.entries(map.scopes)
    .map(([key, entries]) => ({ href: new URL(key, root).href, entries }))
    .filter(({ href }) => importer.startsWith(href))
    .sort((a, b) => b.href.length - a.href.length)
    .map(({ entries }) => entries);
}

/** Keys of a map, longest first, computed once per map. */
const LONGEST_FIRST = new WeakMap<Record<string, string>, string[]>();

/** The target one map gives a specifier, if any. */
function lookup(specifier: string, entries: Record<string, string>): string | undefined {
  if (Object.hasOwn(entries, specifier)) return entries[specifier];
  let keys = LONGEST_FIRST.get(entries);
  if (keys === undefined) {
    keys = Object.keys(entries).sort((a, b) => b.length - a.length);
    LONGEST_FIRST.set(entries, keys);
  }
  const prefix = keys.find((key) => key.endsWith("/") && specifier.startsWith(key));
  if (prefix !== undefined) return `${entries[prefix]}${specifier.slice(prefix.length)}`;
  // Deno's own extension: a package mapped by name maps its subpaths too (`zod/mini`).
  const name = keys.find((key) =>
    /^(?:npm|jsr):/.test(entries[key]!) && specifier.startsWith(`${key}/`)
  );
  return name === undefined ? undefined : `${entries[name]}${specifier.slice(name.length)}`;
}

/**
 * A target as the stored module at `from` imports it: a relative path, or the specifier; or
 * `undefined` for a file outside the folder, left for vetting to refuse if a module of the graph
 * imports it (a test file beside the bundle may map a testing helper from elsewhere).
 */
function place(target: string, from: string, root: string): string | undefined {
  const local = /^\.{0,2}\//.test(target);
  if (!local && !target.startsWith("file:")) return target;
  const url = new URL(target, root).href;
  if (!local || !url.startsWith(root)) return undefined;
  const path = url.slice(root.length).split("/");
  const source = from.split("/").slice(0, -1);
  let common = 0;
  while (common < source.length && source[common] === path[common]) common++;
  const up = source.length - common;
  return `${up === 0 ? "./" : "../".repeat(up)}${path.slice(common).join("/")}`;
}
