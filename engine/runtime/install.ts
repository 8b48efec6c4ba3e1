/**
 * Install preparation: everything between a bundle folder and a revision the engine can start —
 * manifest validation, permission resolution against the ceiling, module-graph vetting, the data
 * folder. Nothing here touches the engine's state, so a refused bundle leaves no trace.
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { BundleStateError, NotFoundError } from "../base/errors.ts";
import { type Manifest, manifestFromBytes, readManifest } from "../manifest/manifest.ts";
import { checkLimits, chooseTier } from "./admission.ts";
import type { OperatorPolicy } from "../manifest/policy.ts";
import {
  type ResolvedPermissions,
  resolvePermissions,
  withModuleFiles,
} from "../manifest/permissions.ts";
import type { IsolationTier } from "../sdk/types.ts";
import type { WrittenFile } from "../core/port.ts";
import { vetBundle } from "../release/vet.ts";
import type { VetCache } from "../release/vet_cache.ts";
import { type FileReader, preparedModule } from "../release/prepared_module.ts";

/** The engine settings an install depends on. */
export interface InstallPolicy {
  /** Engine data folder (bundle data goes to `<dataRoot>/data/<id>`). */
  dataRoot: string;
  /** Operator policy: permission ceiling, trusted bundles, limits. */
  ceiling: OperatorPolicy;
  /** Deno executable for `deno info`. */
  denoCommand: string;
  /** Tier forced for every bundle, if any. */
  isolation?: IsolationTier;
  /** Whether an id@version is already installed. */
  installed(id: string, version: string): boolean;
  /** Accepted graphs by content (the engine's, kept in its data folder). @default {the process's} */
  vetCache?: VetCache;
  /**
   * The folder's files exactly as a release has just written them: the manifest, the vetting key
   * and the prepared module come from these bytes, not from reading the folder back.
   * @default {the folder is read}
   */
  written?: readonly WrittenFile[];
}

/** A bundle ready to become a revision. */
export interface PreparedInstall {
  /** Validated manifest. */
  manifest: Manifest;
  /** Real path of the bundle folder. */
  bundleDir: string;
  /** Persistent data folder (created). */
  dataDir: string;
  /**
   * Exact grants, including the bundle's own module files (none when the entry is prepared: it
   * reaches the sandbox as source).
   */
  grants: ResolvedPermissions;
  /** Tier the bundle runs in. */
  tier: IsolationTier;
  /** Why that tier. */
  tierReason: string;
  /**
   * Entry module URL: the file, or for a self-contained bundle with no grants in the worker tier,
   * the module itself as a `data:` URL (`release/prepared_module.ts`).
   */
  entryUrl: string;
}

/**
 * Validates, resolves and vets a bundle folder.
 *
 * @param dir Bundle folder.
 * @param policy Engine settings.
 * @returns What the engine needs to create the revision.
 * @throws {NotFoundError} When the folder does not exist.
 * @throws {ManifestError} For a bad manifest, permissions beyond the ceiling, or a field above the
 * operator's limits.
 * @throws {ReleaseRefusedError} When vetting refuses the module graph.
 * @throws {BundleStateError} When this id@version is already installed.
 */
export async function prepareInstall(dir: string, policy: InstallPolicy): Promise<PreparedInstall> {
  let bundleDir: string;
  try {
    bundleDir = await Deno.realPath(dir);
  } catch {
    throw new NotFoundError(`Cannot install bundle: folder ${dir} does not exist`);
  }
  const written = policy.written;
  const manifestFile = written?.find((file) => file.path === "bundle.json");
  const manifest = manifestFile === undefined
    ? await readManifest(bundleDir)
    : manifestFromBytes(manifestFile.data);
  if (policy.installed(manifest.id, manifest.version)) {
    throw new BundleStateError(
      `Cannot install bundle ${manifest.id}@${manifest.version}: it is already installed`,
    );
  }
  checkLimits(manifest, policy.ceiling.limits);
  const dataDir = `${policy.dataRoot}/data/${manifest.id}`;
  const requested = resolvePermissions(
    manifest.permissions,
    { bundleDir, dataDir },
    policy.ceiling,
  );
  const report = await vetBundle(bundleDir, manifest.entry, {
    imports: manifest.imports,
    denoCommand: policy.denoCommand,
    ...(policy.vetCache ? { cache: policy.vetCache } : {}),
    ...(written === undefined ? {} : { written }),
  });
  await Deno.mkdir(dataDir, { recursive: true });
  const { tier, reason } = chooseTier(manifest, policy.ceiling, policy.isolation);
  const entryFile = resolve(bundleDir, manifest.entry);
  const prepared = tier === "worker"
    ? await preparedModule(entryFile, report, requested, readerOf(bundleDir, written))
    : undefined;
  return {
    manifest,
    bundleDir,
    dataDir,
    grants: prepared === undefined ? withModuleFiles(requested, report.moduleFiles) : requested,
    tier,
    tierReason: reason,
    entryUrl: prepared ?? pathToFileURL(entryFile).href,
  };
}

/** Reads a file of the folder from `written` when it is there, else from the disk. */
function readerOf(folder: string, written: readonly WrittenFile[] | undefined): FileReader {
  if (written === undefined) return Deno.readFile;
  const byPath = new Map(written.map((file) => [`${folder}/${file.path}`, file.data]));
  return (path) => {
    const data = byPath.get(path);
    return data === undefined ? Deno.readFile(path) : Promise.resolve(data);
  };
}
