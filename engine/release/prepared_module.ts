/**
 * A release prepared as one module that reaches the sandbox as source (a `data:` URL), so that
 * the sandbox needs no read grant to load it. A worker's permissions are fixed when it is spawned;
 * a bundle that needs no permission at all can then run in a worker spawned ahead of time with
 * none (`sandbox/host/worker_reserve.ts`), and its sandbox's start is the bundle's own import only.
 *
 * Only a self-contained module qualifies: its vetted graph is the entry file alone (`node:`
 * built-ins aside) or the entry and the release's SDK copy (`bundle_imports.ts`: no runtime import,
 * inlined as `data:` URLs of its own), it asks for no permission, and it does not locate itself (`import.meta`) nor
 * import by a computed specifier (`import(`), which both resolve against the module's own URL.
 * Such a bundle cannot name its own folder, so losing the read of its own module file changes
 * nothing it can do. Every other bundle keeps the file URL and the read of its module files.
 *
 * @module
 */
import { isNoGrants, type ResolvedPermissions } from "../manifest/permissions.ts";
import type { VetReport } from "./vet.ts";
import { SDK_DIR } from "./bundle_imports.ts";

/** Reads a module file by its real path (the release's bytes in memory, or the disk). */
export type FileReader = (path: string) => Promise<Uint8Array>;

/** Largest module inlined, bytes; a larger one loads from its file. */
export const MAX_PREPARED_BYTES = 256 * 1024;

const MEDIA_TYPES: ReadonlyMap<string, string> = new Map([
  [".ts", "application/typescript"],
  [".mts", "application/typescript"],
  [".js", "text/javascript"],
  [".mjs", "text/javascript"],
]);

/** Source text that resolves against the module's own URL. */
const SELF_LOCATING = /import\s*\.\s*meta|import\s*\(/;

function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.byteLength; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** A file of a release's SDK copy. */
const SDK_FILE = new RegExp(`/${SDK_DIR.replaceAll(".", "\\.")}/(?:bundle|types)\\.ts$`);

/** A quoted specifier where it is imported: after `from`, after `import`. */
const IMPORT = /(\bfrom\s*|\bimport\s*)(["'])(\.{1,2}\/[^"'\n]{1,2048})\2/g;

/**
 * The entry's source with each import of an SDK file replaced by that file as a `data:` URL, or
 * `undefined` when a relative import names anything else. The SDK's entry imports its type file
 * for types only, which a `data:` module drops when it is compiled.
 */
async function inlineSdk(
  text: string,
  entryFile: string,
  sdk: readonly string[],
  read: FileReader,
): Promise<string | undefined> {
  const entryUrl = new URL(`file://${entryFile}`);
  const urls = new Map<string, string>();
  for (const file of sdk) {
    const bytes = await read(file);
    // A folder installed as it is may hold files of its own there: only the SDK's kind qualifies.
    if (SELF_LOCATING.test(new TextDecoder().decode(bytes))) return undefined;
    urls.set(file, `data:application/typescript;base64,${bytesToBase64(bytes)}`);
  }
  let foreign = false;
  const out = text.replace(IMPORT, (match, lead: string, quote: string, specifier: string) => {
    const url = urls.get(decodeURIComponent(new URL(specifier, entryUrl).pathname));
    if (url === undefined) foreign = true;
    return url === undefined ? match : `${lead}${quote}${url}${quote}`;
  });
  return foreign ? undefined : out;
}

/**
 * The release's entry as a `data:` URL, when the bundle qualifies (see the module doc).
 *
 * @param entryFile Real path of the entry module.
 * @param report The vetted graph.
 * @param requested The bundle's grants, without its module files.
 * @param read Reads a module file by its real path. @default {Deno.readFile}
 * @returns The URL, or `undefined` when the bundle must load from its files.
 *
 * @example Prepare a vetted bundle
 * ```ts ignore
 * const url = await preparedModule("/abs/releases/hello/1.0.0/mod.ts", report, requested);
 * ```
 */
export async function preparedModule(
  entryFile: string,
  report: VetReport,
  requested: ResolvedPermissions,
  read: FileReader = Deno.readFile,
): Promise<string | undefined> {
  if (!isNoGrants(requested)) return undefined;
  if (report.npmPackages.length > 0 || report.remoteModules.length > 0) return undefined;
  if (!report.moduleFiles.includes(entryFile)) return undefined;
  const sdk = report.moduleFiles.filter((file) => file !== entryFile);
  if (!sdk.every((file) => SDK_FILE.test(file))) return undefined;
  const dot = entryFile.lastIndexOf(".");
  const mediaType = MEDIA_TYPES.get(dot < 0 ? "" : entryFile.slice(dot));
  if (mediaType === undefined) return undefined;
  const bytes = await read(entryFile);
  if (bytes.byteLength > MAX_PREPARED_BYTES) return undefined;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
  if (SELF_LOCATING.test(text)) return undefined;
  if (sdk.length > 0) {
    const inlined = await inlineSdk(text, entryFile, sdk, read);
    if (inlined === undefined) return undefined;
    text = inlined;
  }
  return `data:${mediaType};base64,${bytesToBase64(new TextEncoder().encode(text))}`;
}
