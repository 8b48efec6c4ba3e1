/**
 * Permission resolution: a manifest's requested permissions become exact grants, relative paths are
 * resolved against the bundle folder (or the bundle's `$DATA` folder), and every grant must sit
 * inside the engine's ceiling or the release is refused naming the field.
 *
 * The same {@linkcode ResolvedPermissions} drive both isolation tiers: Worker `deno.permissions`
 * ({@linkcode toWorkerPermissions}) and child-process flags ({@linkcode toProcessFlags}).
 *
 * @module
 */
import { isAbsolute, normalize, resolve } from "node:path";
import { ManifestError } from "../base/errors.ts";
import type { ManifestPermissions } from "./manifest.ts";

/** Permission kinds the engine understands, in Deno's names. */
export const PERMISSION_KINDS: readonly PermissionKind[] = [
  "read",
  "write",
  "net",
  "env",
  "sys",
  "run",
  "ffi",
  "import",
];

/**
 * One permission kind.
 *
 * @example What the policy allows per kind
 * ```ts
 * import { createEngine, type PermissionKind } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const kinds: PermissionKind[] = ["read", "write", "net", "env"];
 * for (const kind of kinds) console.log(kind, engine.policy[kind]);
 * ```
 */
export type PermissionKind = "read" | "write" | "net" | "env" | "sys" | "run" | "ffi" | "import";

/**
 * The most any bundle may be granted. Paths may use `{bundle}` (the bundle's release folder) and
 * `{data}` (its persistent data folder); `net`/`import` entries are `host` (any port), `host:port`
 * or `*`; `env` entries are names, `PREFIX_*` or `*`; `sys` entries are API names or `*`.
 *
 * @example Network access for bundles, nothing else beyond the defaults
 * ```ts
 * import { createEngine, type PermissionCeiling } from "@bundlehost/sdk";
 *
 * const net: Pick<PermissionCeiling, "net"> = { net: ["api.example.com:443"] };
 * await using engine = await createEngine({ ceiling: { ...net } });
 * ```
 */
export type PermissionCeiling = Record<PermissionKind, string[]>;

/** Exact grants for one bundle; absolute paths. Empty list means no access of that kind. */
export type ResolvedPermissions = Record<PermissionKind, string[]>;

/**
 * Default ceiling: a bundle may read its own folder and its data folder, write its data folder,
 * and nothing else.
 */
export const DEFAULT_CEILING: PermissionCeiling = {
  read: ["{bundle}", "{data}"],
  write: ["{data}"],
  net: [],
  env: [],
  sys: [],
  run: [],
  ffi: [],
  import: [],
};

const SYS_NAMES = new Set([
  "hostname",
  "osRelease",
  "osUptime",
  "loadavg",
  "networkInterfaces",
  "systemMemoryInfo",
  "uid",
  "gid",
  "cpus",
  "homedir",
  "statfs",
  "getPriority",
  "setPriority",
  "userInfo",
]);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const HOST_PORT =
  /^(?:(?<name>[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)|\[(?<v6>[0-9A-Fa-f:.]{2,45})\])(?::(?<port>[0-9]{1,5}))?$/;
// deno-lint-ignore no-control-regex
const UNSAFE_PATH_CHARS = /[,\u0000-\u001f]/;

/** Folders that placeholders in the ceiling and `$DATA` in manifests resolve to. */
export interface PermissionRoots {
  /** The bundle's release folder (absolute, real path). */
  bundleDir: string;
  /** The bundle's persistent data folder (absolute). */
  dataDir: string;
}

function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith("/") ? root : `${root}/`);
}

function resolvePath(entry: string, field: string, roots: PermissionRoots): string {
  if (UNSAFE_PATH_CHARS.test(entry)) {
    throw new ManifestError(field, `field "${field}" contains a comma or control character`);
  }
  if (entry === "$DATA" || entry.startsWith("$DATA/")) {
    const path = normalize(resolve(roots.dataDir, `.${entry.slice("$DATA".length)}`));
    if (!isInside(path, roots.dataDir)) {
      throw new ManifestError(field, `field "${field}" escapes the bundle's data folder`);
    }
    return path;
  }
  if (isAbsolute(entry)) {
    throw new ManifestError(
      field,
      `field "${field}" must be relative to the bundle folder (or start with $DATA/), not "${entry}"`,
    );
  }
  const path = normalize(resolve(roots.bundleDir, entry));
  if (!isInside(path, roots.bundleDir)) {
    throw new ManifestError(field, `field "${field}" escapes the bundle folder ("${entry}")`);
  }
  return path;
}

function ceilingPaths(ceiling: string[], roots: PermissionRoots): string[] {
  return ceiling.map((c) =>
    normalize(c.replaceAll("{bundle}", roots.bundleDir).replaceAll("{data}", roots.dataDir))
  );
}

function parseHost(entry: string): { host: string; port?: number } | undefined {
  const m = HOST_PORT.exec(entry);
  if (!m?.groups) return undefined;
  const host = m.groups.name ?? `[${m.groups.v6}]`;
  const port = m.groups.port === undefined ? undefined : Number(m.groups.port);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return port === undefined ? { host: host.toLowerCase() } : { host: host.toLowerCase(), port };
}

function hostAllowed(entry: { host: string; port?: number }, ceiling: string[]): boolean {
  return ceiling.some((c) => {
    if (c === "*") return true;
    const allowed = parseHost(c);
    if (!allowed || allowed.host !== entry.host) return false;
    return allowed.port === undefined || allowed.port === entry.port;
  });
}

