/**
 * Release files: reading a bundle folder (regular files only, bounded), hashing its content,
 * copying it atomically into the immutable release store, and unpacking uploaded tar / tar.gz
 * archives with path traversal refused.
 *
 * @module
 */
import { unpackTar } from "modern-tar";
import { readLimited } from "../bytes.ts";
import { ReleaseRefusedError } from "../errors.ts";

/** Limits on what a release may contain. */
export interface ReleaseLimits {
  /** Most files. @default {2000} */
  maxFiles: number;
  /** Most bytes in all files together. @default {52428800} */
  maxBytes: number;
}

/** Default {@linkcode ReleaseLimits}. */
export const DEFAULT_LIMITS: ReleaseLimits = { maxFiles: 2000, maxBytes: 50 * 1024 * 1024 };

/** One file of a release. */
export interface ReleaseFile {
  /** Path relative to the bundle folder, `/`-separated, no `..`. */
  path: string;
  /** Content. */
  data: Uint8Array<ArrayBuffer>;
}

// Control characters are exactly what this refuses.
// deno-lint-ignore no-control-regex
const SAFE_SEGMENT = /^[^\u0000-\u001f/\\]+$/;

/**
 * Checks a relative path from a folder walk or an archive.
 *
 * @param path Path as found.
 * @returns The normalized path.
 * @throws {ReleaseRefusedError} For absolute paths, `..`, backslashes or control characters.
 */
export function safeRelativePath(path: string): string {
  const trimmed = path.replace(/^\.\//, "").replace(/\/+$/, "");
  if (trimmed.startsWith("/") || trimmed === "") {
    throw new ReleaseRefusedError(`Cannot release bundle: path "${path}" is absolute or empty`);
  }
  const segments = trimmed.split("/");
  for (const segment of segments) {
    if (segment === ".." || segment === "." || !SAFE_SEGMENT.test(segment)) {
      throw new ReleaseRefusedError(
        `Cannot release bundle: path "${path}" leaves the bundle folder or has unsafe characters`,
      );
    }
  }
  return segments.join("/");
}

/**
 * Reads every file of a bundle folder. Symlinks and special files are refused: a release must be
 * self-contained so that the stored copy is exactly what runs.
 *
 * @param dir Bundle folder.
 * @param limits Size limits.
 * @returns Files sorted by path.
 */
export async function readBundleFiles(
  dir: string,
  limits: ReleaseLimits = DEFAULT_LIMITS,
): Promise<ReleaseFile[]> {
  const files: ReleaseFile[] = [];
  let bytes = 0;
  async function walk(rel: string): Promise<void> {
    for await (const entry of Deno.readDir(rel === "" ? dir : `${dir}/${rel}`)) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      safeRelativePath(path);
      if (entry.isSymlink) {
        throw new ReleaseRefusedError(`Cannot release bundle: "${path}" is a symbolic link`);
      }
      if (entry.isDirectory) {
        await walk(path);
        continue;
      }
      if (!entry.isFile) {
        throw new ReleaseRefusedError(`Cannot release bundle: "${path}" is not a regular file`);
      }
      if (files.length >= limits.maxFiles) {
        throw new ReleaseRefusedError(`Cannot release bundle: more than ${limits.maxFiles} files`);
      }
      const data = await Deno.readFile(`${dir}/${path}`);
      bytes += data.byteLength;
      if (bytes > limits.maxBytes) {
        throw new ReleaseRefusedError(`Cannot release bundle: more than ${limits.maxBytes} bytes`);
      }
      files.push({ path, data });
    }
  }
  await walk("");
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Content hash of a release: SHA-256 over `path NUL size NUL sha256(content) LF` per file, in path
 * order. Independent of timestamps and of the folder's location.
 *
 * @param files Files sorted by path.
 * @returns `sha256-<hex>`.
 */
export async function hashFiles(files: readonly ReleaseFile[]): Promise<string> {
  const lines: string[] = [];
  for (const file of files) {
    lines.push(
      `${file.path}\u0000${file.data.byteLength}\u0000${
        hex(await crypto.subtle.digest("SHA-256", file.data))
      }\n`,
    );
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(lines.join("")));
  return `sha256-${hex(digest)}`;
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
  const parent = target.slice(0, target.lastIndexOf("/"));
  await Deno.mkdir(parent, { recursive: true });
  const temp = `${target}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    for (const file of files) {
      const path = `${temp}/${file.path}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      using handle = await Deno.open(path, { write: true, createNew: true, mode: 0o444 });
      let written = 0;
      while (written < file.data.byteLength) {
        written += await handle.write(file.data.subarray(written));
      }
      await handle.sync();
    }
    await Deno.rename(temp, target);
  } catch (error) {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    throw error;
  }
}

