/**
 * The release transaction, run under the bundle's lock: the immutable folder is placed (written
 * to a temporary name, synced, renamed), the version installed, started or vetted, the release
 * recorded only once the folder is synced, and then traffic moves to it. A failure before the
 * record undoes the install and the folder, so nothing unacknowledged stays behind.
 *
 * @module
 */
import { BundlehostError } from "../base/errors.ts";
import type { Exposed, RevisionStatus } from "../core/revision_status.ts";
import type { ReleaseRecord } from "../store/store.ts";
import { hashFiles } from "./files.ts";
import { placeReleaseFolder } from "./placed_folder.ts";
import { endCanary, type RegistryParts, releaseDir } from "./registry_parts.ts";
import type { ReadRelease } from "./release_source.ts";
import { packRelease } from "./shared_release.ts";

/**
 * Outcome of {@linkcode Registry.release}.
 *
 * @example Tell a new release from a repeat
 * ```ts
 * import { createEngine, type ReleaseResult } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const result: ReleaseResult = await engine.registry.release({ path: "./bundles/hello" });
 * console.log(`${result.id}@${result.version} ${result.created ? "released" : "unchanged"} (${result.state})`);
 * ```
 */
export interface ReleaseResult {
  /** Bundle id. */
  id: string;
  /** Version. */
  version: string;
  /** Content hash. */
  hash: string;
  /** `false` when exactly this release already existed (the call was idempotent). */
  created: boolean;
  /** Lifecycle state of the released version afterwards. */
  state: string;
}

/**
 * Stores, installs, records and (unless staged) activates a release read by `readRelease`; call
 * it under the registry's lock for the release's id. The same id@version with the same content
 * again is a no-op; with different content it is refused.
 *
 * @param parts The registry's parts.
 * @param read The release.
 * @param activate Whether traffic moves to it (a bundle's first release always activates).
 * @returns What was released.
 * @throws {BundlehostError} `CONFLICT` when the version exists with different content.
 */
export async function commitRelease(
  parts: RegistryParts,
  read: ReadRelease,
  activate: boolean,
): Promise<ReleaseResult> {
  const { engine, store } = parts;
  const { id, version, files, source } = read;
  const [hash, existing] = await Promise.all([hashFiles(files), store.getRelease(id, version)]);
  if (existing) {
    if (existing.hash !== hash) {
      throw new BundlehostError(
        "CONFLICT",
        `Cannot release bundle ${id}@${version}: that version exists with different content; release a new version`,
      );
    }
    return { id, version, hash, created: false, state: engine.stateOf(id, version) ?? "RESOLVED" };
  }
  const dir = releaseDir(parts, id, version);
  // A folder without a record is a leftover of a release that was never acknowledged.
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  // Synced while it is vetted and started; the record below waits for it (`placed_folder.ts`).
  const [placed, record] = await Promise.all([
    placeReleaseFolder(files, dir),
    store.getBundle(id),
  ]);
  const desired = record?.desired ?? "started";
  // Stored and installed only: traffic (and any phased release) stays as it is.
  const staged = !activate && record !== undefined;
  try {
    // Cluster mode: every engine can fetch it once it is recorded.
    if (parts.archives) await parts.archives.put(hash, await packRelease(files));
    // The folder holds exactly `files`: the install takes them from memory, not from the disk.
    await engine.install(dir, {
      hash,
      written: files,
      ...(source === undefined ? {} : { source }),
    });
    const started = desired === "started" && !staged ? await engine.start(id, version) : undefined;
    // Starting checks the module against the manifest; a version that does not start is vetted.
    if (started === undefined) await engine.vet(id, version);
    // The bundle record keeps its latest phased release (aborted now if it was running).
    const canary = (staged ? undefined : endCanary(parts, id, `released ${version}`, record)) ??
      record?.canary;
    const release: ReleaseRecord = { id, version, hash, releasedAt: new Date().toISOString() };
    if (source !== undefined) release.source = source;
    if (started?.state === "ACTIVE") release.exposes = exposedBy(started);
    await placed.synced;
    await store.commit(
      staged ? { release } : {
        release,
        bundle: {
          id,
          active: version,
          history: [...(record?.history ?? []), version].slice(-50),
          desired,
          ...(canary ? { canary } : {}),
          updatedAt: new Date().toISOString(),
        },
      },
    );
  } catch (error) {
    await engine.uninstall(id, version).catch(() => {});
    await placed.synced.catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
  if (!staged) parts.traffic.switchTo(id, version, record?.active);
  return { id, version, hash, created: true, state: engine.stateOf(id, version) ?? "RESOLVED" };
}

/** What a started version exposes, from its status. */
function exposedBy(status: RevisionStatus): Exposed {
  const services: Record<string, string[]> = {};
  for (const [name, service] of Object.entries(status.services)) services[name] = service.methods;
  return { services, fetch: status.fetch };
}
