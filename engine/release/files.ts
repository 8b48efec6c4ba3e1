/**
 * Release files: reading a bundle folder (regular files only, bounded), hashing its content, and
 * unpacking uploaded tar / tar.gz archives with path traversal refused. Writing them into the
 * immutable release store is `placed_folder.ts`.
 *
 * @module
 */
import { createTarDecoder, type ParsedTarEntry } from "modern-tar";
import { readLimited, toHex } from "../base/bytes.ts";
import { ReleaseRefusedError } from "../base/errors.ts";
import type { WrittenFile } from "../core/port.ts";

/** Limits on what a release may contain. */
export interface ReleaseLimits {
  /** Most files. @default {2000} */
  maxFiles: number;
  /** Most bytes in all files together. @default {52428800} */
  maxBytes: number;
}

/** Default {@linkcode ReleaseLimits}. */
export const DEFAULT_LIMITS: ReleaseLimits = { maxFiles: 2000, maxBytes: 50 * 1024 * 1024 };

/**
 * One file of a release: path relative to the bundle folder (`/`-separated, no `..`) and content.
 * The same shape the runtime's install takes back as what a release has written.
 */
export type ReleaseFile = WrittenFile;

// Control characters are exactly what this refuses.
// deno-lint-ignore no-control-regex
const SAFE_SEGMENT = /^[^\u0000-\u001f/\\]+$/;

/** Longest file name (path segment) in a release, bytes: the file system's own NAME_MAX. */
export const MAX_NAME_BYTES = 255;
/** Longest relative path in a release, bytes (the data folder and release prefix come on top). */
export const MAX_PATH_BYTES = 1024;
/** Deepest folder nesting in a release. */
export const MAX_DEPTH = 32;

const encoder = new TextEncoder();

/** A path shortened for an error message: a 10 KB name must not become a 10 KB reply. */
function shown(path: string): string {
  return path.length > 80 ? `${path.slice(0, 80)}…` : path;
}

/**
 * Checks a relative path from a folder walk or an archive.
 *
 * @param path Path as found.
 * @returns The normalized path.
 * @throws {ReleaseRefusedError} For absolute paths, `..`, backslashes, control characters, a
 * segment over {@linkcode MAX_NAME_BYTES}, a path over {@linkcode MAX_PATH_BYTES} or nesting
 * deeper than {@linkcode MAX_DEPTH}.
 */
export function safeRelativePath(path: string): string {
  const trimmed = path.replace(/^\.\//, "").replace(/\/+$/, "");
  if (trimmed.startsWith("/") || trimmed === "") {
    throw new ReleaseRefusedError(
      `Cannot release bundle: path "${shown(path)}" is absolute or empty`,
    );
  }
  if (encoder.encode(trimmed).byteLength > MAX_PATH_BYTES) {
    throw new ReleaseRefusedError(
      `Cannot release bundle: entry "${
        shown(path)
      }" has a name longer than ${MAX_PATH_BYTES} bytes`,
    );
  }
  const segments = trimmed.split("/");
  if (segments.length > MAX_DEPTH + 1) {
    throw new ReleaseRefusedError(
      `Cannot release bundle: entry "${shown(path)}" is nested deeper than ${MAX_DEPTH} folders`,
    );
  }
  for (const segment of segments) {
    if (segment === ".." || segment === "." || !SAFE_SEGMENT.test(segment)) {
      throw new ReleaseRefusedError(
        `Cannot release bundle: path "${
          shown(path)
        }" leaves the bundle folder or has unsafe characters`,
      );
    }
    if (encoder.encode(segment).byteLength > MAX_NAME_BYTES) {
      throw new ReleaseRefusedError(
        `Cannot release bundle: entry "${
          shown(path)
        }" has a name segment longer than ${MAX_NAME_BYTES} bytes`,
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

/**
 * One file's line in a content hash: its path, size and SHA-256, NUL-separated. The release hash
 * ({@linkcode hashFiles}) and the vetting key (`vet_cache.ts`) are both made of such lines.
 *
 * @param path Path relative to the bundle folder.
 * @param data Content.
 * @returns The line, without a line break.
 */
export async function fileDigestLine(path: string, data: Uint8Array<ArrayBuffer>): Promise<string> {
  return `${path}\u0000${data.byteLength}\u0000${
    toHex(await crypto.subtle.digest("SHA-256", data))
  }`;
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
  for (const file of files) lines.push(`${await fileDigestLine(file.path, file.data)}\n`);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(lines.join("")));
  return `sha256-${toHex(digest)}`;
}

/** Bytes of archive processed between two yields to the event loop. */
const YIELD_EVERY_BYTES = 64 * 1024;
/** Archive entries processed between two yields to the event loop. */
const YIELD_EVERY_ENTRIES = 8;

/** One turn of the event loop: a yield, not a wait, so it needs no clock. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
/**
 * Counts bytes passing through and errors past `maxBytes`, so an inflating gzip stays bounded, and
 * yields to the event loop every {@linkcode YIELD_EVERY_BYTES}: a stream pipeline over in-memory
 * bytes otherwise runs in microtasks only and would hold the main thread for the whole archive.
 */
function byteLimit(
  maxBytes: number,
  tooLarge: () => Error,
): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  let yielded = 0;
  return new TransformStream({
    async transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > maxBytes) return controller.error(tooLarge());
      controller.enqueue(chunk);
      if (seen - yielded >= YIELD_EVERY_BYTES) {
        yielded = seen;
        await yieldToEventLoop();
      }
    },
  });
}

/**
 * The archive in small slices. Deno inflates each chunk written to a `DecompressionStream` in one
 * go: a 500 KB gzip bomb written whole would become 500 MB at once; 1 KiB of deflate inflates to
 * at most about 1 MiB.
 */
function slices(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.subarray(offset, offset + size));
      offset += size;
    },
  });
}

