/**
 * Import cycles in a directed graph: the strongly connected groups (Tarjan), and for each group a
 * few short cycles that between them cross every edge inside it, so a report shows every import
 * that must go for the group to fall apart.
 *
 * @module
 */

/** A directed edge. */
export interface Edge {
  /** Source node. */
  from: string;
  /** Target node. */
  to: string;
}

/** One strongly connected group of two or more nodes (or one node importing itself). */
export interface CycleGroup {
  /** Nodes of the group, sorted. */
  members: string[];
  /** Cycles as node chains that start and end on the same node; together they cover every edge. */
  cycles: string[][];
}

function adjacency(edges: readonly Edge[]): Map<string, string[]> {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    if (!next.has(to)) next.set(to, []);
    const list = next.get(from) ?? [];
    if (!list.includes(to)) list.push(to);
    next.set(from, list.sort());
  }
  return next;
}

/**
 * Strongly connected components by Tarjan's algorithm, iteratively (no deep recursion).
 *
 * @param next Adjacency lists.
 * @returns Components, each a list of nodes.
 */
function components(next: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  let counter = 0;
  for (const start of [...next.keys()].sort()) {
    if (index.has(start)) continue;
    const work: { node: string; child: number }[] = [{ node: start, child: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const children = next.get(frame.node) ?? [];
      if (frame.child < children.length) {
        const child = children[frame.child++]!;
        if (!index.has(child)) {
          index.set(child, counter);
          low.set(child, counter++);
          stack.push(child);
          onStack.add(child);
          work.push({ node: child, child: 0 });
        } else if (onStack.has(child)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(child)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) !== index.get(frame.node)) continue;
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== frame.node);
      found.push(component);
    }
  }
  return found;
}

/** Shortest path from `start` to `goal` inside `members` (breadth first), as a node list. */
function shortestPath(
  next: Map<string, string[]>,
  members: ReadonlySet<string>,
  start: string,
  goal: string,
): string[] {
  const previous = new Map<string, string>([[start, start]]);
  const queue = [start];
  for (let head = 0; head < queue.length && !previous.has(goal); head++) {
    const node = queue[head]!;
    for (const child of next.get(node) ?? []) {
      if (!members.has(child) || previous.has(child)) continue;
      previous.set(child, node);
      queue.push(child);
    }
  }
  const path = [goal];
  while (path.at(-1) !== start) path.push(previous.get(path.at(-1)!)!);
  return path.reverse();
}

/**
 * Finds the import cycles of a graph.
 *
 * @param edges Directed edges; nodes are the names on them.
 * @returns One group per strongly connected component that holds a cycle, largest first.
 *
 * @example A two-file cycle
 * ```ts ignore
 * findCycles([{ from: "a.ts", to: "b.ts" }, { from: "b.ts", to: "a.ts" }]);
 * // [{ members: ["a.ts", "b.ts"], cycles: [["a.ts", "b.ts", "a.ts"]] }]
 * ```
 */
export function findCycles(edges: readonly Edge[]): CycleGroup[] {
  const next = adjacency(edges);
  const groups: CycleGroup[] = [];
  for (const component of components(next)) {
    const members = new Set(component);
    const only = component[0]!;
    if (component.length === 1 && !(next.get(only) ?? []).includes(only)) continue;
    const covered = new Set<string>();
    const cycles: string[][] = [];
    for (const from of [...members].sort()) {
      for (const to of next.get(from) ?? []) {
        if (!members.has(to) || covered.has(`${from}\n${to}`)) continue;
        const cycle = [from, ...(from === to ? [from] : shortestPath(next, members, to, from))];
        for (let i = 1; i < cycle.length; i++) covered.add(`${cycle[i - 1]}\n${cycle[i]}`);
        cycles.push(cycle);
      }
    }
    groups.push({ members: [...members].sort(), cycles });
  }
  return groups.sort((a, b) => b.members.length - a.members.length);
}
