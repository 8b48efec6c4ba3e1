/**
 * Vetting once per content (`engine/release/vet_cache.ts`): a folder with the same files as one
 * already accepted is not vetted again, and any difference that could change the verdict (a
 * module's bytes, an added file, the allow-list, an outward link) is vetted afresh.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ReleaseRefusedError } from "../mod.ts";
import { vetBundle } from "../engine/release/vet.ts";
import { type CachedGraph, VetCache, vetKey, vetKeyOfFiles } from "../engine/release/vet_cache.ts";
import { readBundleFiles } from "../engine/release/files.ts";
import { rejects, writeBundle } from "./_helpers.ts";

/** A cache that counts its hits and stores. */
class CountingCache extends VetCache {
  hits = 0;
  stores = 0;
  override get(key: string): CachedGraph | undefined {
    const graph = super.get(key);
    if (graph) this.hits++;
    return graph;
  }
  override set(key: string, graph: CachedGraph): void {
    this.stores++;
    super.set(key, graph);
  }
}

const FILES = {
  "mod.ts": 'import { two } from "./lib/two.ts";\nexport default { n: two };\n',
  "lib/two.ts": "export const two = 2;\n",
};

async function withRoot(work: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-vet-cache-" });
  try {
    await work(await Deno.realPath(root));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("vetBundle reuses an accepted graph for a new version with the same modules", async () => {
  await withRoot(async (root) => {
    const cache = new CountingCache();
    const first = await writeBundle(root, { id: "c", version: "1.0.0" }, FILES);
    const second = await writeBundle(root, { id: "c", version: "1.0.1" }, FILES);
    const a = await vetBundle(first, "./mod.ts", { cache });
    const b = await vetBundle(second, "./mod.ts", { cache });
    assert.deepEqual(a.moduleFiles, [`${first}/lib/two.ts`, `${first}/mod.ts`]);
    assert.deepEqual(b.moduleFiles, [`${second}/lib/two.ts`, `${second}/mod.ts`]);
    assert.deepEqual({ hits: cache.hits, stores: cache.stores }, { hits: 1, stores: 1 });
    // Vetted without the cache, the second folder gives the same report.
    assert.deepEqual(await vetBundle(second, "./mod.ts", { cache: null }), b);
  });
});

Deno.test("vetBundle vets afresh when a module changes, and refuses what the change brings", async () => {
  await withRoot(async (root) => {
    const cache = new CountingCache();
    await Deno.writeTextFile(`${root}/outside.ts`, "export const two = 2;\n");
    const good = await writeBundle(root, { id: "c", version: "1.0.0" }, FILES);
    await vetBundle(good, "./mod.ts", { cache });
    const bad = await writeBundle(root, { id: "c", version: "1.0.1" }, {
      ...FILES,
      "lib/two.ts": 'export { two } from "../../outside.ts";\n',
    });
    await rejects(() => vetBundle(bad, "./mod.ts", { cache }), ReleaseRefusedError, "outside");
    assert.equal(cache.hits, 0);
    assert.equal(cache.stores, 1, "a refusal is not remembered");
  });
});

Deno.test("vetBundle still refuses an outward link in a folder whose modules are cached", async () => {
  await withRoot(async (root) => {
    const cache = new CountingCache();
    const good = await writeBundle(root, { id: "c", version: "1.0.0" }, FILES);
    await vetBundle(good, "./mod.ts", { cache });
    const linked = await writeBundle(root, { id: "c", version: "1.0.1" }, FILES);
    await Deno.symlink("/etc", `${linked}/etc`);
    await rejects(() => vetBundle(linked, "./mod.ts", { cache }), ReleaseRefusedError, "link");
    assert.equal(cache.hits, 0);
  });
});

Deno.test("vetKey covers every file but the manifest, and the allow-list", async () => {
  await withRoot(async (root) => {
    const parts = { entry: "./mod.ts", imports: [], denoCommand: "deno" };
    const a = await writeBundle(root, { id: "c", version: "1.0.0" }, FILES);
    const b = await writeBundle(root, { id: "c", version: "9.9.9", description: "x" }, FILES);
    const c = await writeBundle(root, { id: "c", version: "1.0.0" }, { ...FILES, "x.txt": "" });
    const key = await vetKey(a, parts);
    assert.equal(await vetKey(b, parts), key, "the manifest is not part of the key");
    assert.notEqual(await vetKey(c, parts), key, "an added file is");
    assert.notEqual(await vetKey(a, { ...parts, imports: ["npm:x@1"] }), key);
    assert.notEqual(await vetKey(a, { ...parts, entry: "./lib/two.ts" }), key);
  });
});

Deno.test("vetKeyOfFiles of a release's files is the key of the folder holding them", async () => {
  await withRoot(async (root) => {
    const parts = { entry: "./mod.ts", imports: [], denoCommand: "deno" };
    const dir = await writeBundle(root, { id: "c", version: "1.0.0" }, FILES);
    const files = await readBundleFiles(dir);
    assert.ok(files.some((f) => f.path === "lib/two.ts"), "nested files are part of it");
    assert.equal(await vetKeyOfFiles(files, parts), await vetKey(dir, parts));
    const changed = files.map((f) =>
      f.path === "lib/two.ts"
        ? { ...f, data: new TextEncoder().encode("export const two = 3;\n") }
        : f
    );
    assert.notEqual(await vetKeyOfFiles(changed, parts), await vetKey(dir, parts));
  });
});

Deno.test("vetBundle with the written files hits the cache the folder's own key filled", async () => {
  await withRoot(async (root) => {
    const cache = new CountingCache();
    const dir = await writeBundle(root, { id: "w", version: "1.0.0" }, FILES);
    const first = await vetBundle(dir, "./mod.ts", { cache });
    const again = await vetBundle(dir, "./mod.ts", { cache, written: await readBundleFiles(dir) });
    assert.equal(cache.hits, 1, "same content, same key");
    assert.deepEqual(again.moduleFiles.sort(), first.moduleFiles.sort());
  });
});

Deno.test("VetCache drops the least recently used graph past its capacity", () => {
  const cache = new VetCache(2);
  const graph = (name: string): CachedGraph => ({
    moduleFiles: [name],
    npmPackages: [],
    remoteModules: [],
  });
  cache.set("a", graph("a"));
  cache.set("b", graph("b"));
  assert.ok(cache.get("a"));
  cache.set("c", graph("c"));
  assert.equal(cache.size, 2);
  assert.equal(cache.get("b"), undefined);
  assert.deepEqual(cache.get("a")?.moduleFiles, ["a"]);
  assert.deepEqual(cache.get("c")?.moduleFiles, ["c"]);
});

Deno.test("An engine's accepted graphs survive a restart in its folder, and a forged one is ignored", async () => {
  await withRoot(async (root) => {
    const dir = `${root}/vet`;
    const folder = await writeBundle(root, { id: "p", version: "1.0.0" }, FILES);
    const first = new CountingCache(16, dir);
    const report = await vetBundle(folder, "./mod.ts", { cache: first });
    const [stored] = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.match(stored ?? "", /^[0-9a-f]{64}\.json$/);
    // A new process: an empty memory, the same folder. The graph comes from the folder, so
    // deno info is not run (vetBundle stores only what deno info produced).
    const second = new CountingCache(16, dir);
    const again = await vetBundle(folder, "./mod.ts", { cache: second });
    assert.deepEqual(again, report);
    assert.equal(second.stores, 0, "deno info did not run again");
    assert.equal(second.size, 1, "the graph read from the folder is in memory now");
    // A file that would grant a read outside the folder is not a graph: vetted afresh.
    const key = stored!.slice(0, -".json".length);
    await Deno.writeTextFile(
      `${dir}/${stored}`,
      JSON.stringify({ moduleFiles: ["../../etc/passwd"], npmPackages: [], remoteModules: [] }),
    );
    assert.equal(await new VetCache(16, dir).lookup(key), undefined);
    const third = new CountingCache(16, dir);
    assert.deepEqual(await vetBundle(folder, "./mod.ts", { cache: third }), report);
    assert.equal(third.stores, 1, "the forged graph was vetted afresh and replaced");
    assert.equal(first.size, 1);
  });
});

Deno.test("An engine keeps at most its cap of accepted graphs on disk, the newest ones", async () => {
  await withRoot(async (root) => {
    const dir = `${root}/vet`;
    const cache = new VetCache(16, dir, 3);
    const folders: string[] = [];
    for (let i = 0; i < 6; i++) {
      // Each folder's modules differ, so each is a graph of its own.
      const folder = await writeBundle(root, { id: `k${i}`, version: "1.0.0" }, {
        ...FILES,
        "lib/two.ts": `export const two = ${i};\n`,
      });
      folders.push(folder);
      await vetBundle(folder, "./mod.ts", { cache });
      await new Promise((resolve) => setTimeout(resolve, 20)); // distinct modification times
    }
    const stored = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.equal(stored.length, 3);
    // The last three folders' graphs are the ones a restart finds.
    const keys = await Promise.all(
      folders.map((folder) =>
        vetKey(folder, { entry: "./mod.ts", imports: [], denoCommand: "deno" })
      ),
    );
    assert.deepEqual(stored.sort(), keys.slice(3).map((k) => `${k}.json`).sort());
  });
});

Deno.test("A restarted engine counts the graphs already on disk against its cap", async () => {
  await withRoot(async (root) => {
    const dir = `${root}/vet`;
    const keys: string[] = [];
    const release = async (cache: VetCache, i: number) => {
      const folder = await writeBundle(root, { id: `r${i}`, version: "1.0.0" }, {
        ...FILES,
        "lib/two.ts": `export const two = ${i};\n`,
      });
      await vetBundle(folder, "./mod.ts", { cache });
      keys.push(await vetKey(folder, { entry: "./mod.ts", imports: [], denoCommand: "deno" }));
      await new Promise((resolve) => setTimeout(resolve, 20)); // distinct modification times
    };
    const before = new VetCache(16, dir, 3);
    for (let i = 0; i < 3; i++) await release(before, i);
    // A new cache over the same folder, as after a restart: the three files count.
    const after = new VetCache(16, dir, 3);
    for (let i = 3; i < 5; i++) await release(after, i);
    const stored = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(stored, keys.slice(2).map((k) => `${k}.json`).sort());
  });
});
