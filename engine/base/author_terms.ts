/**
 * Errors in the bundle author's terms: file paths in the author's own folder (never the engine's
 * copy under its data folder), the `bundle.json` field and value that would grant a denied
 * permission (never Deno's "run again with the --allow-read flag", which an author cannot do), and
 * the names that do exist when a call names a missing one. Pure text functions, used at the few
 * places where a bundle's failure leaves the engine.
 *
 * @module
 */

/** Where a bundle's files are: the engine's copy, and the author's folder it came from. */
export interface BundleFolder {
  /** The folder the engine loads the bundle from (its release copy), absolute, no trailing `/`. */
  dir: string;
  /** The author's folder the release was made from, when it came from a folder. */
  source?: string;
  /** The entry module, relative to the folder (it may run inlined, as a `data:` URL). */
  entry?: string;
  /** The bundle's persistent data folder (`ctx.bundle.dataDir`), named `$DATA` to everyone. */
  data?: string;
}

/**
 * Who reads the text: `"author"` (admin API, status, logs, the author's tools) sees paths in the
 * author's folder; `"client"` (`/rpc` and `/b/` callers) sees paths relative to the bundle.
 */
export type Audience = "author" | "client";

/** An error as a bundle raised it, with where it was raised when known. */
export interface BundleFault {
  /** Error name, e.g. `"NotCapable"`. */
  name: string;
  /** Message. */
  message: string;
  /** `file:///…:line:col` of the first frame in a module file, when the stack named one. */
  at?: string;
}

/** Longest list of names a message carries before it says how many more there are. */
const MAX_NAMES_CHARS = 240;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The prefixes under which a file of `dir` can appear in a message: as URL and as path. */
function prefixes(dir: string): string[] {
  const url = `file://${encodeURI(dir)}/`;
  return [...new Set([url, `file://${dir}/`, `${dir}/`])];
}

/**
 * Rewrites every mention of a file in the bundle's release copy into the author's terms.
 *
 * @example Name the author's file instead of the engine's copy
 * ```ts
 * import { inAuthorTerms } from "./author_terms.ts";
 *
 * const folder = { dir: "/srv/.bundlehost/releases/hello/1.0.0", source: "/home/ada/hello" };
 * const text = "at file:///srv/.bundlehost/releases/hello/1.0.0/mod.ts:3:5";
 * console.log(inAuthorTerms(text, folder, "author")); // at /home/ada/hello/mod.ts:3:5
 * console.log(inAuthorTerms(text, folder, "client")); // at mod.ts:3:5
 * ```
 *
 * @param text Any message.
 * @param folder The bundle's folders.
 * @param audience Who reads it.
 * @returns The message with the engine's paths replaced.
 */
export function inAuthorTerms(text: string, folder: BundleFolder, audience: Audience): string {
  const out = folder.data === undefined ? text : replaceFolder(text, folder.data, "$DATA/");
  return replaceFolder(
    out,
    folder.dir,
    audience === "author" && folder.source !== undefined
      ? `${folder.source.replace(/\/+$/, "")}/`
      : "",
  );
}

/** Replaces the mentions of `dir` (as URL, path, or the bare folder) with `replacement`. */
function replaceFolder(text: string, dir: string, replacement: string): string {
  // The common case (a log line, a message without paths) costs one search.
  if (!text.includes(dir) && !text.includes(encodeURI(dir))) return text;
  let out = text;
  for (const prefix of prefixes(dir)) out = out.replaceAll(prefix, () => replacement);
  // The folder itself, e.g. "cannot read /…/releases/x/1.0.0".
  const bare = new RegExp(`(?:file://)?${escapeRegExp(dir)}(?![\\w./-])`, "g");
  const folder = replacement === "" ? "the bundle folder" : replacement.slice(0, -1);
  return out.replace(bare, () => folder);
}

/** The path of `file` relative to `dir` when it lies inside it (`undefined` otherwise). */
function inside(file: string, dir: string): string | undefined {
  let path = file;
  if (file.startsWith("file://")) {
    try {
      path = decodeURI(file.slice(7));
    } catch {
      return undefined; // Not a URL any module of the bundle has.
    }
  }
  if (!path.startsWith(`${dir}/`)) return undefined;
  const rel = path.slice(dir.length + 1);
  return rel.split("/").includes("..") ? undefined : rel;
}

