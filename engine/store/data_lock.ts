/**
 * One engine per data folder: an exclusive OS lock (`flock`) on `<dataDir>/engine.lock`, taken
 * before any state is opened. The kernel drops the lock when the process ends, however it ends,
 * so a `kill -9`ed engine never blocks a restart; the pid written into the file is only a hint
 * for the operator.
 *
 * @module
 */
import { BundleStateError } from "../base/errors.ts";

/**
 * Another live engine holds the data folder.
 *
 * @example One engine per data folder
 * ```ts
 * import { createEngine, DataFolderInUseError } from "@bundlehost/sdk";
 *
 * await using first = await createEngine({ dataDir: ".bundlehost" });
 * await createEngine({ dataDir: ".bundlehost" }).catch((error) => {
 *   if (error instanceof DataFolderInUseError) console.log(error.message);
 *   else throw error;
 * });
 * ```
 */
export class DataFolderInUseError extends BundleStateError {
  /** The data folder. */
  readonly dataDir: string;

  /**
   * Creates the error.
   *
   * @param dataDir The data folder.
   * @param holder What the lock file says about the holder (its pid), if anything.
   */
  constructor(dataDir: string, holder: string) {
    super(
      `Data folder ${dataDir} is in use by another engine${
        holder ? ` (pid ${holder})` : ""
      }: stop it or pick another --data-dir`,
    );
    this.dataDir = dataDir;
  }

  /** Error class name. */
  override get name(): string {
    return "DataFolderInUseError";
  }
}

/** A held data-folder lock; `release()` (or process exit) frees it. */
export interface DataLock {
  /** Frees the lock. */
  release(): void;
}

/**
 * Takes the data folder's lock without waiting.
 *
 * @param dataDir An existing data folder.
 * @returns The held lock.
 * @throws {DataFolderInUseError} When another engine (process or in this process) holds it.
 */
export async function lockDataDir(dataDir: string): Promise<DataLock> {
  const path = `${dataDir}/engine.lock`;
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  let locked = false;
  try {
    locked = await file.tryLock(true);
  } catch (error) {
    file.close();
    throw error;
  }
  if (!locked) {
    file.close();
    const holder = await Deno.readTextFile(path).catch(() => "");
    throw new DataFolderInUseError(dataDir, /^\d+$/.test(holder.trim()) ? holder.trim() : "");
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(String(Deno.pid)));
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      file.close();
    },
  };
}
