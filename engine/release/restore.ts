/**
 * Restore after a (re)start: release folders no acknowledged release owns are removed, the
 * versions every bundle serves are installed from the release store (several bundles at once:
 * vetting is most of a restore and overlaps well), then started one bundle after another in the
 * registry's order. A phased release that was running is rolled back to its stable version. One
 * bundle failing never stops the others.
 *
 * @module
 */
import { abandonedCanary } from "./traffic.ts";
import { ensureInstalled } from "./installed_release.ts";
import { type RegistryParts, serving } from "./registry_parts.ts";
import type { BundleRecord, ReleaseRecord } from "../store/store.ts";

/**
 * Outcome of {@linkcode Registry.restore}.
 *
 * @example Bundles that did not come back
 * ```ts
 * import { createEngine, type RestoreReport } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const report: RestoreReport = await engine.restore();
 * for (const f of report.failed) console.error(`${f.id}: ${f.error}`);
 * ```
 */
export interface RestoreReport {
  /** `id@version` restored. */
  restored: string[];
  /** Bundles that could not be restored, with why. */
  failed: { id: string; error: string }[];
  /** Release folders removed because no acknowledged release owned them. */
  orphansRemoved: string[];
}

/** Bundles a restore installs at once. */
const RESTORE_LANES = 4;

/** A bundle's versions installed by a restore, before they start. */
interface Installed {
  /** Its record (a running phased release already abandoned). */
  record: BundleRecord;
  /** The versions installed, each with its release record when the restore installed it. */
  versions: { version: string; release: ReleaseRecord | undefined }[];
  /** Why installing stopped, if it did. */
  error?: string;
}

/**
 * Restores every bundle the store records; each bundle's steps run under its lock.
 *
 * @param parts The registry's parts.
 * @returns What was restored, what failed, what was cleaned up.
 */
export async function restoreBundles(parts: RegistryParts): Promise<RestoreReport> {
  const report: RestoreReport = { restored: [], failed: [], orphansRemoved: [] };
  const records = await parts.store.listBundles();
  const known = new Set<string>();
  for (const record of records) {
    for (const release of await parts.store.listReleases(record.id)) {
      known.add(`${release.id}/${release.version}`);
    }
  }
  await removeOrphans(parts.root, known, report);
  // Vetting (`deno info`) is most of a restore and overlaps well: bundles are installed several
  // at once, then started one after another in the usual order, so that a bundle whose onStart
  // calls another still finds it started (docs/architecture.md, "Density").
  const installs: Installed[] = [];
  let next = 0;
  const lane = async () => {
    while (next < records.length) {
      const i = next++;
      installs[i] = await installForRestore(parts, records[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(RESTORE_LANES, records.length) }, lane));
  for (const installed of installs) await startForRestore(parts, installed, report);
  return report;
}

/** Installs the versions a bundle serves (first step of a restore); never throws. */
async function installForRestore(parts: RegistryParts, stored: BundleRecord): Promise<Installed> {
  const installed: Installed = { record: stored, versions: [] };
  try {
    // A phased release has no controller after a restart: back to the stable version. In a
    // cluster another engine may be driving it: it is left to that engine.
    const record = stored.canary?.status === "running" && !parts.archives
      ? await abandonCanary(parts, stored)
      : stored;
    installed.record = record;
    await parts.lock(record.id, async () => {
      for (const version of new Set([record.active, ...serving(record)])) {
        installed.versions.push({
          version,
          release: await ensureInstalled(parts, record.id, version),
        });
      }
    });
  } catch (error) {
    installed.error = (error as Error).message;
  }
  return installed;
}

/** Starts and routes what {@linkcode installForRestore} installed; never throws. */
async function startForRestore(
  parts: RegistryParts,
  installed: Installed,
  report: RestoreReport,
): Promise<void> {
  const { record } = installed;
  const { engine } = parts;
  try {
    await parts.lock(record.id, async () => {
      for (const { version, release } of installed.versions) {
        if (record.desired === "started" && serving(record).includes(version)) {
          // Loaded and started once at its release (the hash is checked again at install): a
          // scale-to-zero version comes back without an instance.
          await engine.start(record.id, version, { atZero: release?.exposes !== undefined });
        }
        report.restored.push(`${record.id}@${version}`);
      }
      if (installed.error !== undefined) throw new Error(installed.error);
      engine.activate(record.id, record.active, { requireActive: false });
      if (record.weights && record.desired === "started") {
        engine.setWeights(record.id, record.weights);
      }
    });
  } catch (error) {
    report.failed.push({ id: record.id, error: (error as Error).message });
  }
}

/** Rolls a phased release the restart interrupted back to its stable version, recorded. */
async function abandonCanary(parts: RegistryParts, record: BundleRecord): Promise<BundleRecord> {
  const abandoned = abandonedCanary(record, "the engine restarted during the phased release");
  await parts.store.commit({ bundle: abandoned });
  return abandoned;
}

/** Removes release folders under `root` whose `id/version` no release record owns. */
async function removeOrphans(
  root: string,
  known: Set<string>,
  report: RestoreReport,
): Promise<void> {
  let ids: Deno.DirEntry[];
  try {
    ids = await Array.fromAsync(Deno.readDir(root));
  } catch {
    return;
  }
  for (const idEntry of ids) {
    if (!idEntry.isDirectory) continue;
    for await (const versionEntry of Deno.readDir(`${root}/${idEntry.name}`)) {
      const key = `${idEntry.name}/${versionEntry.name}`;
      if (known.has(key)) continue;
      await Deno.remove(`${root}/${key}`, { recursive: true }).catch(() => {});
      report.orphansRemoved.push(key);
    }
  }
}
