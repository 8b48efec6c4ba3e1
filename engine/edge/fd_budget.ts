/**
 * How many connections the edge may hold without starving the rest of the engine of file
 * descriptors. Deno does not expose `getrlimit`, and `/proc/self/limits` needs `--allow-all`, so
 * the budget is measured: open one readable path repeatedly until the process is out of
 * descriptors (or enough are known to be free), then close them all. What the engine needs
 * besides connections (Deno KV, child processes and their pipes, `deno info`, workers) is kept
 * back as the reserve.
 *
 * @module
 */

/** What {@linkcode connectionBudget} measured. */
export interface ConnectionBudget {
  /** Connections the edge may hold at once. */
  maxConnections: number;
  /** Descriptors that were free when measured (at most `wanted + reserve`). */
  freeFds: number;
  /** Descriptors kept back for the rest of the engine. */
  reserve: number;
}

/**
 * Whether an error is the process running out of file descriptors (EMFILE or ENFILE).
 *
 * @param error Anything thrown.
 * @returns True for "Too many open files".
 */
export function isOutOfDescriptors(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /os error 2[34]\b|too many open files/i.test(message);
}

/**
 * Measures how many connections fit under the descriptor limit while keeping `reserve` free.
 *
 * @param probePath A path the engine may read (a folder works), opened repeatedly to count.
 * @param wanted Connections wanted at most.
 * @param reserve Descriptors to keep back; at most half of those free is kept.
 * @returns The budget; `maxConnections` is `wanted` when enough descriptors are free.
 * @throws {Error} When `probePath` cannot be opened for another reason.
 */
export function connectionBudget(
  probePath: string,
  wanted: number,
  reserve: number,
): ConnectionBudget {
  const files: Deno.FsFile[] = [];
  try {
    while (files.length < wanted + reserve) files.push(Deno.openSync(probePath));
  } catch (error) {
    if (!isOutOfDescriptors(error)) {
      for (const file of files) file.close();
      throw error;
    }
  }
  for (const file of files) file.close();
  const free = files.length;
  const kept = Math.min(reserve, Math.floor(free / 2));
  return {
    maxConnections: Math.max(1, Math.min(wanted, free - kept)),
    freeFds: free,
    reserve: kept,
  };
}
