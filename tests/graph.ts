/**
 * `deno task graph`: prints the layer table (layer → files, lines), the imports between layers,
 * and whatever breaks the structure rules (import cycles, upward imports, the guest rule), from the
 * same code as `tests/architecture_test.ts`.
 *
 * - `deno task graph` prints the report.
 * - `deno task graph --write docs/architecture.md` regenerates the document's layer table.
 * - `deno task graph --check docs/architecture.md` exits 1 when that table is out of date.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { findCycles } from "./_cycles.ts";
import {
  formatCycles,
  formatGuestViolations,
  formatMarkdown,
  formatViolations,
  type LayerLink,
  layerLinks,
  layerMarkdown,
  type LayerRow,
  layerTable,
  replaceBlock,
} from "./_graph_report.ts";
import { guestViolations } from "./_guest_rule.ts";
import { isLocal, layerViolations, privateViolations, unplacedFiles } from "./_layers.ts";
import { entryPoints, loadModuleGraph, type ModuleGraph, REPO_ROOT } from "./_module_graph.ts";

function tableText(rows: readonly LayerRow[]): string[] {
  const out = ["Layers, lowest first (a layer may import itself and the layers listed before it):"];
  rows.forEach((row, index) => {
    const name = `${String(index + 1).padStart(2)}. ${row.layer.name}`;
    const counts = `${String(row.files.length).padStart(3)} files ${
      String(row.lines).padStart(6)
    } lines`;
    out.push(`${name.padEnd(20)} ${row.layer.paths.join(", ").padEnd(36)} ${counts}`);
    for (const file of row.files) {
      out.push(`      ${file.path.padEnd(50)} ${String(file.lines).padStart(5)}`);
    }
  });
  return out;
}

function linksText(links: readonly LayerLink[]): string[] {
  const out = ["", "Imports between layers (importer → imported: file pairs, of which type-only):"];
  for (const link of links) {
    if (link.from === link.to) continue;
    out.push(
      `  ${`${link.from} → ${link.to}`.padEnd(34)} ${link.imports} (${link.typeOnly} type-only)`,
    );
  }
  return out;
}

function rulesText(graph: ModuleGraph): string[] {
  const cycles = findCycles(graph.edges.filter((edge) => isLocal(edge.to)));
  const upward = layerViolations(graph);
  const guest = guestViolations(graph);
  const unplaced = unplacedFiles(graph);
  const hidden = privateViolations(graph).map((edge) => `  ${edge.from} → ${edge.to}`);
  return [
    "",
    cycles.length === 0 ? "Import cycles: none" : formatCycles(cycles, graph.edges),
    "",
    `Upward imports: ${upward.length === 0 ? "none" : upward.length}`,
    ...(upward.length === 0 ? [] : [formatViolations(upward)]),
    "",
    `Guest rule violations: ${guest.length === 0 ? "none" : guest.length}`,
    ...(guest.length === 0 ? [] : [formatGuestViolations(guest, graph.edges)]),
    ...(hidden.length === 0
      ? []
      : ["", "Private modules imported from outside their folder:", ...hidden]),
    ...(unplaced.length === 0 ? [] : ["", `Files in no layer: ${unplaced.join(", ")}`]),
  ];
}

/**
 * Runs the report.
 *
 * @param args Command-line arguments.
 * @returns Exit code: 1 when `--check` finds the document out of date, else 0.
 */
export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { write: { type: "string" }, check: { type: "string" } },
  });
  const graph = await loadModuleGraph(await entryPoints());
  const rows = await layerTable(graph, REPO_ROOT);
  const links = layerLinks(graph);
  const doc = values.write ?? values.check;
  if (doc === undefined) {
    console.log([...tableText(rows), ...linksText(links), ...rulesText(graph)].join("\n"));
    return 0;
  }
  const text = await Deno.readTextFile(doc);
  const updated = await formatMarkdown(replaceBlock(text, layerMarkdown(rows, links)), REPO_ROOT);
  if (values.write !== undefined) {
    if (updated !== text) await Deno.writeTextFile(doc, updated);
    console.log(updated === text ? `${doc} is up to date` : `${doc}: layer table rewritten`);
    return 0;
  }
  if (updated === text) return 0;
  console.error(`${doc}: the layer table is out of date; run \`deno task graph --write ${doc}\``);
  return 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
