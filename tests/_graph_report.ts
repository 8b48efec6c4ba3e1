/**
 * Reports over the module graph: the layer table (layer → files, lines), the imports between
 * layers, and readable lists of cycles and rule violations. `deno task graph` prints them and
 * keeps the generated block of docs/architecture.md ("Layers") current; the architecture test
 * uses the same functions for its failure messages.
 *
 * @module
 */
import type { CycleGroup } from "./_cycles.ts";
import type { GuestViolation } from "./_guest_rule.ts";
import { isLocal, type Layer, layerIndex, LAYERS, type Violation } from "./_layers.ts";
import type { ImportEdge, ModuleGraph } from "./_module_graph.ts";

/** One file of a layer and its size. */
export interface LayerFile {
  /** Path relative to the repository root. */
  path: string;
  /** Lines of text. */
  lines: number;
}

/** One row of the layer table. */
export interface LayerRow {
  /** The layer. */
  layer: Layer;
  /** Its files in the graph, sorted. */
  files: LayerFile[];
  /** Sum of the files' lines. */
  lines: number;
}

/** Imports from one layer into another (or the same). */
export interface LayerLink {
  /** Importing layer. */
  from: string;
  /** Imported layer. */
  to: string;
  /** Imports (file pairs). */
  imports: number;
  /** Of which type-only. */
  typeOnly: number;
}

/** Marks an edge's kind in a chain: a value import, or a type-only one (erased at run time). */
const ARROW = " → ";
const TYPE_ARROW = " ⇢ ";
/** The legend every chain-bearing message carries. */
export const ARROW_LEGEND = "(→ import, ⇢ type-only import)";

/**
 * The layer table: each layer's files in the graph and their line counts.
 *
 * @param graph Module graph.
 * @param root Repository root, to read the files.
 * @param layers Layers, lowest first.
 * @returns One row per layer, lowest first (layers without files included).
 */
export async function layerTable(
  graph: ModuleGraph,
  root: string,
  layers: readonly Layer[] = LAYERS,
): Promise<LayerRow[]> {
  const rows: LayerRow[] = layers.map((layer) => ({ layer, files: [], lines: 0 }));
  for (const path of graph.files) {
    const row = rows[layerIndex(path, layers)];
    if (row === undefined) continue;
    const text = await Deno.readTextFile(`${root}/${path}`);
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    row.files.push({ path, lines });
    row.lines += lines;
  }
  return rows;
}

/**
 * Counts the imports between layers (local files only).
 *
 * @param graph Module graph.
 * @param layers Layers, lowest first.
 * @returns One link per ordered pair of layers that has imports, importing layer's order first.
 */
export function layerLinks(graph: ModuleGraph, layers: readonly Layer[] = LAYERS): LayerLink[] {
  const links = new Map<string, LayerLink & { order: [number, number] }>();
  for (const edge of graph.edges) {
    if (!isLocal(edge.to)) continue;
    const from = layerIndex(edge.from, layers);
    const to = layerIndex(edge.to, layers);
    if (from === -1 || to === -1) continue;
    const key = `${from} ${to}`;
    const link = links.get(key) ??
      {
        from: layers[from]!.name,
        to: layers[to]!.name,
        imports: 0,
        typeOnly: 0,
        order: [from, to],
      };
    link.imports++;
    if (edge.typeOnly) link.typeOnly++;
    links.set(key, link);
  }
  return [...links.values()]
    .sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1])
    .map(({ order: _order, ...link }) => link);
}

/**
 * Writes a cycle as a chain of files, marking type-only imports.
 *
 * @param cycle Files, first and last the same.
 * @param edges The graph's edges (to tell type-only imports).
 * @returns E.g. `a.ts → b.ts ⇢ a.ts`.
 */
export function formatChain(cycle: readonly string[], edges: readonly ImportEdge[]): string {
  let text = cycle[0] ?? "";
  for (let i = 1; i < cycle.length; i++) {
    const edge = edges.find((e) => e.from === cycle[i - 1] && e.to === cycle[i]);
    text += `${edge?.typeOnly ? TYPE_ARROW : ARROW}${cycle[i]}`;
  }
  return text;
}

/**
 * Describes import cycles for a failure message.
 *
 * @param groups Cycle groups from `findCycles`.
 * @param edges The graph's edges.
 * @returns Lines: per group its files, then its cycles as chains.
 */
export function formatCycles(groups: readonly CycleGroup[], edges: readonly ImportEdge[]): string {
  const lines = [
    `${groups.length} import cycle group(s), type-only imports included ${ARROW_LEGEND}:`,
  ];
  groups.forEach((group, n) => {
    lines.push(`  group ${n + 1} (${group.members.length} files): ${group.members.join(", ")}`);
    for (const cycle of group.cycles) lines.push(`    ${formatChain(cycle, edges)}`);
  });
  return lines.join("\n");
}

