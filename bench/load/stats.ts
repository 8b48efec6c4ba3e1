/**
 * Small statistics shared by the load harness's modules.
 *
 * @module
 */

/**
 * Median of the finite numbers in a list.
 *
 * @param values Numbers (NaN and infinities are ignored).
 * @returns The median, or NaN when there is none.
 *
 * @example Odd and even counts
 * ```ts
 * import { median } from "./stats.ts";
 * median([3, 1, 2]); // 2
 * median([4, 1, 3, 2]); // 2.5
 * ```
 */
export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