function notTar(error: unknown): ReleaseRefusedError {
  if (error instanceof ReleaseRefusedError) return error;
  const gzip = error instanceof TypeError && /gzip|deflate|corrupt/i.test(error.message);
  return new ReleaseRefusedError(
    `Cannot release bundle: archive is not ${gzip ? "valid gzip" : "a valid tar"} (${
      (error as Error).message
    })`,
  );
}

/**
 * Unpacks a tar or gzip-compressed tar archive into release files. Entries must be regular files or
 * folders with safe relative names; links, devices, `..` and absolute names are refused. When the
 * archive holds one top-level folder containing `bundle.json`, that folder is the bundle.
 *
 * The archive is streamed (inflated and decoded entry by entry), and every limit is checked on an
 * entry's header before its body is read: a huge entry count, a huge declared size, a name too
 * long for the file system or a gzip bomb is refused early, in bounded memory.
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
  const gzip = archive[0] === 0x1f && archive[1] === 0x8b;
  let source = slices(archive, gzip ? 1024 : YIELD_EVERY_BYTES);
  if (gzip) {
    source = source.pipeThrough(
      new DecompressionStream("gzip") as TransformStream<Uint8Array, Uint8Array>,
    );
  }
  // Entry headers and padding come on top of the files' bytes.
  source = source.pipeThrough(byteLimit(
    limits.maxBytes * 2 + 1024 * 1024,
    () => new ReleaseRefusedError("Cannot release bundle: archive inflates beyond the size limit"),
  ));
  const reader = source.pipeThrough(createTarDecoder()).getReader();
  const files: ReleaseFile[] = [];
  const budget = { bytes: 0, entries: 0 };
  try {
    while (true) {
      let next: ReadableStreamReadResult<ParsedTarEntry>;
      try {
        next = await reader.read();
      } catch (error) {
        throw notTar(error);
      }
      if (next.done) break;
      const file = await archiveFile(next.value, files.length, budget, limits);
      if (file) files.push(file);
      // Decoding runs in microtasks only: let the event loop serve other requests now and then.
      if (budget.entries % YIELD_EVERY_ENTRIES === 0) {
        await yieldToEventLoop();
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
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

/** Checks one entry's header against the limits, then reads its body; `undefined` for folders. */
async function archiveFile(
  entry: ParsedTarEntry,
  count: number,
  budget: { bytes: number; entries: number },
  limits: ReleaseLimits,
): Promise<ReleaseFile | undefined> {
  const { header, body } = entry;
  const name = header.name;
  // Folders count too, or an archive of a million empty folders would be read to the end.
  if (++budget.entries > limits.maxFiles * 2) {
    throw new ReleaseRefusedError(
      `Cannot release bundle: archive has more than ${limits.maxFiles * 2} entries`,
    );
  }
  if (name === "./" || name === "." || header.type === "directory") {
    if (name !== "./" && name !== ".") safeRelativePath(name);
    await body.cancel();
    return undefined;
  }
  const path = safeRelativePath(name);
  if (header.type !== "file") {
    throw new ReleaseRefusedError(
      `Cannot release bundle: archive entry "${shown(name)}" is a ${header.type}, not a file`,
    );
  }
  if (count >= limits.maxFiles) {
    throw new ReleaseRefusedError(`Cannot release bundle: more than ${limits.maxFiles} files`);
  }
  if (budget.bytes + header.size > limits.maxBytes) {
    throw new ReleaseRefusedError(
      `Cannot release bundle: entry "${
        shown(name)
      }" declares ${header.size} bytes, past the ${limits.maxBytes} bytes a release may hold`,
    );
  }
  let data: Uint8Array<ArrayBuffer>;
  try {
    data = await readLimited(
      body,
      header.size,
      () =>
        new ReleaseRefusedError(
          `Cannot release bundle: entry "${shown(name)}" is longer than declared`,
        ),
    );
  } catch (error) {
    throw notTar(error);
  }
  budget.bytes += data.byteLength;
  return { path, data };
}
