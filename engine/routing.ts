/**
 * Route selection: which bundle revision serves a call. Default mode picks the highest-ranked
 * active provider of the service (ties broken by bundle id); `ID`, `REG` and `RULE` policies and
 * dynamic `params` narrow the candidates first. Within one bundle id, traffic weights pick the
 * version.
 *
 * @module
 */
import semver from "semver";
import { NotFoundError } from "./errors.ts";
import type { Revision } from "./revision.ts";
import type { RouteSpec } from "./types.ts";

/** Longest `REG` pattern accepted, characters. */
export const MAX_ROUTE_PATTERN = 512;

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
    const live = [...entry.weights].flatMap(([version, weight]) => {
      const revision = entry.revisions.get(version);
      return revision?.state === "ACTIVE" && weight > 0 ? [{ revision, weight }] : [];
    });
    const total = live.reduce((n, c) => n + c.weight, 0);
    let pick = random() * total;
    for (const candidate of live) {
      pick -= candidate.weight;
      if (pick < 0) return candidate.revision;
    }
    return live.at(-1)?.revision;
  }
  const current = entry.current === undefined ? undefined : entry.revisions.get(entry.current);
  return current?.state === "ACTIVE" ? current : undefined;
}

function matchesRoute(revision: Revision, route: RouteSpec | undefined): boolean {
  if (!route) return true;
  const attributes = revision.manifest.attributes;
  if (route.params) {
    for (const [key, value] of Object.entries(route.params)) {
      if (!Object.hasOwn(attributes, key) || attributes[key] !== String(value)) return false;
    }
  }
  switch (route.type) {
    case undefined:
      return true;
    case "ID":
      return revision.id === route.pattern;
    case "REG": {
      const source = String(route.pattern ?? "");
      if (source.length > MAX_ROUTE_PATTERN) {
        throw new TypeError(`Route pattern is longer than ${MAX_ROUTE_PATTERN} characters`);
      }
      let regex: RegExp;
      try {
        regex = new RegExp(source);
      } catch (error) {
        throw new TypeError(
          `Route pattern is not a valid regular expression: ${(error as Error).message}`,
        );
      }
      return regex.test(revision.id);
    }
    case "RULE": {
      const rule = route.pattern;
      if (typeof rule !== "object" || rule === null) {
        throw new TypeError("RULE route pattern must be a JSON object of attributes");
      }
      return Object.entries(rule).every(([k, v]) =>
        Object.hasOwn(attributes, k) && attributes[k] === String(v)
      );
    }
    default:
      throw new TypeError(`Unknown route type "${String(route.type)}"`);
  }
}

/**
 * Picks the revision that serves a call to `service`.
 *
 * @param entries Every bundle.
 * @param service Service name.
 * @param range Semver range the service's SPI version must satisfy, if any.
 * @param route Route policy, if any.
 * @returns The chosen revision.
 * @throws {NotFoundError} When no active bundle matches.
 * @throws {TypeError} For a malformed route.
 */
export function selectRevision(
  entries: Iterable<BundleEntry>,
  service: string,
  range: string | undefined,
  route: RouteSpec | undefined,
): Revision {
  if (range !== undefined && semver.validRange(range) === null) {
    throw new TypeError(`Invalid service version range "${range}"`);
  }
  const candidates: Revision[] = [];
  for (const entry of entries) {
    const revision = servingRevision(entry);
    if (!revision || revision.manifest.mock) continue;
    const version = revision.manifest.services[service];
    if (version === undefined) continue;
    if (range !== undefined && !semver.satisfies(version, range)) continue;
    if (!matchesRoute(revision, route)) continue;
    candidates.push(revision);
  }
  candidates.sort((a, b) => b.manifest.ranking - a.manifest.ranking || a.id.localeCompare(b.id));
  const chosen = candidates[0];
  if (!chosen) {
    throw new NotFoundError(
      `No active bundle provides service ${service}${range ? `@${range}` : ""}${
        route?.type ? ` on route ${route.type}` : ""
      }`,
    );
  }
  return chosen;
}
