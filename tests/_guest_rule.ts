/**
 * The guest rule (docs/architecture.md, "Layers"): code under `engine/sandbox/guest/` runs inside
 * the sandbox, so what it loads must stay small and hold none of the host's machinery. Everything
 * guest code reaches, directly or through other modules, is either the wire protocol
 * (`engine/sandbox/wire/`), guest code, `engine/base/`, or a `node:` built-in; `engine/sdk/` is
 * allowed through type-only imports (erased, never loaded).
 *
 * The rule is checked on the whole reach of the guest files, not just their own imports: a wire
 * module that imported the manifest would load Zod into every sandbox although no guest file
 * names it.
 *
 * @module
 */
import type { ImportEdge, ModuleGraph } from "./_module_graph.ts";
import { isLocal } from "./_layers.ts";

/** Folder of the code that runs inside a sandbox. */
export const GUEST_FOLDER = "engine/sandbox/guest/";

/** Folders whose modules the guest may load at run time. */
export const GUEST_RUNTIME_FOLDERS: readonly string[] = [
  "engine/sandbox/wire/",
  GUEST_FOLDER,
  "engine/base/",
];

/** Folders the guest may reach through type-only imports as well. */
export const GUEST_TYPE_FOLDERS: readonly string[] = [...GUEST_RUNTIME_FOLDERS, "engine/sdk/"];

/** A module guest code reaches although the rule refuses it. */
export interface GuestViolation {
  /** Files from a guest file to the refused module, the refused one last. */
  chain: string[];
  /** True when the refused module is reached only as a type (the type rule was broken). */
  typeOnly: boolean;
}

function allowedBy(folders: readonly string[]): (target: string) => boolean {
  return (target) =>
    isLocal(target)
      ? folders.some((folder) => target.startsWith(folder))
      : target.startsWith("node:");
}

/** Breadth-first reach from the guest files over `edges`; refused targets end a path. */
function reach(
  graph: ModuleGraph,
  edges: readonly ImportEdge[],
  allowed: (target: string) => boolean,
  typeOnly: boolean,
): GuestViolation[] {
  const previous = new Map<string, string | undefined>();
  const queue = graph.files.filter((file) => file.startsWith(GUEST_FOLDER));
  for (const file of queue) previous.set(file, undefined);
  const found: GuestViolation[] = [];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    for (const edge of edges) {
      if (edge.from !== node) continue;
      if (!allowed(edge.to)) {
        const chain = [edge.to];
        for (let at: string | undefined = node; at !== undefined; at = previous.get(at)) {
          chain.unshift(at);
        }
        found.push({ chain, typeOnly });
      } else if (!previous.has(edge.to)) {
        previous.set(edge.to, node);
        queue.push(edge.to);
      }
    }
  }
  return found;
}

/**
 * Modules guest code reaches that the guest rule refuses: first those loaded at run time, then
 * those reached only as types.
 *
 * @param graph Module graph.
 * @returns One violation per refused import, with the chain that reaches it.
 */
export function guestViolations(graph: ModuleGraph): GuestViolation[] {
  const runtime = reach(
    graph,
    graph.edges.filter((edge) => !edge.typeOnly),
    allowedBy(GUEST_RUNTIME_FOLDERS),
    false,
  );
  const loaded = new Set(runtime.map((v) => `${v.chain.at(-2)}\n${v.chain.at(-1)}`));
  const types = reach(graph, graph.edges, allowedBy(GUEST_TYPE_FOLDERS), true)
    .filter((v) => !loaded.has(`${v.chain.at(-2)}\n${v.chain.at(-1)}`));
  return [...runtime, ...types];
}
