/**
 * The declared layers of the code, lowest first, and the layer rule the architecture test enforces
 * on the module graph (docs/architecture.md, "Layers"): a file may import its own layer and the
 * layers below it, never one above. Type-only imports count: a type import still ties the lower
 * layer to the higher one, and makes a cycle for the type checker. It also holds the house rule
 * that a private module (`_name.ts`) is imported only from its own folder.
 *
 * @module
 */
import type { ImportEdge, ModuleGraph } from "./_module_graph.ts";

/** One layer: a name and the path prefixes (folders end in `/`) or files it holds. */
export interface Layer {
  /** Short name, shown in reports. */
  name: string;
  /** Folders (ending in `/`) and files, relative to the repository root. */
  paths: readonly string[];
}

/** The layers, lowest first. A file belongs to the layer with the longest matching path. */
export const LAYERS: readonly Layer[] = [
  { name: "base", paths: ["engine/base/"] },
  { name: "sdk", paths: ["engine/sdk/"] },
  { name: "manifest", paths: ["engine/manifest/"] },
  { name: "sandbox/wire", paths: ["engine/sandbox/wire/"] },
  { name: "sandbox/guest", paths: ["engine/sandbox/guest/"] },
  { name: "call", paths: ["engine/call/"] },
  { name: "sandbox/host", paths: ["engine/sandbox/host/"] },
  { name: "scaling", paths: ["engine/scaling/"] },
  { name: "core", paths: ["engine/core/"] },
  { name: "broker", paths: ["engine/broker/"] },
  { name: "store", paths: ["engine/store/"] },
  { name: "storage", paths: ["engine/storage/"] },
  { name: "events", paths: ["engine/events/"] },
  // Cluster mode: NATS implementations of the store and event-store interfaces.
  { name: "cluster", paths: ["engine/cluster/"] },
  { name: "release", paths: ["engine/release/"] },
  { name: "runtime", paths: ["engine/runtime/"] },
  { name: "plugin", paths: ["engine/plugin/"] },
  { name: "edge", paths: ["engine/edge/"] },
  { name: "engine", paths: ["engine/engine.ts"] },
  { name: "testing", paths: ["engine/testing/"] },
  { name: "dev", paths: ["engine/dev/"] },
  { name: "plugins", paths: ["plugins/"] },
  // The operator console: pages over the admin API of the service-release plugin.
  { name: "plugins/console", paths: ["plugins/console/"] },
  // The CLI is a client of the admin API: it may use pure helpers of engine/base and sdk types.
  { name: "cli", paths: ["cli/"] },
  { name: "entries", paths: ["mod.ts", "main.ts", "cli.ts"] },
];

/**
 * An import the layer rule allows although it points upward, with the reason. Only for what the
 * engine's lead has agreed to; each entry names the importing and the imported file exactly.
 */
export interface LayerException {
  /** Importing file. */
  from: string;
  /** Imported file. */
  to: string;
  /** Why it is allowed, and until when. */
  reason: string;
}

/** Upward imports allowed for now. Empty: every upward import is a failure. */
export const LAYER_EXCEPTIONS: readonly LayerException[] = [];

/** An import that breaks a rule. */
export interface Violation extends ImportEdge {
  /** Layer of the importing file. */
  fromLayer: string;
  /** Layer (or kind of outside module) of the import. */
  toLayer: string;
}

/**
 * The layer a local file belongs to.
 *
 * @param file Path relative to the repository root.
 * @param layers Layers, lowest first.
 * @returns The layer's index in `layers`, or -1 when no layer holds the file.
 */
export function layerIndex(file: string, layers: readonly Layer[] = LAYERS): number {
  let best = -1;
  let bestLength = 0;
  layers.forEach((layer, index) => {
    for (const path of layer.paths) {
      const match = path.endsWith("/") ? file.startsWith(path) : file === path;
      if (match && path.length > bestLength) {
        best = index;
        bestLength = path.length;
      }
    }
  });
  return best;
}

/** True for an import target that is a local file (not `node:`, `npm:`, remote). */
export function isLocal(target: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/.test(target);
}

/**
 * Local files of the graph that no layer holds (a new folder must be placed in the order).
 *
 * @param graph Module graph.
 * @param layers Layers, lowest first.
 * @returns The unplaced files, sorted.
 */
export function unplacedFiles(graph: ModuleGraph, layers: readonly Layer[] = LAYERS): string[] {
  return graph.files.filter((file) => layerIndex(file, layers) === -1);
}

/**
 * Imports from a layer into a higher one.
 *
 * @param graph Module graph.
 * @param layers Layers, lowest first.
 * @param exceptions Upward imports allowed for now.
 * @returns The violations, in graph order.
 */
export function layerViolations(
  graph: ModuleGraph,
  layers: readonly Layer[] = LAYERS,
  exceptions: readonly LayerException[] = LAYER_EXCEPTIONS,
): Violation[] {
  const found: Violation[] = [];
  for (const edge of graph.edges) {
    if (!isLocal(edge.to)) continue;
    const from = layerIndex(edge.from, layers);
    const to = layerIndex(edge.to, layers);
    if (from === -1 || to === -1 || to <= from) continue;
    if (exceptions.some((e) => e.from === edge.from && e.to === edge.to)) continue;
    found.push({ ...edge, fromLayer: layers[from]!.name, toLayer: layers[to]!.name });
  }
  return found;
}

function folderOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/") + 1);
}

/**
 * Imports of a private module (`_name.ts`) from outside its own folder: the house rule keeps such
 * a module an implementation detail of its folder.
 *
 * @param graph Module graph.
 * @returns The offending imports, in graph order.
 */
export function privateViolations(graph: ModuleGraph): ImportEdge[] {
  return graph.edges.filter((edge) =>
    isLocal(edge.to) && edge.to.slice(edge.to.lastIndexOf("/") + 1).startsWith("_") &&
    folderOf(edge.to) !== folderOf(edge.from)
  );
}
