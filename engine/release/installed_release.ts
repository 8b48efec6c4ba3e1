/**
 * Installing a stored version into the engine: from its release folder (cluster mode: fetched from
 * the shared archives first when this engine lacks it), its content hash checked against the
 * release record, so a folder changed on disk is never what runs.
 *
 * @module
 */
import { BundlehostError, NotFoundError } from "../base/errors.ts";
import type { ReleaseRecord } from "../store/store.ts";
import { hashFiles, readBundleFiles } from "./files.ts";
import { type RegistryParts, releaseDir } from "./registry_parts.ts";
import { fetchRelease } from "./shared_release.ts";

/**
 * Installs a stored version into the engine unless it already is, verifying its hash.
 *
 * @param parts The registry's parts.
 * @param id Bundle id.
 * @param version A released version.
 * @returns Its release record when it installed it.
 * @throws {NotFoundError} For a version that was never released.
 * @throws {BundlehostError} `CONFLICT` when the folder's content is not the recorded one.
 */
export async function ensureInstalled(
  parts: RegistryParts,
  id: string,
  version: string,
): Promise<ReleaseRecord | undefined> {
  if (parts.engine.stateOf(id, version) !== undefined) return undefined;
  const release = await parts.store.getRelease(id, version);
  if (!release) throw new NotFoundError(`Bundle ${id} has no released version "${version}"`);
  const dir = releaseDir(parts, id, version);
  if (parts.archives && !(await exists(dir))) {
    await fetchRelease(parts.archives, release, dir, parts.limits);
  }
  const actual = await hashFiles(await readBundleFiles(dir, parts.limits));
  if (actual !== release.hash) {
    throw new BundlehostError(
      "CONFLICT",
      `Stored release ${id}@${version} was modified on disk (hash ${actual}, recorded ${release.hash})`,
    );
  }
  await parts.engine.install(dir, {
    hash: release.hash,
    ...(release.exposes ? { exposes: release.exposes } : {}),
    ...(release.source === undefined ? {} : { source: release.source }),
  });
  return release;
}

/** Whether a path exists. */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