/**
 * Describes rule violations for a failure message, one import a line.
 *
 * @param violations Imports that break a rule.
 * @returns E.g. `engine/store/store.ts ⇢ engine/release/canary.ts  [store → release]`.
 */
export function formatViolations(violations: readonly Violation[]): string {
  return violations.map((v) =>
    `  ${v.from}${v.typeOnly ? TYPE_ARROW : ARROW}${v.to}  [${v.fromLayer} → ${v.toLayer}]`
  ).join("\n");
}

/**
 * Describes guest-rule violations for a failure message, one chain a line.
 *
 * @param violations Refused modules and how guest code reaches them.
 * @param edges The graph's edges (to tell type-only imports).
 * @returns E.g. `engine/sandbox/guest/runtime.ts → engine/manifest/manifest.ts  [loaded at run time]`.
 */
export function formatGuestViolations(
  violations: readonly GuestViolation[],
  edges: readonly ImportEdge[],
): string {
  return violations.map((v) =>
    `  ${formatChain(v.chain, edges)}  [${v.typeOnly ? "reached as a type" : "loaded at run time"}]`
  ).join("\n");
}

/** First line of the generated block in docs/architecture.md. */
export const DOC_BEGIN =
  "<!-- Generated by `deno task graph --write docs/architecture.md`; do not edit by hand. -->";
/** Last line of the generated block. */
export const DOC_END = "<!-- End of generated layer table. -->";

function baseName(path: string, layer: Layer): string {
  const folder = layer.paths.find((p) => p.endsWith("/") && path.startsWith(p));
  return folder === undefined ? path.slice(path.lastIndexOf("/") + 1) : path.slice(folder.length);
}

/**
 * The generated block of docs/architecture.md: the layers with their files, and which lower
 * layers each one imports (and which higher ones, while any does). It leaves out line and import
 * counts so that it changes only when the structure does: a file or layer added, moved or removed,
 * a new dependency between layers.
 *
 * @param rows Layer table.
 * @param links Imports between layers.
 * @returns Markdown, from {@linkcode DOC_BEGIN} to {@linkcode DOC_END}, before `deno fmt`.
 */
export function layerMarkdown(rows: readonly LayerRow[], links: readonly LayerLink[]): string {
  const order = new Map(rows.map((row, index) => [row.layer.name, index]));
  const out = [DOC_BEGIN, ""];
  rows.forEach((row, index) => {
    const files = row.files.map((f) => baseName(f.path, row.layer)).join(", ") || "none yet";
    const targets = links.filter((link) => link.from === row.layer.name && link.to !== link.from);
    const down = targets.filter((link) => order.get(link.to)! < index).map((link) => link.to);
    const up = targets.filter((link) => order.get(link.to)! > index).map((link) => link.to);
    const holds = row.layer.paths.map((p) => `\`${p}\``).join(", ");
    const uses = `imports ${down.join(", ") || "nothing"}${
      up.length === 0 ? "" : `; **upward: ${up.join(", ")}**`
    }`;
    out.push(`- **${index + 1}. ${row.layer.name}** (${holds}): ${files}. It ${uses}.`);
  });
  out.push("", DOC_END);
  return out.join("\n");
}

/**
 * Formats Markdown the way `deno fmt` does (with the repository's settings), so generated text
 * compares equal to a formatted document.
 *
 * @param text Markdown.
 * @param root Repository root (its deno.json holds the settings).
 * @returns The formatted text.
 * @throws {Error} When `deno fmt` fails.
 */
export async function formatMarkdown(text: string, root: string): Promise<string> {
  const child = new Deno.Command("deno", {
    args: ["fmt", "--ext=md", "-"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const output = await child.output();
  if (!output.success) {
    throw new Error(`deno fmt failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/**
 * Replaces the generated block of a document.
 *
 * @param doc The document's text.
 * @param block New block, from {@linkcode DOC_BEGIN} to {@linkcode DOC_END}.
 * @returns The new text.
 * @throws {Error} When the document has no generated block.
 */
export function replaceBlock(doc: string, block: string): string {
  const begin = doc.indexOf(DOC_BEGIN);
  const end = doc.indexOf(DOC_END);
  if (begin === -1 || end < begin) {
    throw new Error(
      `The document has no generated block: add the lines "${DOC_BEGIN}" and "${DOC_END}"`,
    );
  }
  return doc.slice(0, begin) + block + doc.slice(end + DOC_END.length);
}