/**
 * The location of a fault in the author's terms: the first of its frames in one of the bundle's
 * files (a `data::line:col` frame is the inlined entry module).
 *
 * @param at Frames, `file:///…:line:col` or `data::line:col`, separated by spaces.
 * @param folder The bundle's folders.
 * @param audience Who reads it.
 * @returns E.g. `mod.ts:3:5`, or `undefined` when no frame lies in the bundle.
 */
export function locate(at: string, folder: BundleFolder, audience: Audience): string | undefined {
  for (const frame of at.split(" ").slice(0, 16)) {
    const rel = frame.startsWith("data::")
      ? folder.entry === undefined
        ? undefined
        : `${folder.entry.replace(/^\.\//, "")}${frame.slice(5)}`
      : inside(frame, folder.dir);
    if (rel === undefined) continue;
    return audience === "author" && folder.source !== undefined
      ? `${folder.source.replace(/\/+$/, "")}/${rel}`
      : rel;
  }
  return undefined;
}

const DENIED =
  /^Requires (read|write|net|env|sys|run|ffi|import) access to "([^"]{0,2048})", run again with the --allow-[a-z]+ flag$/;
const DENIED_ANY = /,? run again with the --allow-([a-z]+) flag/;

/**
 * Turns Deno's permission refusal into the `bundle.json` field and value that would grant it.
 *
 * @example The field to add for a denied read
 * ```ts
 * import { permissionHint } from "./author_terms.ts";
 *
 * const folder = { dir: "/srv/releases/catalog/1.0.0" };
 * const denied = 'Requires read access to "/srv/releases/catalog/1.0.0/data/x.json", ' +
 *   "run again with the --allow-read flag";
 * console.log(permissionHint(denied, folder, "/srv"));
 * // Requires read access to "data/x.json": add "./data/x.json" to "permissions.read" in bundle.json (the operator policy must allow it too)
 * ```
 *
 * @param message A `NotCapable` / `PermissionDenied` message.
 * @param folder The bundle's folders.
 * @param cwd The sandbox's working folder (relative paths resolve against it).
 * @returns The rewritten message, or `undefined` when it is not a permission refusal.
 */
