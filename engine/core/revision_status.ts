/**
 * What a revision shows of itself: the status of a version and of its instances, and what a
 * version exposes (kept with its release).
 *
 * @module
 */
import type { IsolationTier, LifecycleState } from "../sdk/types.ts";
import type { ScalingStatus } from "./scaling.ts";

/**
 * What a version exposes, as its sandbox reported when it last started: kept with the release, so
 * that a version restored scaled to zero shows its services before an instance starts.
 *
 * @example What the latest release of a bundle exposed
 * ```ts
 * import { createEngine, type Exposed } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const { releases } = await engine.registry.get("hello");
 * const exposed: Exposed | undefined = releases.at(-1)?.exposes;
 * console.log(exposed?.services, exposed?.fetch);
 * ```
 */
export interface Exposed {
  /** Service name → method names. */
  services: Record<string, string[]>;
  /** Whether the bundle has a fetch handler. */
  fetch: boolean;
}

/**
 * Status of one instance.
 *
 * @example Memory of every instance
 * ```ts
 * import { createEngine, type InstanceStatus } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const instances: InstanceStatus[] = engine.bundle("hello").revisions.flatMap((r) => r.instances);
 * for (const i of instances) console.log(i.id, i.tier, i.state, i.memory?.rss ?? "n/a");
 * ```
 */
export interface InstanceStatus {
  /** Instance id. */
  id: string;
  /** Tier. */
  tier: IsolationTier;
  /**
   * `starting`, `ready` (serving), `warm` (initialised spare, not serving), `retiring` (finishing
   * its calls before it ends) or `dead`.
   */
  state: string;
  /** OS process id (process tier). */
  pid?: number;
  /** Calls in flight. */
  inflight: number;
  /** Latest memory report, bytes. */
  memory?: { rss: number; heapUsed: number; heapTotal: number };
  /** Creation time, ISO. */
  startedAt: string;
}

/**
 * Status of one revision.
 *
 * @example Install a version and look at it
 * ```ts
 * import { createEngine, type RevisionStatus } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const revision: RevisionStatus = await engine.runtime.install("./bundles/hello");
 * console.log(revision.version, revision.state, revision.isolation, Object.keys(revision.services));
 * ```
 */
export interface RevisionStatus {
  /** Bundle id. */
  id: string;
  /** Version. */
  version: string;
  /** Lifecycle state. */
  state: LifecycleState;
  /** Tier. */
  isolation: IsolationTier;
  /** Why this tier, e.g. that the operator policy does not trust the bundle with the worker tier. */
  isolationReason?: string;
  /** Last failure (start failure, crash loop), kept until the next successful start. */
  error?: string;
  /** Services with SPI version, methods and service URIs. */
  services: Record<string, { version: string; methods: string[]; uris?: string[] }>;
  /** Attributes. */
  attributes: Record<string, string>;
  /** Whether a fetch handler is served at `/b/<id>/`. */
  fetch: boolean;
  /** Release content hash. */
  hash?: string;
  /** Instances. */
  instances: InstanceStatus[];
  /** Unexpected instance exits since the last start. */
  restarts: number;
  /** Why the last instance ended unexpectedly. */
  lastExitReason?: string;
  /** Instances evicted while unresponsive whose worker thread may still run (worker tier). */
  leakedWorkers: number;
  /** Pool sizes, autoscaler mode and the last scaling decision, while running. */
  scaling?: ScalingStatus;
  /** Calls completed and failed since the revision was installed. */
  calls: { total: number; errors: number };
}
