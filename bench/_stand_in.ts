/**
 * A stand-in for an ACTIVE revision, for benchmarks of the route decision: the router reads only
 * `id`, `state` and `manifest.{services, attributes, mock, ranking}`, the broker also `label`,
 * `manifest.governance`, `manifest.degradeTo` and `call()`. Spawning real workers would measure
 * the sandboxes, not the route decision.
 *
 * @module
 */
import type { Revision } from "../engine/core/revision.ts";

/** What a stand-in declares. */
export interface StandInManifest {
  /** Service name → version. */
  services: Record<string, string>;
  /** Routing attributes. @default {{}} */
  attributes?: Record<string, string>;
  /** Ranking. @default {0} */
  ranking?: number;
}

/**
 * An ACTIVE revision `id@1.0.0` whose calls answer `answer`.
 *
 * @param id Bundle id.
 * @param manifest Services, attributes, ranking.
 * @param answer What `call()` resolves to.
 * @returns The stand-in.
 */
export function standInRevision(id: string, manifest: StandInManifest, answer: unknown): Revision {
  return {
    id,
    version: "1.0.0",
    label: `${id}@1.0.0`,
    state: "ACTIVE",
    manifest: {
      id,
      version: "1.0.0",
      services: manifest.services,
      attributes: manifest.attributes ?? {},
      mock: false,
      ranking: manifest.ranking ?? 0,
      governance: {},
    },
    call: () => Promise.resolve(answer),
  } as unknown as Revision;
}