export function permissionHint(
  message: string,
  folder: BundleFolder,
  cwd: string | undefined,
): string | undefined {
  const match = DENIED.exec(message);
  if (!match) {
    const other = DENIED_ANY.exec(message);
    if (!other) return undefined;
    return `${message.slice(0, other.index)}: add it to "permissions.${other[1]}" in bundle.json ` +
      "(the operator policy must allow it too)";
  }
  const kind = match[1]!;
  const resource = match[2]!;
  const field = `"permissions.${kind}"`;
  const grant = (shown: string, value: string) =>
    `Requires ${kind} access to "${shown}": add "${value}" to ${field} in bundle.json ` +
    "(the operator policy must allow it too)";
  if (kind !== "read" && kind !== "write") return grant(resource, resource);
  const inData = folder.data === undefined ? undefined : inside(resource, folder.data);
  if (inData !== undefined) return grant(`$DATA/${inData}`, `$DATA/${inData}`);
  const relative = !resource.startsWith("/") && !resource.startsWith("file:");
  const absolute = relative && cwd !== undefined
    ? `${cwd.replace(/\/+$/, "")}/${resource}`
    : resource;
  const rel = inside(absolute.replace(/\/\.\//g, "/"), folder.dir);
  if (rel !== undefined && !relative) return grant(rel, `./${rel}`);
  if (relative) {
    return `Requires ${kind} access to "${resource}": a relative path resolves against the ` +
      "engine's working folder, outside the bundle folder, which no " + field + " grant allows; " +
      `name files in the bundle with new URL("${resource}", import.meta.url)`;
  }
  return `Requires ${kind} access to "${resource}", which is outside the bundle folder: ` +
    `no ${field} grant allows it`;
}

/**
 * A list of names for a message, bounded in length.
 *
 * @param names Names.
 * @returns E.g. `a, b, c` or `a, b, … and 40 more`.
 */
export function listNames(names: readonly string[]): string {
  let out = "";
  let shown = 0;
  for (const name of names) {
    const next = out === "" ? name : `${out}, ${name}`;
    if (next.length > MAX_NAMES_CHARS) break;
    out = next;
    shown++;
  }
  const rest = names.length - shown;
  if (rest === 0) return out;
  return out === "" ? `${rest} names` : `${out}, … and ${rest} more`;
}

/** Levenshtein distance of two short strings (case-insensitive), capped work. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, i) => i);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[y.length]!;
}

/**
 * The known name closest to a mistyped one, when it is within a small edit distance.
 *
 * @example Suggest a service name
 * ```ts
 * import { closestName } from "./author_terms.ts";
 *
 * console.log(closestName("HeloService", ["HelloService", "CatalogService"])); // HelloService
 * ```
 *
 * @param name The name asked for.
 * @param known Names that exist.
 * @returns The closest, or `undefined` when none is close (at most 2 edits, or a third of it).
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  if (name.length > 128) return undefined;
  const limit = Math.max(1, Math.min(3, Math.floor(name.length / 3)));
  let best: string | undefined;
  let bestDistance = limit + 1;
  let checked = 0;
  for (const candidate of known) {
    if (++checked > 10_000) break;
    if (candidate === name || Math.abs(candidate.length - name.length) > limit) continue;
    if (candidate.length > 128) continue;
    const d = distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** A bundle's error as the author reads it: the message, and where in the bundle it was raised. */
export interface ExplainedFault {
  /** The message: permission field to add, the engine's paths replaced. */
  message: string;
  /** E.g. `mod.ts:3:9` (or the author's path), when a frame lies in the bundle. */
  at?: string;
}

/**
 * A bundle's error in the author's terms: the permission field to add, the engine's paths
 * replaced, and where in the bundle it was raised.
 *
 * @example A runtime throw as a `/rpc` client reads it
 * ```ts
 * import { explainFault } from "./author_terms.ts";
 *
 * const folder = { dir: "/srv/releases/hello/1.0.0", source: "/home/ada/hello" };
 * const fault = { name: "Error", message: "oops", at: "file:///srv/releases/hello/1.0.0/mod.ts:3:9" };
 * console.log(explainFault(fault, folder, "client", "/srv")); // { message: "oops", at: "mod.ts:3:9" }
 * ```
 *
 * @param fault What the bundle raised.
 * @param folder The bundle's folders.
 * @param audience Who reads it.
 * @param cwd The sandbox's working folder, for relative paths in permission refusals.
 * @returns The message to show, and the location.
 */
export function explainFault(
  fault: BundleFault,
  folder: BundleFolder,
  audience: Audience,
  cwd: string | undefined,
): ExplainedFault {
  const hinted = fault.name === "NotCapable" || fault.name === "PermissionDenied"
    ? permissionHint(fault.message, folder, cwd)
    : undefined;
  const message = inAuthorTerms(hinted ?? fault.message, folder, audience);
  const at = fault.at === undefined ? undefined : locate(fault.at, folder, audience);
  return at === undefined || message.includes(at) ? { message } : { message, at };
}

/**
 * Puts a refusal from vetting or loading a bundle folder (a syntax error, a module not found, a
 * refused import) in the author's terms, naming the author's files rather than the engine's copy.
 *
 * @param error What installing the folder threw.
 * @param dir The folder installed (the engine's release copy, or the author's own folder).
 * @param source The author's folder the copy was made from, when there is one.
 * @returns The same error, its message rewritten.
 */
export function vetErrorInAuthorTerms(error: unknown, dir: string, source?: string): unknown {
  if (!(error instanceof Error)) return error;
  const dirs = new Set<string>();
  try {
    dirs.add(dir.startsWith("/") ? dir : `${Deno.cwd()}/${dir.replace(/^\.\//, "")}`);
    dirs.add(Deno.realPathSync(dir));
  } catch {
    // A folder that cannot be resolved: the paths stay as they are.
  }
  let message = error.message;
  for (const d of dirs) {
    const folder = source === undefined ? { dir: d } : { dir: d, source };
    message = inAuthorTerms(message, folder, "author");
  }
  if (message !== error.message) error.message = message;
  return error;
}

/**
 * The author's folder of a bundle installed from `dir`: `source` when the registry recorded one,
 * else `dir` itself unless it lies in the engine's data folder (an archive's release copy).
 *
 * @param dir The folder installed.
 * @param dataDir The engine's data folder.
 * @param source The recorded source folder, if any.
 * @returns The author's folder, or `undefined` when there is none.
 */
export function authorFolderOf(dir: string, dataDir: string, source?: string): string | undefined {
  if (source !== undefined) return source;
  const absolute = (path: string) => {
    try {
      return Deno.realPathSync(path);
    } catch {
      return path;
    }
  };
  const folder = absolute(dir);
  const data = absolute(dataDir);
  return folder === data || folder.startsWith(`${data}/`) ? undefined : folder;
}
