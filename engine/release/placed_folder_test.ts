/**
 * `placed_folder.ts` on a real file system: the folder is in place with every file (read-only,
 * exact bytes) when the call returns, its sync settles afterwards, and a refused target leaves
 * nothing behind.
 *
 * @module
 */
import assert from "node:assert/strict";
import { placeReleaseFolder } from "./placed_folder.ts";
import type { ReleaseFile } from "./files.ts";

const encoder = new TextEncoder();

function files(): ReleaseFile[] {
  return [
    { path: "bundle.json", data: encoder.encode('{"id":"placed","version":"1.0.0"}') },
    { path: "lib/deep/util.ts", data: encoder.encode("export const x = 1;\n") },
    { path: "mod.ts", data: encoder.encode("export default {};\n") },
    { path: "empty.txt", data: new Uint8Array() },
  ];
}

Deno.test("placeReleaseFolder puts every file in place, read-only, then syncs them", async () => {
  const root = await Deno.makeTempDir();
  try {
    const target = `${root}/releases/placed/1.0.0`;
    const placed = await placeReleaseFolder(files(), target);
    for (const file of files()) {
      const path = `${target}/${file.path}`;
      assert.deepEqual(await Deno.readFile(path), file.data, file.path);
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o444, `${file.path} is read-only`);
    }
    await placed.synced;
    const siblings = await Array.fromAsync(Deno.readDir(`${root}/releases/placed`));
    assert.deepEqual(siblings.map((e) => e.name), ["1.0.0"], "no temporary folder is left");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("placeReleaseFolder refuses an existing target and leaves no temporary folder", async () => {
  const root = await Deno.makeTempDir();
  try {
    const target = `${root}/1.0.0`;
    await Deno.mkdir(target);
    await Deno.writeTextFile(`${target}/other.ts`, "// already here\n");
    await assert.rejects(placeReleaseFolder(files(), target));
    const names = (await Array.fromAsync(Deno.readDir(root))).map((e) => e.name);
    assert.deepEqual(names, ["1.0.0"], "only the existing folder remains");
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(target))).map((e) => e.name),
      ["other.ts"],
      "the existing folder is untouched",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
