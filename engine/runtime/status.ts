/**
 * Status views of bundles and of the engine, assembled from revisions and the broker.
 *
 * @module
 */
import type { GovernanceStatus } from "../broker/governance_table.ts";
import type { BundleEntry } from "../broker/router.ts";
import type { RevisionStatus } from "../core/revision_status.ts";

/**
 * Status of one bundle id: its revisions and which serves traffic.
 *
 * @example One bundle's versions and instances
 * ```ts
 * import { type BundleStatus, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const hello: BundleStatus = engine.bundle("hello");
 * console.log(hello.current, hello.state, hello.revisions.map((r) => r.version));
 * ```
 */
export interface BundleStatus {
  /** Bundle id. */
  id: string;
  /** Version that serves traffic when no weights are set. */
  current?: string;
  /** Traffic weights per version, when set. */
  weights?: Record<string, number>;
  /** Lifecycle state of the current version. */
  state: string;
  /** Every installed version. */
  revisions: RevisionStatus[];
  /** Breaker and throttling state, when the bundle has any. */
  governance?: GovernanceStatus;
  /** Log lines dropped by the bundle's log budget since the engine started (every version). */
  logsDropped: number;
}

/**
 * Status of the whole engine.
 *
 * @example A health summary
 * ```ts
 * import { createEngine, type EngineStatus } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const status: EngineStatus = engine.status();
 * console.log(`up ${status.uptimeMs} ms, ${status.bundles.length} bundles`);
 * ```
 */
export interface EngineStatus {
  /** Engine uptime, ms. */
  uptimeMs: number;
  /** Bundles. */
  bundles: BundleStatus[];
  /** Worker threads evicted while unresponsive that may still be running (see the process tier). */
  leakedWorkers: number;
}

/**
 * Status of one bundle, with a service URI per method
 * (`bundle://<engine>/<service>/<version>/<method>`).
 *
 * @param entry The bundle's revisions and routing.
 * @param engine Engine name for the URIs.
 * @param governance The broker's view of the bundle.
 * @param logsDropped Log lines the bundle's log budget dropped.
 * @returns The status.
 */
export function bundleStatus(
  entry: BundleEntry,
  engine: string,
  governance: GovernanceStatus,
  logsDropped = 0,
): BundleStatus {
  const revisions = [...entry.revisions.values()].map((r) => {
    const status = r.status();
    for (const [name, service] of Object.entries(status.services)) {
      service.uris = service.methods.map((m) =>
        `bundle://${engine}/${name}/${service.version}/${m}`
      );
    }
    return status;
  });
  const current = entry.current === undefined ? undefined : entry.revisions.get(entry.current);
  const status: BundleStatus = {
    id: entry.id,
    state: current?.state ?? "UNINSTALLED",
    revisions,
    logsDropped,
  };
  if (entry.current !== undefined) status.current = entry.current;
  if (entry.weights) status.weights = Object.fromEntries(entry.weights);
  if (Object.keys(governance).length > 0) status.governance = governance;
  return status;
}
