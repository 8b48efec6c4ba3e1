/**
 * The operator policy: the permission ceiling (Deno permission kinds at the top level, as before)
 * plus what the operator, not the bundle, decides — which bundles are trusted to run in the worker
 * tier, which bundles may provide a service or subscribe to a topic that another bundle owns, and
 * the resource limits every manifest must stay within.
 *
 * ```json
 * { "net": ["127.0.0.1:9000"],
 *   "trusted": ["hello"],
 *   "services": { "ProfileService": ["profile-hema", "profile-rtmart"] },
 *   "topics": { "order.created": ["billing", "audit"] },
 *   "limits": { "maxWorkers": 8, "maxMemoryMb": 512, "maxTimeoutMs": 60000 } }
 * ```
 *
 * Unknown fields are refused naming the field, so a typo never silently drops a restriction.
 *
 * @module
 */
import { z } from "zod";
import { PolicyError } from "../base/errors.ts";
import { BUNDLE_ID_PATTERN, SERVICE_NAME_PATTERN } from "./manifest.ts";
import { DEFAULT_CEILING, type PermissionCeiling } from "./permissions.ts";

/**
 * Resource limits a manifest must stay within; the operator's, not the bundle's.
 *
 * @example Room left under the worker limit
 * ```ts
 * import { createEngine, type PolicyLimits } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const limits: PolicyLimits = engine.policy.limits;
 * console.log(`at most ${limits.maxWorkers} instances and ${limits.maxMemoryMb} MB per bundle`);
 * ```
 */
export interface PolicyLimits {
  /** Highest `ranking` a manifest may ask for (the lowest is 0). @default {100} */
  maxRanking: number;
  /** Most instances: bounds `scaling.maxWorkers`, `minWorkers` and `warmWorkers`. @default {8} */
  maxWorkers: number;
  /**
   * Largest heap cap, `scaling.memoryMb`, MiB; the RSS cap of a process-tier child follows from it
   * (`2 * memoryMb + 128`). @default {512}
   */
  maxMemoryMb: number;
  /**
   * Longest call timeout: bounds `governance.timeoutMs` and `governance.drainMs`, and is the most a
   * caller's own timeout may ask for, ms. @default {60000}
   */
  maxTimeoutMs: number;
  /** Most calls buffered while no instance serves: bounds `scaling.maxBuffered`. @default {10000} */
  maxBuffered: number;
  /**
   * Log lines per second one bundle may write (all instances of all its versions share the
   * budget); lines beyond it are dropped and counted. @default {100}
   */
  logLinesPerSecond: number;
  /** Log lines a bundle may write in one burst before the rate applies. @default {1000} */
  logBurst: number;
}

/**
 * The operator policy with every default applied.
 *
 * @example The policy an engine runs with
 * ```ts
 * import { createEngine, type OperatorPolicy } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine({ ceiling: { trusted: ["hello"], net: ["api.example.com:443"] } });
 * const policy: OperatorPolicy = engine.policy;
 * console.log(policy.trusted, policy.net, policy.limits.maxWorkers);
 * ```
 */
export interface OperatorPolicy extends PermissionCeiling {
  /**
   * Bundle ids allowed to run in the worker tier (`"*"`: every bundle). Every other bundle runs in
   * the process tier whatever its manifest asks: only there can a bundle that exhausts its heap be
   * killed without taking the engine down. @default {[]}
   */
  trusted: string[];
  /**
   * Service name (or `"*"`: every service) → bundle ids (or `"*"`) that may provide it besides its
   * owner, the id that released it first. @default {{}}
   */
  services: Record<string, string[]>;
  /**
   * Topic (or `"*"`) → bundle ids (or `"*"`) that may subscribe to it besides its owner, the id that
   * subscribed first. @default {{}}
   */
  topics: Record<string, string[]>;
  /** Resource limits. */
  limits: PolicyLimits;
}

/**
 * A policy as an operator writes it: every section optional, limits merged over the defaults.
 *
 * @example Trust one bundle, grant a shared service, cap memory
 * ```ts
 * import { createEngine, type PolicyInput } from "@bundlehost/sdk";
 *
 * const ceiling: PolicyInput = {
 *   trusted: ["hello"],
 *   services: { PriceService: ["prices", "prices-backup"] },
 *   limits: { maxMemoryMb: 256 },
 * };
 * await using engine = await createEngine({ ceiling });
 * ```
 */
export type PolicyInput = Partial<Omit<OperatorPolicy, "limits">> & {
  /** Resource limits; each one missing keeps its default. */
  limits?: Partial<PolicyLimits>;
};