function nameAllowed(name: string, ceiling: string[]): boolean {
  return ceiling.some((c) =>
    c === "*" || c === name || (c.endsWith("*") && name.startsWith(c.slice(0, -1)))
  );
}

function outsideCeiling(field: string, entry: string): ManifestError {
  return new ManifestError(
    field,
    `field "${field}" asks for "${entry}", which is outside the engine's permission ceiling`,
  );
}

/**
 * Resolves a manifest's permissions to exact grants and checks them against the ceiling.
 *
 * @param requested The manifest's `permissions`.
 * @param roots The bundle and data folders that relative paths resolve against.
 * @param ceiling The engine's ceiling.
 * @returns Exact grants; kinds not asked for are empty.
 * @throws {ManifestError} Naming the first entry that is malformed, escapes its folder, or exceeds
 * the ceiling.
 *
 * @example Resolve a read of the bundle's data folder
 * ```ts
 * import { DEFAULT_CEILING, resolvePermissions } from "./permissions.ts";
 * const grants = resolvePermissions({ read: ["./data"] }, { bundleDir: "/b", dataDir: "/d" }, DEFAULT_CEILING);
 * console.log(grants.read); // ["/b/data"]
 * ```
 */
export function resolvePermissions(
  requested: ManifestPermissions,
  roots: PermissionRoots,
  ceiling: PermissionCeiling,
): ResolvedPermissions {
  const out = noGrants();
  for (const kind of PERMISSION_KINDS) {
    const entries = requested[kind] ?? [];
    entries.forEach((entry, i) => {
      const field = `permissions.${kind}[${i}]`;
      switch (kind) {
        case "read":
        case "write": {
          const path = resolvePath(entry, field, roots);
          const allowed = ceilingPaths(ceiling[kind], roots);
          if (!allowed.some((root) => isInside(path, root))) throw outsideCeiling(field, entry);
          out[kind].push(path);
          break;
        }
        case "net":
        case "import": {
          const parsed = parseHost(entry);
          if (!parsed) {
            throw new ManifestError(field, `field "${field}" must be "host" or "host:port"`);
          }
          if (!hostAllowed(parsed, ceiling[kind])) throw outsideCeiling(field, entry);
          out[kind].push(entry.toLowerCase());
          break;
        }
        case "env":
          if (!ENV_NAME.test(entry)) {
            throw new ManifestError(field, `field "${field}" is not an environment variable name`);
          }
          if (!nameAllowed(entry, ceiling.env)) throw outsideCeiling(field, entry);
          out.env.push(entry);
          break;
        case "sys":
          if (!SYS_NAMES.has(entry)) {
            throw new ManifestError(field, `field "${field}" is not a known sys API name`);
          }
          if (!nameAllowed(entry, ceiling.sys)) throw outsideCeiling(field, entry);
          out.sys.push(entry);
          break;
        case "run":
        case "ffi":
          if (UNSAFE_PATH_CHARS.test(entry)) {
            throw new ManifestError(
              field,
              `field "${field}" contains a comma or control character`,
            );
          }
          if (!ceiling[kind].includes(entry)) throw outsideCeiling(field, entry);
          out[kind].push(entry);
          break;
      }
    });
    out[kind] = [...new Set(out[kind])];
  }
  return out;
}

/**
 * Grants of nothing at all: every kind empty.
 *
 * @returns A fresh object, safe to fill.
 */
export function noGrants(): ResolvedPermissions {
  return { read: [], write: [], net: [], env: [], sys: [], run: [], ffi: [], import: [] };
}

/**
 * Whether grants hold nothing of any kind.
 *
 * @param grants Resolved grants.
 * @returns True when every kind is empty.
 */
export function isNoGrants(grants: ResolvedPermissions): boolean {
  return PERMISSION_KINDS.every((kind) => grants[kind].length === 0);
}

/**
 * Adds the files a bundle must read to load its own code (its vetted module graph) to its grants.
 *
 * @param grants Resolved grants.
 * @param moduleFiles Absolute paths of the bundle's local modules.
 * @returns New grants with those files readable.
 */
export function withModuleFiles(
  grants: ResolvedPermissions,
  moduleFiles: readonly string[],
): ResolvedPermissions {
  return { ...grants, read: [...new Set([...grants.read, ...moduleFiles])] };
}

/**
 * Worker `deno.permissions` for the grants: every kind is explicit, so nothing is inherited from
 * the engine.
 *
 * @param grants Resolved grants.
 * @returns Options for `new Worker(url, { deno: { permissions } })`.
 */
export function toWorkerPermissions(grants: ResolvedPermissions): Deno.PermissionOptionsObject {
  const list = (kind: PermissionKind) => grants[kind].length > 0 ? [...grants[kind]] : false;
  return {
    read: list("read"),
    write: list("write"),
    net: list("net"),
    env: list("env"),
    sys: list("sys") as Deno.PermissionOptionsObject["sys"],
    run: list("run"),
    ffi: list("ffi"),
    import: list("import"),
  };
}

/**
 * `deno run` flags for the grants (process tier): exactly one `--allow-<kind>=…` per non-empty
 * kind, nothing else, and never a bare `--allow-<kind>`.
 *
 * @param grants Resolved grants.
 * @returns Flags, e.g. `["--allow-read=/b/mod.ts,/b/data"]`.
 */
export function toProcessFlags(grants: ResolvedPermissions): string[] {
  const flags: string[] = [];
  for (const kind of PERMISSION_KINDS) {
    if (grants[kind].length > 0) flags.push(`--allow-${kind}=${grants[kind].join(",")}`);
  }
  return flags;
}
