/**
 * Module-graph vetting at release (docs/architecture.md, "Platform facts", hole 1): `deno info --json` lists every module a
 * bundle loads statically or by literal `import()`, including `with { type: "text" | "bytes" }`
 * imports. A release is refused when any module is a file outside the bundle folder (symlinks are
 * followed), or an npm / remote / jsr specifier the manifest's `imports` allow-list does not cover,
 * or when the folder holds a symbolic link that resolves outside it (a link is not a module, but
 * reading through it would bypass the bundle's read grants).
 *
 * `deno info` runs with `--no-config`: the engine's import map never resolves a bundle's imports. A
 * released bundle's bare specifiers were rewritten at release through its own `deno.json`
 * (`bundle_imports.ts`); one left unmapped is refused, naming it and how to map it.
 *
 * This is the first of two layers: at run time the engine loads the bundle's entry with a
 * non-literal `import()` from inside the sandbox, so its graph is also checked against the
 * sandbox's own permissions.
 *
 * @module
 */
import semver from "semver";
import { ReleaseRefusedError } from "../base/errors.ts";
import type { ReleaseFile } from "./files.ts";
import { VetCache, vetKey, vetKeyOfFiles } from "./vet_cache.ts";
import { isBareSpecifier, SDK_SPECIFIER } from "./bundle_imports.ts";

/** What vetting found in an accepted graph. */
export interface VetReport {
  /** Absolute real paths of every local module (code, JSON, text, bytes) in the graph. */
  moduleFiles: string[];
  /** npm packages the graph loads, as `name@version`. */
  npmPackages: string[];
  /** Remote (`https:`/`http:`/`jsr:`) module specifiers in the graph. */
  remoteModules: string[];
}

/** Options for {@linkcode vetBundle}. */
export interface VetOptions {
  /** Declared allow-list from the manifest's `imports`. @default {[]} */
  imports?: readonly string[];
  /** Deno executable to run `deno info` with. @default {"deno"} */
  denoCommand?: string;
  /** Give up after this long, ms. @default {60000} */
  timeoutMs?: number;
  /** Working directory for `deno info` (no deno.json applies: it runs with `--no-config`). */
  cwd?: string;
  /**
   * Accepted graphs by content (`vet_cache.ts`); `null` vets every time.
   * @default {the process-wide cache}
   */
  cache?: VetCache | null;
  /**
   * The folder's files exactly as the engine has just written them (a release): the cache key is
   * computed from these bytes, and the folder, which holds only regular files, is not walked again
   * for links. @default {the folder is read}
   */
  written?: readonly ReleaseFile[];
}

/** The process-wide cache of accepted graphs. */
const SHARED_CACHE = new VetCache();

interface InfoDependency {
  specifier?: string;
  code?: { specifier?: string; error?: string };
  type?: { specifier?: string; error?: string };
}
interface InfoModule {
  specifier: string;
  kind?: string;
  local?: string;
  error?: string;
  npmPackage?: string;
  dependencies?: InfoDependency[];
}
interface InfoOutput {
  modules?: InfoModule[];
}

/**
 * Node built-in modules a bundle may not import, and why. The runtime refuses their classes too
 * (`sandbox/guest/harden.ts`), for a computed `import()` this graph cannot see.
 */
const REFUSED_BUILTINS: ReadonlyMap<string, string> = new Map([
  [
    "node:worker_threads",
    "a thread starts with fresh globals (the Cache API, BroadcastChannel, Web Locks) outside the sandbox's hardening",
  ],
]);

function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith("/") ? root : `${root}/`);
}

function npmAllowed(pkg: string, imports: readonly string[]): boolean {
  const at = pkg.lastIndexOf("@");
  const name = at > 0 ? pkg.slice(0, at) : pkg;
  const version = at > 0 ? pkg.slice(at + 1) : "";
  return imports.some((entry) => {
    if (!entry.startsWith("npm:")) return false;
    const spec = entry.slice(4);
    const specAt = spec.lastIndexOf("@");
    const specName = specAt > 0 ? spec.slice(0, specAt) : spec;
    const range = specAt > 0 ? spec.slice(specAt + 1) : "*";
    return specName === name && semver.satisfies(version, range);
  });
}

function remoteAllowed(specifier: string, imports: readonly string[]): boolean {
  return imports.some((entry) => !entry.startsWith("npm:") && specifier.startsWith(entry));
}

/**
 * Refuses a bundle folder holding a symbolic link that resolves outside it (or nowhere). Deno
 * checks a path's permission before the OS follows links, so a link inside a folder the bundle
 * may read would hand it whatever the link points at: `./data -> /etc` makes `/etc` readable.
 *
 * @param root Bundle folder (real path).
 * @throws {ReleaseRefusedError} Naming the link and its target.
 */
