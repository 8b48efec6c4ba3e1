/**
 * Which released versions of a bundle may be removed: those nothing serves or may soon serve, past
 * the newest few. Development mode removes its old revisions with it, so saving a file a thousand
 * times does not keep a thousand release folders.
 *
 * @module
 */
import type { BundleRecord, ReleaseRecord } from "../store/store.ts";

/** How many of the latest activations stay: the active version and its rollback target. */
const RECENT_ACTIVATIONS = 2;

/**
 * The versions to remove: matching `match`, older than the newest `keep` matching ones, and not
 * protected — active, weighted, part of the latest phased release, or among the last two versions
 * activated (the warm rollback target).
 *
 * @param record The bundle's record.
 * @param releases Its releases, in release order.
 * @param keep How many of the newest matching versions stay.
 * @param match Which versions may go.
 * @returns Versions to remove, oldest first.
 *
 * @example Keep the two newest development revisions
 * ```ts
 * import { prunable } from "./prune.ts";
 * const record = { id: "a", active: "1.0.0-dev.4", history: ["1.0.0-dev.3", "1.0.0-dev.4"],
 *   desired: "started" as const, updatedAt: "" };
 * const releases = [1, 2, 3, 4].map((n) => ({ id: "a", version: `1.0.0-dev.${n}`, hash: "", releasedAt: "" }));
 * console.log(prunable(record, releases, 2, (v) => v.includes("-dev."))); // ["1.0.0-dev.1", "1.0.0-dev.2"]
 * ```
 */
export function prunable(
  record: BundleRecord,
  releases: readonly ReleaseRecord[],
  keep: number,
  match: (version: string) => boolean,
): string[] {
  const protectedVersions = new Set<string>([
    record.active,
    ...Object.keys(record.weights ?? {}),
    ...record.history.slice(-RECENT_ACTIVATIONS),
  ]);
  if (record.canary) {
    protectedVersions.add(record.canary.version);
    protectedVersions.add(record.canary.from);
  }
  const matching = releases.map((r) => r.version).filter(match);
  const newest = new Set(keep > 0 ? matching.slice(-keep) : []);
  return matching.filter((v) => !newest.has(v) && !protectedVersions.has(v));
}
