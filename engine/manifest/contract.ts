/**
 * The contract check (README, "Releasing"): every service and method `bundle.json` declares or
 * names must exist in the loaded module. A sandbox reports what the module's default export
 * implements when it loads (service name → method names); this compares that report with the
 * manifest, so a release that declares `GreeterService` but exports `GreeterSvc`, or subscribes a
 * method that does not exist, is refused before it takes traffic instead of failing every call.
 *
 * Event map steps are checked only where they call one of this bundle's own services: another
 * bundle's services may be released later, so they cannot be checked here.
 *
 * @module
 */
import { ReleaseRefusedError } from "../base/errors.ts";
import type { Manifest } from "./manifest.ts";
import { splitHandler } from "./events_schema.ts";

/** One way a module falls short of its manifest. */
export interface ContractProblem {
  /** Dotted path of the manifest field, e.g. `"services.GreeterService"`. */
  field: string;
  /** Why, e.g. `is not exported by mod.ts (it exports: GreeterSvc)`. */
  reason: string;
}

/** The manifest fields the contract check reads. */
export type ContractManifest = Pick<
  Manifest,
  "id" | "version" | "entry" | "services" | "subscribe" | "schedule" | "eventMaps"
>;

/** Names listed in a message before the rest are counted: a module may export thousands. */
const MAX_LISTED_NAMES = 32;
/** Problems spelled out in a refusal before the rest are counted. */
const MAX_LISTED_PROBLEMS = 10;

function list(names: readonly string[]): string {
  if (names.length === 0) return "none";
  const shown = names.slice(0, MAX_LISTED_NAMES).join(", ");
  const more = names.length - MAX_LISTED_NAMES;
  return more > 0 ? `${shown} and ${more} more` : shown;
}

/**
 * Lists every declared or named service and method the module does not export.
 *
 * @param manifest The validated manifest.
 * @param exported What the module exports: service name → method names.
 * @returns The problems, in manifest order; empty when the module keeps the contract.
 *
 * @example A service exported under another name
 * ```ts
 * import { parseManifest } from "./manifest.ts";
 * import { contractProblems } from "./contract.ts";
 *
 * const manifest = parseManifest({ id: "greeter", version: "1.0.0", services: { GreeterService: "1.0.0" } });
 * const [problem] = contractProblems(manifest, { GreeterSvc: ["greet"] });
 * console.log(problem?.field); // "services.GreeterService"
 * ```
 */
export function contractProblems(
  manifest: ContractManifest,
  exported: Readonly<Record<string, readonly string[]>>,
): ContractProblem[] {
  const entry = manifest.entry.replace(/^\.\//, "");
  const exportedNames = Object.keys(exported);
  const problems: ContractProblem[] = [];
  for (const name of Object.keys(manifest.services)) {
    if (Object.hasOwn(exported, name)) continue;
    problems.push({
      field: `services.${name}`,
      reason: `is not exported by ${entry} (it exports: ${list(exportedNames)})`,
    });
  }
  const handler = (field: string, target: string) => {
    const { service, method } = splitHandler(target);
    // A declared service the module lacks is reported once, under "services".
    if (!Object.hasOwn(exported, service)) return;
    const methods = exported[service] ?? [];
    if (methods.includes(method)) return;
    problems.push({
      field,
      reason: `names ${target}, which has no method "${method}" (methods: ${list(methods)})`,
    });
  };
  for (const [topic, sub] of Object.entries(manifest.subscribe)) {
    handler(`subscribe.${topic}`, sub.handler);
  }
  for (const [cron, schedule] of Object.entries(manifest.schedule)) {
    handler(`schedule.${cron}`, schedule.handler);
  }
  for (const [topic, map] of Object.entries(manifest.eventMaps)) {
    map.steps.forEach((step, i) => {
      for (const key of ["call", "fallback"] as const) {
        const target = step[key];
        // Only this bundle's own services: another bundle's cannot be checked at release.
        if (target === undefined) continue;
        if (!Object.hasOwn(manifest.services, splitHandler(target).service)) continue;
        handler(`eventMaps.${topic}.steps[${i}].${key}`, target);
      }
    });
  }
  return problems;
}

/**
 * Refuses a module that does not keep its manifest's contract.
 *
 * @param manifest The validated manifest.
 * @param exported What the module exports: service name → method names.
 * @throws {ReleaseRefusedError} Naming each field and missing name (the first ten; the rest are
 * counted), and what the module exports.
 *
 * @example Refuse a handler naming a missing method
 * ```ts
 * import { parseManifest } from "./manifest.ts";
 * import { assertContract } from "./contract.ts";
 *
 * const manifest = parseManifest({
 *   id: "x",
 *   version: "1.0.0",
 *   services: { GreeterService: "1.0.0" },
 *   subscribe: { "order.created": "GreeterService.hello" },
 * });
 * try {
 *   assertContract(manifest, { GreeterService: ["greet"] });
 * } catch (error) {
 *   console.log((error as Error).message); // … has no method "hello" (methods: greet)
 * }
 * ```
 */
export function assertContract(
  manifest: ContractManifest,
  exported: Readonly<Record<string, readonly string[]>>,
): void {
  const problems = contractProblems(manifest, exported);
  if (problems.length === 0) return;
  const shown = problems.slice(0, MAX_LISTED_PROBLEMS);
  let details = shown.map((p) => `field "${p.field}" ${p.reason}`).join("; ");
  const more = problems.length - shown.length;
  if (more > 0) details += `; and ${more} more`;
  throw new ReleaseRefusedError(
    `Cannot release bundle "${manifest.id}@${manifest.version}": ${details}`,
  );
}