/**
 * Unpacks a tar or gzip-compressed tar archive into release files. Entries must be regular files or
 * folders with safe relative names; links, devices, `..` and absolute names are refused. When the
 * archive holds one top-level folder containing `bundle.json`, that folder is the bundle.
 *
 * @param archive Archive bytes.
 * @param limits Size limits.
 * @returns Files sorted by path.
 * @throws {ReleaseRefusedError} For an unsafe or malformed archive.
 */
export async function unpackArchive(
  archive: Uint8Array<ArrayBuffer>,
  limits: ReleaseLimits = DEFAULT_LIMITS,
): Promise<ReleaseFile[]> {
  let tar = archive;
  if (archive[0] === 0x1f && archive[1] === 0x8b) {
    try {
      const stream = new Blob([archive]).stream().pipeThrough(new DecompressionStream("gzip"));
      // Bound the inflated size too: a small gzip can expand enormously.
      tar = await readLimited(
        stream,
        limits.maxBytes * 2 + 1024 * 1024,
        () =>
          new ReleaseRefusedError("Cannot release bundle: archive inflates beyond the size limit"),
      );
    } catch (error) {
      if (error instanceof ReleaseRefusedError) throw error;
      throw new ReleaseRefusedError(
        `Cannot release bundle: archive is not valid gzip (${(error as Error).message})`,
      );
    }
  }
  let entries: Awaited<ReturnType<typeof unpackTar>>;
  try {
    entries = await unpackTar(tar);
  } catch (error) {
    throw new ReleaseRefusedError(
      `Cannot release bundle: archive is not a valid tar (${(error as Error).message})`,
    );
  }
  const files: ReleaseFile[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const name = entry.header.name;
    if (name === "./" || name === ".") continue;
    const path = safeRelativePath(name);
    if (entry.header.type === "directory") continue;
    if (entry.header.type !== "file") {
      throw new ReleaseRefusedError(
        `Cannot release bundle: archive entry "${name}" is a ${entry.header.type}, not a file`,
      );
    }
    if (files.length >= limits.maxFiles) {
      throw new ReleaseRefusedError(`Cannot release bundle: more than ${limits.maxFiles} files`);
    }
    const data = new Uint8Array(entry.data ?? new Uint8Array());
    bytes += data.byteLength;
    if (bytes > limits.maxBytes) {
      throw new ReleaseRefusedError(`Cannot release bundle: more than ${limits.maxBytes} bytes`);
    }
    files.push({ path, data });
  }
  if (!files.some((f) => f.path === "bundle.json")) {
    const tops = new Set(files.map((f) => f.path.split("/")[0]));
    const [top] = tops;
    if (
      tops.size === 1 && top !== undefined && files.some((f) => f.path === `${top}/bundle.json`)
    ) {
      for (const file of files) file.path = file.path.slice(top.length + 1);
    } else {
      throw new ReleaseRefusedError("Cannot release bundle: archive has no bundle.json");
    }
  }
  const seen = new Set<string>();
  for (const file of files) {
    if (seen.has(file.path)) {
      throw new ReleaseRefusedError(`Cannot release bundle: archive has "${file.path}" twice`);
    }
    seen.add(file.path);
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
