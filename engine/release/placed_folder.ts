/**
 * A release folder put in place before its files are on disk: the files are written into a
 * temporary sibling folder, renamed into place, and synced while the release goes on. Vetting the
 * module graph and starting the sandbox only read the files (from the page cache), so they overlap
 * the wait for the disk instead of following it; the release's record is committed only once
 * every file is synced, so an acknowledged release is as durable as with `writeReleaseFolder`.
 * A crash before that leaves a folder without a record, which the next restore removes.
 * `writeReleaseFolder` is the synced-first form, for a folder that must be on disk before its
 * name appears (a shared release fetched from the cluster).
 *
 * @module
 */
import type { ReleaseFile } from "./files.ts";

/** Files written, or synced, at the same time. */
const CONCURRENCY = 8;

/** A release folder in place whose files may still be on their way to disk. */
export interface PlacedFolder {
  /**
   * Resolves once every file is synced; rejects with the sync's error. Await it before anything
   * that makes the release durable (its record).
   */
  synced: Promise<void>;
}

/**
 * Writes files into `target` (a temporary sibling folder, renamed into place, so the final name
 * never holds a partial set of files) and returns once the folder is in place, syncing its files
 * meanwhile.
 *
 * @param files Files to write.
 * @param target Final folder; must not exist.
 * @returns The folder, with the promise of its sync.
 */
export async function placeReleaseFolder(
  files: readonly ReleaseFile[],
  target: string,
): Promise<PlacedFolder> {
  await intoPlace(files, target, writeUnsynced);
  const synced = eachFew(files, (file) => syncFile(`${target}/${file.path}`));
  // The caller awaits it; a failure before then must not surface as an unhandled rejection.
  synced.catch(() => {});
  return { synced };
}

/**
 * Writes files into `target` atomically: into a temporary sibling folder first (each file synced),
 * then renamed into place, so a crash never leaves a half-written release under the final name.
 *
 * @param files Files to write.
 * @param target Final folder; must not exist.
 */
export async function writeReleaseFolder(
  files: readonly ReleaseFile[],
  target: string,
): Promise<void> {
  await intoPlace(files, target, async (path, data) => {
    await writeUnsynced(path, data);
    await syncFile(path);
  });
}

/**
 * Writes every file with `write` into a temporary sibling of `target`, then renames it to
 * `target`; on failure the temporary folder is removed.
 */
async function intoPlace(
  files: readonly ReleaseFile[],
  target: string,
  write: (path: string, data: Uint8Array) => Promise<void>,
): Promise<void> {
  const parent = target.slice(0, target.lastIndexOf("/"));
  await Deno.mkdir(parent, { recursive: true });
  const temp = `${target}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const folders = new Set(files.map((file) => {
      const path = `${temp}/${file.path}`;
      return path.slice(0, path.lastIndexOf("/"));
    }));
    for (const folder of folders) await Deno.mkdir(folder, { recursive: true });
    await eachFew(files, (file) => write(`${temp}/${file.path}`, file.data));
    await Deno.rename(temp, target);
  } catch (error) {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Writes a new read-only file, not synced. */
async function writeUnsynced(path: string, data: Uint8Array): Promise<void> {
  using handle = await Deno.open(path, { write: true, createNew: true, mode: 0o444 });
  let written = 0;
  while (written < data.byteLength) written += await handle.write(data.subarray(written));
}

/** Syncs a written file (through a read-only descriptor: `fsync` flushes the file, not the fd). */
async function syncFile(path: string): Promise<void> {
  using handle = await Deno.open(path, { read: true });
  await handle.sync();
}

/**
 * Runs `work` on every item, a few at a time: syncs of files written together overlap (the
 * journal commits them together), where one after another each waited for its own.
 */
async function eachFew<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let item = items[next++]; item !== undefined; item = items[next++]) await work(item);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, lane));
}
