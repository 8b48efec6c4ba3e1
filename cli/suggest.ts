/**
 * "Did you mean": the closest known word to a typo, by edit distance.
 *
 * @module
 */

/**
 * Levenshtein distance between two strings (insertions, deletions, substitutions; a swap of two
 * neighbours counts once).
 *
 * @param a First string.
 * @param b Second string.
 * @returns The number of edits.
 */
export function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Math.max(a.length, b.length);
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known word closest to `typo`, when it is close enough to be a likely typo (at most a third
 * of its length, and at least one edit, away).
 *
 * @param typo What the user typed.
 * @param known The words the CLI knows.
 * @returns The suggestion, or `undefined`.
 */
export function closest(typo: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const word of known) {
    const distance = editDistance(typo.toLowerCase(), word);
    if (distance < bestDistance) [best, bestDistance] = [word, distance];
  }
  return bestDistance <= Math.max(1, Math.floor(typo.length / 3)) ? best : undefined;
}

/**
 * ` Did you mean "x"?`, or an empty string.
 *
 * @param typo What the user typed.
 * @param known The words the CLI knows.
 * @param prefix Put before the suggestion, e.g. `--` for flags.
 * @returns The hint to append to a message.
 */
export function didYouMean(typo: string, known: readonly string[], prefix = ""): string {
  const match = closest(typo, known);
  return match === undefined ? "" : ` Did you mean "${prefix}${match}"?`;
}
