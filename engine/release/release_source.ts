/**
 * Reading a release: its files from a folder or an archive (bounded by the release limits), its
 * manifest parsed and checked, its imports resolved into the copy that is stored. Nothing is
 * stored or locked yet; a bad release is refused here with the error that names the problem.
 *
 * @module
 */
import { BundlehostError, ManifestError, NotFoundError } from "../base/errors.ts";
import { parseManifest } from "../manifest/manifest.ts";
import { resolveBundleImports } from "./bundle_imports.ts";
import { readBundleFiles, type ReleaseFile, type ReleaseLimits, unpackArchive } from "./files.ts";
import { checkTypesFile } from "./types_file.ts";

/**
 * Where a release comes from.
 *
 * @example Release from an uploaded archive
 * ```ts
 * import { createEngine, type ReleaseSource } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const source: ReleaseSource = { archive: await Deno.readFile("./hello-1.1.0.tar.gz") };
 * await engine.registry.release(source);
 * ```
 */
export type ReleaseSource = { path: string } | { archive: Uint8Array<ArrayBuffer> };

/**
 * Options for {@linkcode Registry.release}.
 *
 * @example Store a version without moving traffic
 * ```ts
 * import { createEngine, type ReleaseOptions } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const options: ReleaseOptions = { activate: false };
 * await engine.registry.release({ path: "./hello-1.1.0" }, options);
 * ```
 */
export interface ReleaseOptions {
  /**
   * Move traffic to the new version (and start it). `false` only stores and installs it, e.g. for
   * a phased release with {@linkcode Registry.canary}; the first release of a bundle is always
   * activated. @default {true}
   */
  activate?: boolean;
  /**
   * Release under this version instead of the manifest's, e.g. a development revision
   * `1.2.0-dev.1764452701123` (the stored `bundle.json` says it). @default {the manifest's version}
   */
  version?: string;
}

/** A release read and checked, ready to be stored. */
export interface ReadRelease {
  /** Bundle id, from the manifest. */
  id: string;
  /** Version it is recorded under. */
  version: string;
  /** The files to store: imports resolved, `bundle.json` naming `version`. */
  files: ReleaseFile[];
  /** The author's folder it was read from, absolute, when it came from a folder that resolves. */
  source: string | undefined;
}

/**
 * Reads and checks a release.
 *
 * @param source A folder path or a tar / tar.gz archive.
 * @param version Version to record it under instead of the manifest's.
 * @param limits Release size limits.
 * @returns The release, ready to be stored.
 * @throws {NotFoundError} For a folder that does not exist.
 * @throws {TypeError} For a folder that cannot be read.
 * @throws {ManifestError} For a bad or missing bundle.json.
 * @throws {ReleaseRefusedError} For unsafe files or an unsafe archive.
 */
export async function readRelease(
  source: ReleaseSource,
  version: string | undefined,
  limits: ReleaseLimits,
): Promise<ReadRelease> {
  const files = "path" in source
    ? await readBundleFiles(source.path, limits).catch((error) => {
      if (error instanceof Deno.errors.NotFound) {
        throw new NotFoundError(`Cannot release bundle: folder ${source.path} does not exist`);
      }
      if (error instanceof BundlehostError) throw error;
      // Not a folder, name too long, no read permission: the caller's path is at fault.
      throw new TypeError(
        `Cannot release bundle: cannot read folder ${source.path} (${(error as Error).message})`,
        { cause: error },
      );
    })
    : await unpackArchive(source.archive, limits);
  const manifestFile = files.find((f) => f.path === "bundle.json");
  if (!manifestFile) {
    throw new ManifestError("bundle.json", "Cannot release bundle: no bundle.json");
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(manifestFile.data));
  } catch (error) {
    throw new ManifestError(
      "bundle.json",
      `Cannot release bundle: bundle.json is not valid JSON (${(error as Error).message})`,
    );
  }
  if (version !== undefined) {
    // The stored bundle.json names the version the release is recorded under.
    json = { ...(json as Record<string, unknown>), version };
    manifestFile.data = new TextEncoder().encode(JSON.stringify(json, null, 2));
  }
  const manifest = parseManifest(json);
  checkTypesFile(manifest, files);
  // The stored copy carries the SDK and no bare specifier (`bundle_imports.ts`).
  const stored = await resolveBundleImports(files);
  const from = "path" in source ? await sourceFolder(source.path) : undefined;
  return { id: manifest.id, version: manifest.version, files: stored, source: from };
}

/** The author's folder a release is made from, absolute, so that its errors can name it. */
async function sourceFolder(path: string): Promise<string | undefined> {
  return await Deno.realPath(path).catch(() => undefined);
}