/** Default limits (see {@linkcode PolicyLimits}). */
export const DEFAULT_LIMITS: Readonly<PolicyLimits> = Object.freeze({
  maxRanking: 100,
  maxWorkers: 8,
  maxMemoryMb: 512,
  maxTimeoutMs: 60_000,
  maxBuffered: 10_000,
  logLinesPerSecond: 100,
  logBurst: 1_000,
});

const TOPIC_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const grantee = z.string().refine((v) => v === "*" || BUNDLE_ID_PATTERN.test(v), {
  message: 'must be a bundle id or "*"',
});
const grants = (key: RegExp, what: string) =>
  z.record(
    z.string().refine((v) => v === "*" || key.test(v), { message: `is not a ${what} or "*"` }),
    z.array(grantee).max(1_000),
  );
const entries = z.array(z.string().min(1).max(1024)).max(256);

const policySchema = z.strictObject({
  read: entries.optional(),
  write: entries.optional(),
  net: entries.optional(),
  env: entries.optional(),
  sys: entries.optional(),
  run: entries.optional(),
  ffi: entries.optional(),
  import: entries.optional(),
  trusted: z.array(grantee).max(10_000).optional(),
  services: grants(SERVICE_NAME_PATTERN, "service name").optional(),
  topics: grants(TOPIC_PATTERN, "topic").optional(),
  limits: z.strictObject({
    maxRanking: int(0, 1_000_000).optional(),
    maxWorkers: int(1, 64).optional(),
    maxMemoryMb: int(16, 65_536).optional(),
    maxTimeoutMs: int(1, 600_000).optional(),
    maxBuffered: int(0, 1_000_000).optional(),
    logLinesPerSecond: int(0, 1_000_000).optional(),
    logBurst: int(1, 10_000_000).optional(),
  }).optional(),
});

function fieldOf(issue: z.core.$ZodIssue): string {
  const path = issue.code === "unrecognized_keys"
    ? [...issue.path, issue.keys[0] ?? ""]
    : issue.path;
  return path.map((p) => typeof p === "number" ? `[${p}]` : `.${String(p)}`).join("").replace(
    /^\./,
    "",
  ) || "(root)";
}

function reasonOf(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") return "is not a known field";
  if (issue.code === "invalid_type") return `must be ${issue.expected}`;
  if (issue.code === "invalid_key") return issue.issues[0]?.message ?? issue.message;
  return issue.message;
}

/**
 * Validates an operator policy and applies its defaults.
 *
 * @param value The policy (e.g. parsed JSON); `undefined` is the default policy.
 * @param source Where it came from, for messages. @default {"the policy"}
 * @returns The policy with defaults: permission kinds missing keep {@linkcode DEFAULT_CEILING}'s.
 * @throws {PolicyError} Naming the first offending field.
 *
 * @example Trust one bundle with the worker tier
 * ```ts
 * import { parsePolicy } from "./policy.ts";
 * const policy = parsePolicy({ trusted: ["hello"] });
 * console.log(policy.limits.maxWorkers); // 8
 * ```
 */
export function parsePolicy(value: unknown, source = "the policy"): OperatorPolicy {
  const result = policySchema.safeParse(value ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = fieldOf(issue);
    throw new PolicyError(field, `Invalid ${source}: field "${field}" ${reasonOf(issue)}`);
  }
  const { trusted, services, topics, limits, ...ceiling } = result.data;
  const defined = Object.fromEntries(
    Object.entries(ceiling).filter(([, v]) => v !== undefined),
  ) as Partial<PermissionCeiling>;
  const merged: Partial<PolicyLimits> = {};
  for (const [k, v] of Object.entries(limits ?? {})) {
    if (v !== undefined) merged[k as keyof PolicyLimits] = v;
  }
  return {
    ...DEFAULT_CEILING,
    ...defined,
    trusted: trusted ?? [],
    services: services ?? {},
    topics: topics ?? {},
    limits: { ...DEFAULT_LIMITS, ...merged },
  };
}

/**
 * Reads and validates a policy file (`--ceiling file.json`).
 *
 * @param path JSON file.
 * @returns The policy with defaults.
 * @throws {PolicyError} When the file cannot be read, is not JSON, or is invalid.
 */
export async function loadPolicyFile(path: string): Promise<OperatorPolicy> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new PolicyError("(file)", `Cannot read policy file ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PolicyError(
      "(file)",
      `Policy file ${path} is not valid JSON (${(error as Error).message})`,
    );
  }
  return parsePolicy(json, `policy file ${path}`);
}

/**
 * Whether `id` is listed, directly or by `"*"`.
 *
 * @param list Bundle ids or `"*"`.
 * @param id Bundle id.
 * @returns True when listed.
 */
export function listed(list: readonly string[] | undefined, id: string): boolean {
  return list !== undefined && (list.includes("*") || list.includes(id));
}
