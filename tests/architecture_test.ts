/**
 * The structure of the code, checked on its real module graph (`deno info --json` of every entry
 * point, type-only imports included): no import cycles, no import into a higher layer, guest code
 * loads only what a sandbox may hold, every module sits in a declared layer, and the layer table
 * in docs/architecture.md is current. Each checker is first shown to fail on a small graph.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Edge, findCycles } from "./_cycles.ts";
import {
  formatCycles,
  formatGuestViolations,
  formatMarkdown,
  formatViolations,
  layerLinks,
  layerMarkdown,
  layerTable,
  replaceBlock,
} from "./_graph_report.ts";
import { guestViolations } from "./_guest_rule.ts";
import {
  isLocal,
  type Layer,
  LAYER_EXCEPTIONS,
  layerViolations,
  privateViolations,
  unplacedFiles,
} from "./_layers.ts";
import {
  entryPoints,
  type ImportEdge,
  loadModuleGraph,
  type ModuleGraph,
  REPO_ROOT,
} from "./_module_graph.ts";

/** Edges from `"a>b"` shorthands; a `~` instead of `>` marks a type-only import. */
function edges(...pairs: string[]): ImportEdge[] {
  return pairs.map((pair) => {
    const [from, to] = pair.split(/[>~]/) as [string, string];
    return { from, to, typeOnly: pair.includes("~") };
  });
}

function graphOf(list: ImportEdge[]): ModuleGraph {
  const files = new Set(list.flatMap((e) => [e.from, ...(isLocal(e.to) ? [e.to] : [])]));
  return { files: [...files].sort(), edges: list };
}

/** Asserts that each cycle is a closed walk over existing edges. */
function assertClosedWalks(cycles: string[][], list: readonly Edge[]): void {
  for (const cycle of cycles) {
    assert.equal(cycle[0], cycle.at(-1), `cycle ${cycle.join(" > ")} is not closed`);
    for (let i = 1; i < cycle.length; i++) {
      assert.ok(
        list.some((e) => e.from === cycle[i - 1] && e.to === cycle[i]),
        `cycle ${cycle.join(" > ")} uses a missing edge ${cycle[i - 1]} > ${cycle[i]}`,
      );
    }
  }
}

Deno.test("findCycles finds no cycle in a graph without one", () => {
  assert.deepEqual(findCycles(edges("a>b", "b>c", "a>c", "c>d")), []);
});

Deno.test("findCycles reports each cycle group and covers every edge inside it", () => {
  const list = edges("a>b", "b>c", "c>a", "c>b", "d>d", "e>a", "x>y", "y>x", "y>z");
  const groups = findCycles(list);
  assert.deepEqual(groups.map((g) => g.members), [["a", "b", "c"], ["x", "y"], ["d"]]);
  assert.deepEqual(groups[0]!.cycles, [["a", "b", "c", "a"], ["c", "b", "c"]]);
  assert.deepEqual(groups[1]!.cycles, [["x", "y", "x"]]);
  assert.deepEqual(groups[2]!.cycles, [["d", "d"]]);
  for (const group of groups) assertClosedWalks(group.cycles, list);
  const covered = new Set(
    groups.flatMap((g) => g.cycles.flatMap((c) => c.slice(1).map((to, i) => `${c[i]}>${to}`))),
  );
  for (const pair of ["a>b", "b>c", "c>a", "c>b", "d>d", "x>y", "y>x"]) {
    assert.ok(covered.has(pair), `edge ${pair} is in no reported cycle`);
  }
});

Deno.test("findCycles handles a long chain without deep recursion", () => {
  const list = Array.from({ length: 20_000 }, (_, i) => ({ from: `m${i}`, to: `m${i + 1}` }));
  assert.deepEqual(findCycles(list), []);
  const [group] = findCycles([...list, { from: "m20000", to: "m0" }]);
  assert.equal(group?.members.length, 20_001);
});

Deno.test("formatCycles writes each cycle as a chain of files and marks type-only imports", () => {
  const list = edges("a.ts>b.ts", "b.ts~a.ts");
  const text = formatCycles(findCycles(list), list);
  assert.match(text, /group 1 \(2 files\): a\.ts, b\.ts/);
  assert.match(text, /a\.ts → b\.ts ⇢ a\.ts/);
});

