/**
 * Admission of a manifest under the operator policy: what it asks for must stay within the
 * operator's limits, and the tier it runs in is the operator's decision (only trusted bundles get
 * the worker tier, where an allocation could abort the whole engine: docs/architecture.md, "Platform facts", hole 3).
 *
 * @module
 */
import { ManifestError } from "../base/errors.ts";
import type { Manifest } from "../manifest/manifest.ts";
import { listed, type OperatorPolicy, type PolicyLimits } from "../manifest/policy.ts";
import type { IsolationTier } from "../sdk/types.ts";

/** The tier a bundle runs in and why (shown in status). */
export interface TierChoice {
  /** Tier. */
  tier: IsolationTier;
  /** Why, for people: e.g. `"not trusted by the operator policy"`. */
  reason: string;
}

function beyond(manifest: Manifest, field: string, value: number, bound: string, max: number) {
  return new ManifestError(
    field,
    `Cannot release bundle "${manifest.id}": field "${field}" is ${value}, above the operator's limit ${bound} (${max})`,
  );
}

/**
 * Checks that a manifest asks for no more than the operator's limits allow.
 *
 * @param manifest Validated manifest.
 * @param limits The policy's limits.
 * @throws {ManifestError} Naming the first field above its bound, and the bound.
 *
 * @example A ranking above the bound is refused
 * ```ts
 * import { checkLimits } from "./admission.ts";
 * import { parseManifest } from "../manifest/manifest.ts";
 * import { DEFAULT_LIMITS } from "../manifest/policy.ts";
 * checkLimits(parseManifest({ id: "a", version: "1.0.0", ranking: 5 }), DEFAULT_LIMITS);
 * ```
 */
export function checkLimits(manifest: Manifest, limits: PolicyLimits): void {
  const { scaling, governance } = manifest;
  const checks: [string, number | undefined, keyof PolicyLimits][] = [
    ["ranking", manifest.ranking, "maxRanking"],
    ["scaling.maxWorkers", scaling.maxWorkers, "maxWorkers"],
    ["scaling.minWorkers", scaling.minWorkers, "maxWorkers"],
    ["scaling.warmWorkers", scaling.warmWorkers, "maxWorkers"],
    ["scaling.memoryMb", scaling.memoryMb, "maxMemoryMb"],
    ["scaling.maxBuffered", scaling.maxBuffered, "maxBuffered"],
    ["governance.timeoutMs", governance.timeoutMs, "maxTimeoutMs"],
    ["governance.drainMs", governance.drainMs, "maxTimeoutMs"],
  ];
  for (const [topic, s] of Object.entries(manifest.subscribe)) {
    checks.push([`subscribe.${topic}.timeoutMs`, s.timeoutMs, "maxTimeoutMs"]);
  }
  for (const [cron, s] of Object.entries(manifest.schedule)) {
    checks.push([`schedule.${cron}.timeoutMs`, s.timeoutMs, "maxTimeoutMs"]);
  }
  for (const [field, value, bound] of checks) {
    if (value !== undefined && value > limits[bound]) {
      throw beyond(manifest, field, value, `limits.${bound}`, limits[bound]);
    }
  }
  if (manifest.ranking < 0) {
    throw new ManifestError(
      "ranking",
      `Cannot release bundle "${manifest.id}": field "ranking" is ${manifest.ranking}, below 0`,
    );
  }
}

/**
 * The tier a bundle runs in: the engine's forced tier if any; else the worker tier only when the
 * manifest asks for it and the policy trusts the bundle; else the process tier.
 *
 * @param manifest Validated manifest.
 * @param policy The operator policy.
 * @param forced The engine's `isolation` option, if set.
 * @returns The tier and why.
 */
export function chooseTier(
  manifest: Manifest,
  policy: Pick<OperatorPolicy, "trusted">,
  forced?: IsolationTier,
): TierChoice {
  if (forced) return { tier: forced, reason: `forced by the engine's isolation option` };
  if (manifest.isolation === "process") return { tier: "process", reason: "asked by the manifest" };
  if (listed(policy.trusted, manifest.id)) {
    return { tier: "worker", reason: "asked by the manifest; trusted by the operator policy" };
  }
  return {
    tier: "process",
    reason: "the manifest asks for the worker tier, but the operator policy does not trust it",
  };
}