async function refuseOutwardLinks(root: string): Promise<void> {
  const folders = [root];
  for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
    for await (const entry of Deno.readDir(folder)) {
      const path = `${folder}/${entry.name}`;
      if (entry.isDirectory) folders.push(path);
      if (!entry.isSymlink) continue;
      const target = await Deno.realPath(path).catch(() => undefined);
      if (target === undefined || !isInside(target, root)) {
        const shown = target ?? `${await Deno.readLink(path)} (unresolved)`;
        throw new ReleaseRefusedError(
          `Cannot release bundle: link ${path} points to ${shown}, outside the bundle folder`,
        );
      }
    }
  }
}

/**
 * Vets a bundle's module graph. An accepted graph is remembered by the folder's content
 * (`vet_cache.ts`), so a folder with the same files is not run through `deno info` again.
 *
 * @param bundleDir Bundle folder (absolute).
 * @param entry Entry module, relative to the folder.
 * @param options Allow-list and how to run `deno info`.
 * @returns The accepted graph's files and packages.
 * @throws {ReleaseRefusedError} Naming the offending module and its importer, or a symbolic link
 * in the folder that resolves outside it.
 *
 * @example Vet an example bundle
 * ```ts ignore
 * const report = await vetBundle("/abs/bundles/hello", "./mod.ts");
 * console.log(report.moduleFiles);
 * ```
 */
export async function vetBundle(
  bundleDir: string,
  entry: string,
  options: VetOptions = {},
): Promise<VetReport> {
  const imports = options.imports ?? [];
  const root = await Deno.realPath(bundleDir);
  const written = options.written;
  if (written === undefined) await refuseOutwardLinks(root);
  const cache = options.cache === undefined ? SHARED_CACHE : options.cache;
  const parts = {
    entry,
    imports,
    denoCommand: options.denoCommand ?? "deno",
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  };
  const key = cache === null
    ? undefined
    : written === undefined
    ? await vetKey(root, parts)
    : await vetKeyOfFiles(written, parts);
  const hit = key === undefined ? undefined : await cache?.lookup(key);
  if (hit) return { ...hit, moduleFiles: hit.moduleFiles.map((rel) => `${root}/${rel}`) };
  const report = await vetGraph(root, entry, imports, options);
  if (key !== undefined) {
    await cache?.remember(key, {
      ...report,
      moduleFiles: report.moduleFiles.map((file) => file.slice(root.length + 1)),
    });
  }
  return report;
}

/**
 * What the bundle's own `deno.json` `imports` map a specifier to (an exact key, or the longest key
 * ending in `/`): the release left it as it was because the target is outside the folder.
 */
async function mappedTo(root: string, specifier: string): Promise<string | undefined> {
  let imports: unknown;
  try {
    imports = (JSON.parse(await Deno.readTextFile(`${root}/deno.json`)) as { imports?: unknown })
      .imports;
  } catch {
    return undefined;
  }
  if (typeof imports !== "object" || imports === null) return undefined;
  const map = imports as Record<string, unknown>;
  if (Object.hasOwn(map, specifier)) return String(map[specifier]);
  const key = Object.keys(map).filter((k) => k.endsWith("/") && specifier.startsWith(k))
    .sort((a, b) => b.length - a.length)[0];
  return key === undefined ? undefined : `${String(map[key])}${specifier.slice(key.length)}`;
}

/** The refusal for an import that does not resolve; a bare one is named with how to map it. */
function unresolved(
  importer: string,
  specifier: string,
  error: string,
  mapped: string | undefined,
): ReleaseRefusedError {
  const from = importer.startsWith("file://") ? importer.slice(7) : importer;
  if (!isBareSpecifier(specifier)) {
    return new ReleaseRefusedError(
      `Cannot release bundle: ${from} imports "${specifier}": ${error}`,
    );
  }
  if (mapped !== undefined) {
    return new ReleaseRefusedError(
      `Cannot release bundle: ${from} imports "${specifier}", which the bundle's deno.json maps to "${mapped}", outside the bundle folder: a bundle imports only files inside its folder`,
    );
  }
  const sdk = specifier.startsWith("@bundlehost/sdk") && specifier !== SDK_SPECIFIER
    ? ` (a bundle can import the SDK as "${SDK_SPECIFIER}" only)`
    : "";
  return new ReleaseRefusedError(
    `Cannot release bundle: ${from} imports "${specifier}", which the bundle's own deno.json does not map${sdk}: map it under "imports" in a deno.json beside bundle.json (the engine's import map does not apply to bundles), and declare an npm or remote target in bundle.json "imports"`,
  );
}

