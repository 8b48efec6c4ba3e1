/**
 * `release <folder|archive>`: uploads a bundle; a folder is packed as tar.gz first.
 *
 * @module
 */
import { packTar, type TarEntry } from "modern-tar";
import type { Command } from "./command.ts";
import { need } from "./command.ts";
import { CliError, EXIT } from "./context.ts";

/**
 * Packs a folder as a gzipped tar, regular files only.
 *
 * @param dir The folder.
 * @returns The archive.
 * @throws {CliError} exit 2 when the folder holds something other than files and folders.
 */
export async function packFolder(dir: string): Promise<Uint8Array<ArrayBuffer>> {
  const entries: TarEntry[] = [];
  async function walk(rel: string): Promise<void> {
    for await (const entry of Deno.readDir(rel ? `${dir}/${rel}` : dir)) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile) {
        entries.push({
          header: { name: path, size: 0, type: "file" },
          body: await Deno.readFile(`${dir}/${path}`),
        });
      } else throw new CliError(`Cannot pack ${dir}: "${path}" is not a regular file`, EXIT.usage);
    }
  }
  await walk("");
  for (const e of entries) e.header.size = (e.body as Uint8Array).byteLength;
  const tar = await packTar(entries);
  const gz = new Blob([tar]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(gz).arrayBuffer());
}

/** The `release` command. */
export const release: Command = {
  name: "release",
  args: "<folder|archive.tar[.gz]>",
  summary: "release a bundle (folders are packed and uploaded)",
  details: "Uploads a new version; it takes all traffic once it is ACTIVE.",
  flags: {
    activate: {
      type: "boolean",
      description: "--no-activate stores and installs the version without moving traffic",
    },
  },
  async run(input) {
    need(input, 1, "a folder or archive to release");
    const path = input.positionals[0]!;
    const info = await Deno.stat(path).catch(() => {
      throw new CliError(`No such file or folder: ${path}`, EXIT.usage);
    });
    const archive = info.isDirectory ? await packFolder(path) : await Deno.readFile(path);
    const gz = info.isDirectory || (archive[0] === 0x1f && archive[1] === 0x8b);
    const data = await input.admin.call(
      "POST",
      input.flags.activate === false ? "/admin/releases?activate=false" : "/admin/releases",
      archive,
      gz ? "application/gzip" : "application/x-tar",
    );
    const r = data as {
      id: string;
      version: string;
      created: boolean;
      state: string;
      hash: string;
    };
    return {
      data,
      human: `${r.created ? "Released" : "Already released"} ${r.id}@${r.version} (${r.state}, ${
        r.hash.slice(0, 19)
      }…)`,
    };
  },
};
