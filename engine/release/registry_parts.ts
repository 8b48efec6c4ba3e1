/**
 * What the registry's operations share: the engine, the store, the release folders, the
 * per-bundle lock and traffic control, and the small reads every operation starts with (the
 * bundle's record, the versions it serves) and the step every operator action takes first (ending
 * a phased release in progress).
 *
 * @module
 */
import { NotFoundError } from "../base/errors.ts";
import type { RuntimePort } from "../core/port.ts";
import type { CanaryState } from "../store/canary_state.ts";
import type { ReleaseArchives } from "../store/archives.ts";
import type { BundleRecord, Store } from "../store/store.ts";
import type { ReleaseLimits } from "./files.ts";
import type { TrafficControl } from "./traffic.ts";

/** The parts of a registry its operations work with. */
export interface RegistryParts {
  /** The engine whose bundles the registry manages. */
  engine: RuntimePort;
  /** Durable storage. */
  store: Store;
  /** Folder holding every release folder (`<root>/<id>/<version>`). */
  root: string;
  /** Release size limits. */
  limits: ReleaseLimits;
  /** Cluster mode: where release archives are shared. */
  archives: ReleaseArchives | undefined;
  /** Warm standbys and phased releases. */
  traffic: TrafficControl;
  /** Runs `work` after every earlier operation on the same bundle id finished. */
  lock<T>(id: string, work: () => Promise<T>): Promise<T>;
}

/**
 * Release folder of one version.
 *
 * @param parts The registry's parts.
 * @param id Bundle id.
 * @param version Version.
 * @returns The folder's path.
 */
export function releaseDir(parts: RegistryParts, id: string, version: string): string {
  return `${parts.root}/${id}/${version}`;
}

/**
 * The record of a bundle.
 *
 * @param parts The registry's parts.
 * @param id Bundle id.
 * @returns Its record.
 * @throws {NotFoundError} For an unknown bundle.
 */
export async function bundleRecord(parts: RegistryParts, id: string): Promise<BundleRecord> {
  const record = await parts.store.getBundle(id);
  if (!record) throw new NotFoundError(`No bundle "${id}"`);
  return record;
}

/**
 * Versions that should run: the weighted ones, else the active one.
 *
 * @param record A bundle record.
 * @returns The versions.
 */
export function serving(record: BundleRecord): string[] {
  if (record.weights) {
    return Object.entries(record.weights).filter(([, w]) => w > 0).map(([v]) => v);
  }
  return [record.active];
}

/**
 * Ends the bundle's phased release because an operator action takes over: the one this engine
 * drives, or (cluster mode) one another engine drives, which the record then says ended; that
 * engine's controller stops when it sees the record.
 *
 * @param parts The registry's parts.
 * @param id Bundle id.
 * @param reason Why it ends.
 * @param record The bundle's record, when it has one.
 * @returns The release's final state to persist, if one was in progress.
 */
export function endCanary(
  parts: RegistryParts,
  id: string,
  reason: string,
  record?: BundleRecord,
): CanaryState | undefined {
  const local = parts.traffic.abortCanary(id, reason);
  if (local) return local;
  const elsewhere = record?.canary;
  if (elsewhere?.status !== "running") return undefined;
  return { ...elsewhere, status: "aborted", reason, updatedAt: new Date().toISOString() };
}