Deno.test("loadModuleGraph reads type-only imports, so a cycle made of them is found", async () => {
  const root = await Deno.makeTempDir({ prefix: "graph_" });
  try {
    const files: Record<string, string> = {
      "a.ts": 'import type { B } from "./b.ts";\nexport const a: B | undefined = undefined;\n',
      "b.ts": 'export type { C as B } from "./c.ts";\n',
      "c.ts": 'export type C = typeof import("./d.ts");\nimport { type A } from "./e.ts";\n' +
        "export type D = A;\n",
      "d.ts": 'export type Loop = import("./a.ts").Kind;\nexport const d = 1;\n',
      "e.ts": 'import { a } from "./a.ts";\nexport type A = typeof a;\n',
    };
    files["a.ts"] += "export type Kind = number;\n";
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${root}/${name}`, text);
    }
    const graph = await loadModuleGraph(["a.ts"], await Deno.realPath(root));
    assert.deepEqual(graph.files, ["a.ts", "b.ts", "c.ts", "d.ts", "e.ts"]);
    assert.deepEqual(
      graph.edges.map((e) => `${e.from}${e.typeOnly ? "~" : ">"}${e.to}`),
      ["a.ts~b.ts", "b.ts~c.ts", "c.ts~d.ts", "c.ts>e.ts", "d.ts~a.ts", "e.ts>a.ts"],
    );
    const groups = findCycles(graph.edges);
    assert.deepEqual(groups.map((g) => g.members), [["a.ts", "b.ts", "c.ts", "d.ts", "e.ts"]]);
    assert.match(formatCycles(groups, graph.edges), /a\.ts ⇢ b\.ts ⇢ c\.ts ⇢ d\.ts ⇢ a\.ts/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const TINY_LAYERS: Layer[] = [
  { name: "low", paths: ["low/"] },
  { name: "mid", paths: ["mid/", "top/special.ts"] },
  { name: "top", paths: ["top/"] },
];

Deno.test("layerViolations names each upward import, type-only included, and honours exceptions", () => {
  const graph = graphOf(
    edges(
      "top/a.ts>mid/b.ts",
      "mid/b.ts>low/c.ts",
      "low/c.ts~mid/b.ts",
      "mid/b.ts>top/special.ts",
      "low/c.ts>top/a.ts",
      "low/c.ts>node:os",
    ),
  );
  const found = layerViolations(graph, TINY_LAYERS, []);
  assert.deepEqual(
    found.map((v) => [v.from, v.to, v.typeOnly, v.fromLayer, v.toLayer]),
    [
      ["low/c.ts", "mid/b.ts", true, "low", "mid"],
      ["low/c.ts", "top/a.ts", false, "low", "top"],
    ],
  );
  assert.match(formatViolations(found), /low\/c\.ts ⇢ mid\/b\.ts {2}\[low → mid\]/);
  const allowed = [{ from: "low/c.ts", to: "top/a.ts", reason: "test" }];
  assert.equal(layerViolations(graph, TINY_LAYERS, allowed).length, 1);
  assert.deepEqual(unplacedFiles(graphOf(edges("low/a.ts>elsewhere/b.ts")), TINY_LAYERS), [
    "elsewhere/b.ts",
  ]);
});

Deno.test("privateViolations refuses a private module imported from another folder", () => {
  const graph = graphOf(
    edges("edge/serve.ts>edge/_http.ts", "edge/x/y.ts~edge/_http.ts", "main.ts>edge/_http.ts"),
  );
  assert.deepEqual(privateViolations(graph).map((e) => e.from), ["edge/x/y.ts", "main.ts"]);
});

Deno.test("guestViolations follows what guest code reaches and tells loaded from type-only", () => {
  const guest = "engine/sandbox/guest/runtime.ts";
  const wire = "engine/sandbox/wire/protocol.ts";
  const graph = graphOf(edges(
    `${guest}>${wire}`,
    `${guest}>node:v8`,
    `${guest}~engine/sdk/types.ts`,
    `${wire}>engine/manifest/manifest.ts`,
    `${guest}>npm:/zod@4.6.7`,
    `engine/sdk/types.ts~engine/core/lifecycle.ts`,
    `${guest}>engine/base/bytes.ts`,
  ));
  const found = guestViolations(graph);
  assert.deepEqual(found, [
    { chain: [guest, "npm:/zod@4.6.7"], typeOnly: false },
    { chain: [guest, wire, "engine/manifest/manifest.ts"], typeOnly: false },
    { chain: [guest, "engine/sdk/types.ts", "engine/core/lifecycle.ts"], typeOnly: true },
  ]);
  assert.match(
    formatGuestViolations(found, graph.edges),
    /runtime\.ts → engine\/sandbox\/wire\/protocol\.ts → engine\/manifest\/manifest\.ts {2}\[loaded at run time\]/,
  );
  const valueSdk = guestViolations(graphOf(edges(`${guest}>engine/sdk/types.ts`)));
  assert.deepEqual(valueSdk, [{ chain: [guest, "engine/sdk/types.ts"], typeOnly: false }]);
});

let repoGraph: Promise<ModuleGraph> | undefined;
/** The repository's graph, read once for all the tests below. */
function graph(): Promise<ModuleGraph> {
  repoGraph ??= entryPoints().then((entries) => loadModuleGraph(entries));
  return repoGraph;
}

Deno.test("Module graph of the entry points has no import cycles, type-only imports included", async () => {
  const { edges } = await graph();
  const groups = findCycles(edges.filter((e) => isLocal(e.to)));
  assert.ok(groups.length === 0, `Import cycles found:\n${formatCycles(groups, edges)}`);
});

Deno.test("Guest code loads only the wire protocol, guest code, base and node built-ins (sdk as types)", async () => {
  const g = await graph();
  const found = guestViolations(g);
  assert.ok(
    found.length === 0,
    `Guest code reaches modules a sandbox must not load:\n${formatGuestViolations(found, g.edges)}`,
  );
});

Deno.test("No file imports a layer above its own, type-only imports included", async () => {
  const found = layerViolations(await graph());
  assert.ok(
    found.length === 0,
    `${found.length} import(s) into a higher layer (see LAYERS in tests/_layers.ts; ⇢ is type-only):\n${
      formatViolations(found)
    }`,
  );
});

Deno.test("Private modules (_name.ts) are imported only from their own folder", async () => {
  const found = privateViolations(await graph());
  assert.deepEqual(
    found.map((e) => `${e.from} → ${e.to}`),
    [],
    "private modules imported from outside",
  );
});

Deno.test("Every engine and plugin module is reached from an entry point and sits in a layer", async () => {
  const g = await graph();
  const onDisk: string[] = [];
  const folders = ["engine", "plugins"];
  for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
    for await (const entry of Deno.readDir(`${REPO_ROOT}/${folder}`)) {
      const path = `${folder}/${entry.name}`;
      if (entry.isDirectory) folders.push(path);
      else if (path.endsWith(".ts") && !path.endsWith("_test.ts")) onDisk.push(path);
    }
  }
  const unreached = onDisk.filter((file) => !g.files.includes(file)).sort();
  assert.deepEqual(unreached, [], "modules no entry point reaches (dead code, or a missing entry)");
  assert.deepEqual(unplacedFiles(g), [], "modules in no layer: add their folder to LAYERS");
  for (const exception of LAYER_EXCEPTIONS) {
    assert.ok(
      g.edges.some((e) => e.from === exception.from && e.to === exception.to),
      `stale layer exception ${exception.from} → ${exception.to}: the import is gone, drop it`,
    );
  }
});

Deno.test("docs/architecture.md layer table matches the code", async () => {
  const g = await graph();
  const doc = await Deno.readTextFile(`${REPO_ROOT}/docs/architecture.md`);
  const block = layerMarkdown(await layerTable(g, REPO_ROOT), layerLinks(g));
  const expected = await formatMarkdown(replaceBlock(doc, block), REPO_ROOT);
  assert.ok(
    expected === doc,
    "docs/architecture.md: the layer table is out of date; run `deno task graph --write docs/architecture.md`",
  );
});
