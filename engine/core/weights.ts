/**
 * Traffic weights between the versions of one bundle: one rule, checked in one place, for the
 * admin API, the registry and the runtime alike.
 *
 * @module
 */

/** Most versions one split may name. */
export const MAX_WEIGHTED_VERSIONS = 16;
/** Largest weight of one version. */
export const MAX_WEIGHT = 1_000_000;

/**
 * Checks a traffic split: 1 to {@linkcode MAX_WEIGHTED_VERSIONS} versions, each weight a number
 * from 0 to {@linkcode MAX_WEIGHT}, not all zero.
 *
 * @param weights Version → weight.
 * @throws {TypeError} Naming the problem.
 *
 * @example A canary split passes; an all-zero one does not
 * ```ts
 * import { checkWeights } from "./weights.ts";
 * checkWeights({ "1.0.0": 90, "1.1.0": 10 });
 * try {
 *   checkWeights({ "1.0.0": 0 });
 * } catch (error) {
 *   console.log((error as Error).message); // Traffic weights must not all be zero
 * }
 * ```
 */
export function checkWeights(weights: Record<string, number>): void {
  const entries = Object.entries(weights);
  if (entries.length === 0 || entries.length > MAX_WEIGHTED_VERSIONS) {
    throw new TypeError(
      `Traffic weights must name between 1 and ${MAX_WEIGHTED_VERSIONS} versions`,
    );
  }
  for (const [version, weight] of entries) {
    if (
      typeof weight !== "number" || !Number.isFinite(weight) || weight < 0 || weight > MAX_WEIGHT
    ) {
      throw new TypeError(
        `Weight of version "${version}" must be a number from 0 to ${MAX_WEIGHT}`,
      );
    }
  }
  if (entries.every(([, w]) => w === 0)) {
    throw new TypeError("Traffic weights must not all be zero");
  }
}
