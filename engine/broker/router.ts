/**
 * Route computing: which bundle revision serves a call. Default mode picks the highest-ranked
 * provider of the service (ties broken by bundle id, so the choice is deterministic); `ID`, `REG`
 * and `RULE` policies and dynamic `params` narrow the candidates first. Within one bundle id,
 * traffic weights pick the version.
 *
 * `RULE` patterns match attributes: a string value must equal the attribute; an array value
 * accepts any of its strings.
 *
 * @module
 */
import semver from "semver";
import type { Revision } from "../core/revision.ts";
import type { CompiledRoute } from "./rules.ts";
import { matchesId } from "./linear_regex.ts";

/** One bundle id and its installed revisions. */
export interface BundleEntry {
  /** Bundle id. */
  id: string;
  /** Version → revision. */
  revisions: Map<string, Revision>;
  /** Version serving traffic when no weights are set. */
  current?: string;
  /** Version → traffic weight; when set, overrides `current`. */
  weights?: Map<string, number>;
}

/**
 * The revision of a bundle that takes the next call: a weighted pick among ACTIVE versions when
 * weights are set, else the current version when ACTIVE.
 *
 * @param entry Bundle entry.
 * @param random Source of randomness in [0, 1).
 * @returns The revision, or `undefined` when none is ACTIVE.
 */
export function servingRevision(
  entry: BundleEntry,
  random: () => number = Math.random,
): Revision | undefined {
  if (entry.weights && entry.weights.size > 0) {
    let total = 0;
    for (const [version, weight] of entry.weights) {
      if (weight > 0 && entry.revisions.get(version)?.state === "ACTIVE") total += weight;
    }
    let pick = random() * total;
    let last: Revision | undefined;
    for (const [version, weight] of entry.weights) {
      const revision = entry.revisions.get(version);
      if (weight <= 0 || revision?.state !== "ACTIVE") continue;
      last = revision;
      pick -= weight;
      if (pick < 0) return revision;
    }
    return last;
  }
  const current = entry.current === undefined ? undefined : entry.revisions.get(entry.current);
  return current?.state === "ACTIVE" ? current : undefined;
}

/**
 * The revision that represents a bundle when none is ACTIVE (for degradation "not found"): the
 * current one whatever its state.
 *
 * @param entry Bundle entry.
 * @returns The current revision, if any.
 */
export function currentRevision(entry: BundleEntry): Revision | undefined {
  return entry.current === undefined ? undefined : entry.revisions.get(entry.current);
}

/**
 * Whether a revision's id and attributes match a compiled route.
 *
 * @param revision Candidate.
 * @param route Compiled route.
 * @returns `true` when it matches.
 */
export function matchesRoute(revision: Revision, route: CompiledRoute | undefined): boolean {
  if (!route) return true;
  const attributes = revision.manifest.attributes;
  if (route.params) {
    for (const key in route.params) {
      if (!Object.hasOwn(attributes, key) || attributes[key] !== route.params[key]) return false;
    }
  }
  if (route.id !== undefined && revision.id !== route.id) return false;
  if (route.regex && !matchesId(route.regex, revision.id)) return false;
  if (route.rule) {
    for (const key in route.rule) {
      if (!Object.hasOwn(attributes, key) || !route.rule[key]!.includes(attributes[key]!)) {
        return false;
      }
    }
  }
  return true;
}

/** What to look for. */
export interface Query {
  /** Service name. */
  service: string;
  /** Semver range of the service's SPI version. */
  range?: string;
  /** Route. */
  route?: CompiledRoute;
  /** Look for mock implementations instead of real ones. */
  mock: boolean;
}

/**
 * Whether a revision provides the service at a matching version.
 *
 * @param revision Candidate.
 * @param query What is looked for.
 * @returns `true` when it provides it.
 */
export function provides(revision: Revision, query: Query): boolean {
  if (revision.manifest.mock !== query.mock) return false;
  // Own keys only: "constructor" must not match through Object.prototype.
  if (!Object.hasOwn(revision.manifest.services, query.service)) return false;
  if (
    query.range !== undefined &&
    !semver.satisfies(revision.manifest.services[query.service]!, query.range)
  ) {
    return false;
  }
  return true;
}

/**
 * Picks the revision that serves a query among ACTIVE revisions.
 *
 * @param entries Every bundle.
 * @param query What to look for.
 * @returns The chosen revision, or `undefined`.
 */
export function selectRevision(entries: Iterable<BundleEntry>, query: Query): Revision | undefined {
  let best: Revision | undefined;
  for (const entry of entries) {
    if (query.route?.id !== undefined && entry.id !== query.route.id) continue;
    const revision = servingRevision(entry);
    if (!revision || !provides(revision, query) || !matchesRoute(revision, query.route)) continue;
    if (
      !best || revision.manifest.ranking > best.manifest.ranking ||
      (revision.manifest.ranking === best.manifest.ranking && revision.id < best.id)
    ) best = revision;
  }
  return best;
}
