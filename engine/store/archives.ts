/**
 * Where release archives are shared between engines (cluster mode): every release's files, packed,
 * stored under their content hash, so an engine that has not seen a release can fetch it, verify
 * it and install it. A single engine has no archive store: its release folders are the only copy.
 *
 * @module
 */

/**
 * Release archives by content hash.
 *
 * @example Keep archives in memory
 * ```ts
 * import type { ReleaseArchives } from "./archives.ts";
 *
 * const kept = new Map<string, Uint8Array<ArrayBuffer>>();
 * const archives: ReleaseArchives = {
 *   put: (hash, archive) => Promise.resolve(void kept.set(hash, archive)),
 *   get: (hash) => Promise.resolve(kept.get(hash)),
 * };
 * ```
 */
export interface ReleaseArchives {
  /**
   * Stores a release's archive durably under its content hash (a no-op when it is there).
   *
   * @param hash The release's content hash (`sha256-<hex>`).
   * @param archive The packed files (tar.gz).
   */
  put(hash: string, archive: Uint8Array<ArrayBuffer>): Promise<void>;
  /**
   * The archive stored under a content hash.
   *
   * @param hash The release's content hash.
   * @param maxBytes Largest archive accepted; a larger one is refused before it is read.
   * @returns Its bytes, or `undefined` when none is stored.
   */
  get(hash: string, maxBytes: number): Promise<Uint8Array<ArrayBuffer> | undefined>;
}
