/**
 * Release files shared through an archive store (cluster mode): packed as a tar.gz when an engine
 * takes a release, and fetched, unpacked within the release limits and checked against the
 * recorded content hash by an engine that has to install a release it never received.
 *
 * @module
 */
import { packTar, type TarEntry } from "modern-tar";
import { BundlehostError, NotFoundError } from "../base/errors.ts";
import type { ReleaseArchives } from "../store/archives.ts";
import type { ReleaseRecord } from "../store/store.ts";
import { hashFiles, type ReleaseFile, type ReleaseLimits, unpackArchive } from "./files.ts";
import { writeReleaseFolder } from "./placed_folder.ts";

/**
 * Packs release files into a tar.gz archive.
 *
 * @param files The release's files.
 * @returns The archive's bytes.
 */
export async function packRelease(files: readonly ReleaseFile[]): Promise<Uint8Array<ArrayBuffer>> {
  const entries: TarEntry[] = files.map((file) => ({
    header: { name: file.path, size: file.data.byteLength, type: "file" },
    body: file.data,
  }));
  const tar = await packTar(entries);
  const gz = new Blob([tar]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(gz).arrayBuffer());
}

/**
 * Fetches a release this engine never received from the archive store, checks its files against
 * the recorded content hash and writes its release folder.
 *
 * @param archives The archive store.
 * @param release The release's record.
 * @param dir Its release folder (must not exist).
 * @param limits Release size limits (the archive is bounded by them too).
 * @throws {NotFoundError} When the archive store has no archive for it.
 * @throws {BundlehostError} `CONFLICT` when the archive's files do not have the recorded hash.
 */
export async function fetchRelease(
  archives: ReleaseArchives,
  release: ReleaseRecord,
  dir: string,
  limits: ReleaseLimits,
): Promise<void> {
  const archive = await archives.get(release.hash, limits.maxBytes * 2 + 1024 * 1024);
  if (!archive) {
    throw new NotFoundError(
      `Release ${release.id}@${release.version} (${release.hash}) is not in the cluster's archive store`,
    );
  }
  const files = await unpackArchive(archive, limits);
  const actual = await hashFiles(files);
  if (actual !== release.hash) {
    throw new BundlehostError(
      "CONFLICT",
      `Archive of ${release.id}@${release.version} has hash ${actual}, the registry records ${release.hash}`,
    );
  }
  await writeReleaseFolder(files, dir);
}
