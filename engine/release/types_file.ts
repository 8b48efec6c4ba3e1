/**
 * A bundle's published contract: the optional `types` field of `bundle.json` names a `.ts` file of
 * TypeScript declarations of the services the bundle provides. Callers fetch it
 * (`GET /admin/bundles/:id/types`, `deno task cli types <id>`) and write it into their own folder,
 * so the file must stand alone: valid UTF-8, at most {@linkcode MAX_TYPES_BYTES}, and no imports
 * (a copy elsewhere could not resolve them).
 *
 * @module
 */
import { ManifestError } from "../base/errors.ts";
import { type Manifest, readManifest } from "../manifest/manifest.ts";
import type { ReleaseFile } from "./files.ts";

/** Largest contract file, bytes. */
export const MAX_TYPES_BYTES = 64 * 1024;

// A static import or re-export with a specifier, at the start of a line: `import … from "…"`,
// `import "…"`, `export … from "…"`. Comments and strings holding these words mid-line pass.
const IMPORT_LINE = /^[ \t]*(?:import[ \t]*["']|(?:import|export)\b[^\n]*?\bfrom[ \t]*["'])/m;

/**
 * The contract's path relative to the bundle folder, without a leading `./`.
 *
 * @param types The `types` field.
 * @returns The normalised path.
 */
export function typesPath(types: string): string {
  return types.startsWith("./") ? types.slice(2) : types;
}

/**
 * Checks the `types` file of a release among its files (the manifest has checked the path's form).
 *
 * @param manifest The validated manifest.
 * @param files The release's files.
 * @throws {ManifestError} Field `types`, when the file is missing, too large, not UTF-8 text or
 *   imports another module.
 */
export function checkTypesFile(manifest: Manifest, files: readonly ReleaseFile[]): void {
  if (manifest.types === undefined) return;
  const path = typesPath(manifest.types);
  const refuse = (why: string) =>
    new ManifestError(
      "types",
      `Cannot release bundle "${manifest.id}": field "types" names "${manifest.types}", ${why}`,
    );
  const file = files.find((f) => f.path === path);
  if (!file) throw refuse("which is not a file in the bundle folder");
  if (file.data.byteLength > MAX_TYPES_BYTES) {
    throw refuse(`which is ${file.data.byteLength} bytes, more than ${MAX_TYPES_BYTES}`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(file.data);
  } catch {
    throw refuse("which is not UTF-8 text");
  }
  const line = IMPORT_LINE.exec(text);
  if (line) {
    throw refuse(
      `which imports another module (${JSON.stringify(line[0].trim())}…); a contract is copied ` +
        "into its callers' folders, so it must declare everything itself",
    );
  }
}

/** A released version's contract. */
export interface Contract {
  /** The version's manifest. */
  manifest: Manifest;
  /** The contract's text. */
  text: string;
}

/**
 * Reads the contract of a stored release (checked when it was released).
 *
 * @param dir The release folder.
 * @returns The manifest and the text, or `undefined` when the version declares no `types`.
 */
export async function readContract(dir: string): Promise<Contract | undefined> {
  const manifest = await readManifest(dir);
  if (manifest.types === undefined) return undefined;
  const text = await Deno.readTextFile(`${dir}/${typesPath(manifest.types)}`);
  return { manifest, text };
}
