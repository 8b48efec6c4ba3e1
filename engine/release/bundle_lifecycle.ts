/**
 * The lifecycle verbs of a released bundle: start and stop (recorded, so they hold across
 * restarts), delete (every version, record and folder), and pruning old versions. Each runs under
 * the registry's lock for the bundle; an operator action ends a phased release in progress.
 *
 * @module
 */
import { prunable } from "./prune.ts";
import { ensureInstalled } from "./installed_release.ts";
import {
  bundleRecord,
  endCanary,
  type RegistryParts,
  releaseDir,
  serving,
} from "./registry_parts.ts";

/**
 * Starts a bundle (its serving versions) and records that it should run; call it under the lock.
 *
 * @param parts The registry's parts.
 * @param id Bundle id.
 * @throws {NotFoundError} For an unknown bundle.
 */
export async function startBundle(parts: RegistryParts, id: string): Promise<void> {
  const record = await bundleRecord(parts, id);
  for (const version of serving(record)) {
    await ensureInstalled(parts, id, version);
    await parts.engine.start(id, version);
  }
  parts.engine.activate(id, record.active, { requireActive: false });
  if (record.weights) parts.engine.setWeights(id, record.weights);
  await parts.store.commit({
    bundle: { ...record, desired: "started", updatedAt: new Date().toISOString() },
  });
}

/**
 * Records that a bundle stays stopped, then stops every version; call it under the lock.
 *
 * @param parts The registry's parts.
 * @param id Bundle id.
 * @throws {NotFoundError} For an unknown bundle.
 */
export async function stopBundle(parts: RegistryParts, id: string): Promise<void> {
  const record = await bundleRecord(parts, id);
  const canary = endCanary(parts, id, "the bundle was stopped", record);
  parts.traffic.cancelStandby(id);
  await parts.store.commit({
    bundle: {
      ...record,
      desired: "stopped",
      ...(canary ? { canary } : {}),
      updatedAt: new Date().toISOString(),
    },
  });
  const versions = parts.engine.routing(id)?.versions ?? [];
  await Promise.all(versions.map((r) => parts.engine.stop(id, r.version)));
}

/**
 * Deletes a bundle: every version stopped and uninstalled, its records, settings, release folders
 * and data folder removed; call it under the lock.
 *
 * @param parts The registry's parts.
 * @param id Bundle id.
 * @throws {NotFoundError} For an unknown bundle.
 */
export async function deleteBundle(parts: RegistryParts, id: string): Promise<void> {
  await bundleRecord(parts, id);
  parts.traffic.abortCanary(id, "the bundle was deleted");
  parts.traffic.cancelStandby(id);
  if (parts.engine.routing(id)) await parts.engine.uninstall(id);
  await parts.store.commit({ deleteBundle: id });
  await parts.store.settings.dropSettings(id);
  await parts.engine.disown(id);
  await removeBundleFolders(parts, id);
}

/**
 * Removes a deleted bundle's release folders and data folder; a folder already gone is fine.
 *
 * @param parts The registry's parts.
 * @param id Bundle id.
 */
export async function removeBundleFolders(parts: RegistryParts, id: string): Promise<void> {
  await Deno.remove(`${parts.root}/${id}`, { recursive: true }).catch(() => {});
  await Deno.remove(`${parts.engine.dataDir}/data/${id}`, { recursive: true }).catch(() => {});
}

/**
 * Removes old versions of a bundle that nothing serves or may soon serve (see
 * {@linkcode prunable}): their records, installed revisions and release folders; call it under
 * the lock.
 *
 * @param parts The registry's parts.
 * @param id Bundle id.
 * @param keep How many of the newest matching versions stay.
 * @param match Which versions may go.
 * @returns The versions removed.
 * @throws {NotFoundError} For an unknown bundle.
 */
export async function pruneBundle(
  parts: RegistryParts,
  id: string,
  keep: number,
  match: (version: string) => boolean,
): Promise<string[]> {
  const record = await bundleRecord(parts, id);
  const versions = prunable(record, await parts.store.listReleases(id), keep, match);
  if (versions.length === 0) return versions;
  await parts.store.commit({ deleteReleases: { id, versions } });
  for (const version of versions) {
    if (parts.engine.stateOf(id, version) !== undefined) {
      await parts.engine.uninstall(id, version);
    }
    await Deno.remove(releaseDir(parts, id, version), { recursive: true }).catch(() => {});
  }
  return versions;
}