/** Runs `deno info` on the entry and checks every module of the graph. */
async function vetGraph(
  root: string,
  entry: string,
  imports: readonly string[],
  options: VetOptions,
): Promise<VetReport> {
  const modules = (await denoInfo(`${root}/${entry.replace(/^\.\//, "")}`, options)).modules ?? [];
  const importer = await importersOf(root, modules);
  const by = (spec: string) => {
    const from = importer.get(spec);
    return from ? ` (imported by ${from.startsWith("file://") ? from.slice(7) : from})` : "";
  };
  const report: VetReport = { moduleFiles: [], npmPackages: [], remoteModules: [] };
  for (const m of modules) await checkModule(m, root, imports, report, by);
  report.moduleFiles = [...new Set(report.moduleFiles)].sort();
  report.npmPackages = [...new Set(report.npmPackages)].sort();
  return report;
}

/** The module graph of an entry, as `deno info --json` reports it. */
async function denoInfo(entryPath: string, options: VetOptions): Promise<InfoOutput> {
  const command = new Deno.Command(options.denoCommand ?? "deno", {
    // `--no-config`: a bundle resolves nothing through the engine's import map; its own map was
    // applied to the stored files at release (`bundle_imports.ts`).
    args: ["info", "--json", "--no-lock", "--no-config", entryPath],
    cwd: options.cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  });
  let output: Deno.CommandOutput;
  try {
    output = await command.output();
  } catch (error) {
    throw new ReleaseRefusedError(
      `Cannot vet bundle graph: deno info failed to run (${(error as Error).message})`,
      { cause: error },
    );
  }
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new ReleaseRefusedError(
      `Cannot vet bundle graph: ${stderr.split("\n")[0] || `deno info exited ${output.code}`}`,
    );
  }
  return JSON.parse(new TextDecoder().decode(output.stdout)) as InfoOutput;
}

/**
 * Which module first imports each module of the graph, for refusals that name it.
 *
 * @throws {ReleaseRefusedError} For an import that does not resolve.
 */
async function importersOf(root: string, modules: InfoModule[]): Promise<Map<string, string>> {
  const importer = new Map<string, string>();
  for (const m of modules) {
    for (const dep of m.dependencies ?? []) {
      for (const target of [dep.code, dep.type]) {
        if (target?.error) {
          const specifier = dep.specifier ?? "";
          throw unresolved(m.specifier, specifier, target.error, await mappedTo(root, specifier));
        }
        if (target?.specifier && !importer.has(target.specifier)) {
          importer.set(target.specifier, m.specifier);
        }
      }
    }
  }
  return importer;
}

/**
 * Checks one module of the graph and adds it to the report: a file inside the bundle folder, an
 * allowed `node:` built-in, a `data:` URL, or a declared npm package or remote module.
 *
 * @throws {ReleaseRefusedError} For anything else, naming the module and its importer.
 */
async function checkModule(
  m: InfoModule,
  root: string,
  imports: readonly string[],
  report: VetReport,
  by: (specifier: string) => string,
): Promise<void> {
  if (m.error) {
    throw new ReleaseRefusedError(
      `Cannot release bundle: ${m.error.replace(/\.$/, "")}${by(m.specifier)}`,
    );
  }
  const scheme = m.specifier.slice(0, m.specifier.indexOf(":") + 1);
  switch (scheme) {
    case "file:": {
      const local = m.local ?? decodeURIComponent(new URL(m.specifier).pathname);
      let real: string;
      try {
        real = await Deno.realPath(local);
      } catch {
        throw new ReleaseRefusedError(
          `Cannot release bundle: module ${local} does not exist${by(m.specifier)}`,
        );
      }
      if (!isInside(real, root)) {
        throw new ReleaseRefusedError(
          `Cannot release bundle: it imports ${local}, a file outside the bundle folder${
            by(m.specifier)
          }`,
        );
      }
      report.moduleFiles.push(real);
      return;
    }
    case "node:":
      if (REFUSED_BUILTINS.has(m.specifier)) {
        throw new ReleaseRefusedError(
          `Cannot release bundle: it imports ${m.specifier}, refused in a bundle: ${
            REFUSED_BUILTINS.get(m.specifier)
          }${by(m.specifier)}`,
        );
      }
      return;
    case "data:":
      return;
    case "npm:": {
      const pkg = m.npmPackage ?? m.specifier.replace(/^npm:\/?/, "").split("/")[0] ?? "";
      if (!npmAllowed(pkg, imports)) {
        throw new ReleaseRefusedError(
          `Cannot release bundle: it imports npm package ${pkg}, which the manifest's "imports" does not declare${
            by(m.specifier)
          }`,
        );
      }
      report.npmPackages.push(pkg);
      return;
    }
    case "https:":
    case "http:":
    case "jsr:":
      if (!remoteAllowed(m.specifier, imports)) {
        throw new ReleaseRefusedError(
          `Cannot release bundle: it imports ${m.specifier}, which the manifest's "imports" does not declare${
            by(m.specifier)
          }`,
        );
      }
      report.remoteModules.push(m.specifier);
      return;
    default:
      throw new ReleaseRefusedError(
        `Cannot release bundle: unsupported module specifier ${m.specifier}${by(m.specifier)}`,
      );
  }
}
