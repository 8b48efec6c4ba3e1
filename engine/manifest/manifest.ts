/**
 * `bundle.json`: parsing and validation. Every refusal is a {@linkcode ManifestError} naming the
 * field (dotted path) and the reason; unknown fields are refused so a typo never silently drops a
 * setting.
 *
 * @module
 */
import { z } from "zod";
import semver from "semver";
import { ManifestError } from "../base/errors.ts";
import type { IsolationTier } from "../sdk/types.ts";
import {
  EVENT_MAPS_FIELD,
  eventHandlerIssues,
  type ManifestEventMap,
  type ManifestSchedule,
  type ManifestSubscription,
  SCHEDULE_FIELD,
  SUBSCRIBE_FIELD,
} from "./events_schema.ts";
import { CONFIG_FIELD, type JsonObject, SECRETS_FIELD } from "./settings_schema.ts";

/** Bundle ids: lower-case letters, digits and dashes, 1–63 characters, starting alphanumeric. */
export const BUNDLE_ID_PATTERN: RegExp = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Service names: a letter, then letters, digits, `_` or `.`; at most 128 characters. */
export const SERVICE_NAME_PATTERN: RegExp = /^[A-Za-z][A-Za-z0-9_.]{0,127}$/;
/** Method names: a JavaScript identifier of at most 128 characters. */
export const METHOD_NAME_PATTERN: RegExp = /^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/;
/** Largest `bundle.json` the engine reads, in bytes. */
export const MAX_MANIFEST_BYTES = 64 * 1024;

/** Permissions a bundle asks for; paths are relative to the bundle folder (or `$DATA/…`). */
export interface ManifestPermissions {
  /** Paths the bundle may read. */
  read?: string[];
  /** Paths the bundle may write. */
  write?: string[];
  /** `host` or `host:port` entries the bundle may connect to. */
  net?: string[];
  /** Environment variable names the bundle may read. */
  env?: string[];
  /** `Deno` system-information APIs the bundle may call (e.g. `"hostname"`). */
  sys?: string[];
  /** Programs the bundle may run (refused unless the engine's ceiling allows them). */
  run?: string[];
  /** Native libraries the bundle may load (refused unless the ceiling allows them). */
  ffi?: string[];
  /** Hosts the bundle may import remote modules from at run time. */
  import?: string[];
}

/**
 * Circuit breaking strategies, named as in Sentinel.
 *
 * @example Break on slow calls
 * ```ts
 * import type { BreakerStrategy, BundleRule } from "@bundlehost/sdk";
 *
 * const strategy: BreakerStrategy = "slowRequestRatio";
 * const rule: BundleRule = { strategy, maxRtMs: 500, threshold: 0.5 };
 * ```
 */
export type BreakerStrategy = "slowRequestRatio" | "errorRatio" | "errorCount";

/**
 * Governance settings of a bundle (docs/architecture.md, "Broker semantics"); the broker applies them.
 *
 * @example Governance for one bundle in the rules document
 * ```ts
 * import { createEngine, type ManifestGovernance } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const governance: ManifestGovernance = { timeoutMs: 2_000, strategy: "errorRatio", threshold: 0.2 };
 * await engine.setRules({ bundles: { hello: governance }, services: {} });
 * ```
 */
export interface ManifestGovernance {
  /** Call timeout, ms. @default {30000} */
  timeoutMs?: number;
  /** Drain period when stopping, ms. @default {5000} */
  drainMs?: number;
  /** Breaker strategy; no breaker when absent. */
  strategy?: BreakerStrategy;
  /** Calls slower than this count as slow (`slowRequestRatio`), ms. */
  maxRtMs?: number;
  /** Ratio (0–1) for the ratio strategies, count for `errorCount`. */
  threshold?: number;
  /** Fewest calls in a window before the breaker may open. */
  minRequestAmount?: number;
  /** Statistics window, ms. */
  statIntervalMs?: number;
  /** How long the breaker stays open before half-open probing, ms. */
  retryTimeoutMs?: number;
  /** Probe calls admitted while half-open. */
  probeNum?: number;
  /** Calls per second admitted. */
  qps?: number;
  /** Calls in flight admitted. */
  maxConcurrency?: number;
  /** Longer than this in the throttling queue and the call is refused, ms; 0 rejects at once. */
  maxQueueingTimeMs?: number;
  /** Percentage (0–100) of calls sent straight to the `degradeTo` bundle. */
  degradeWeight?: number;
}

/** Scaling settings of a bundle (docs/architecture.md, "Scaling semantics"). */
export interface ManifestScaling {
  /** Fewest instances kept running. @default {1} */
  minWorkers: number;
  /** Most instances. @default {4} */
  maxWorkers: number;
  /** Idle pre-initialised spares kept on top of the busy ones. @default {0} */
  warmWorkers: number;
  /** Calls in flight per instance the autoscaler aims for. @default {32} */
  targetConcurrency: number;
  /** Idle time before scaling to `minWorkers` (0 when scale to zero), ms. @default {60000} */
  idleMs: number;
  /** V8 old-space cap for the process tier, MiB. @default {256} */
  memoryMb: number;
  /** Averaging window of the autoscaler's stable mode, ms. @default {60000} */
  stableWindowMs: number;
  /**
   * Averaging window of panic mode (bursts), ms; at most `stableWindowMs`. @default {6000}
   */
  panicWindowMs: number;
  /**
   * Scale down only after every recommendation for this long was lower (hysteresis), ms.
   * @default {30000}
   */
  scaleDownDelayMs: number;
  /** Calls buffered while no instance serves (scaled to zero, cold start); beyond → 503. @default {1000} */
  maxBuffered: number;
  /** Soft limit: an instance is retired (`onRetire`, finishes its calls) after this many calls. */
  maxCallsPerInstance?: number;
  /** Soft limit: an instance is retired after serving for this long, ms. */
  maxLifetimeMs?: number;
}

/** A validated `bundle.json`. */
export interface Manifest {
  /** JSON Schema an editor checks the file against; ignored by the engine. */
  $schema?: string;
  /** Bundle id. */
  id: string;
  /** Semver version of this release. */
  version: string;
  /** Entry module, relative to the bundle folder. @default {"./mod.ts"} */
  entry: string;
  /** Free text. */
  description?: string;
  /**
   * TypeScript declarations of the services this bundle provides (a self-contained `.ts` file in
   * the bundle folder, at most 64 KiB), served to callers by `GET /admin/bundles/:id/types`.
   */
  types?: string;
  /** Service name → SPI semver version. */
  services: Record<string, string>;
  /** Attributes matched by `RULE` routes and dynamic routing. */
  attributes: Record<string, string>;
  /** Requested permissions; none when empty. */
  permissions: ManifestPermissions;
  /** Allowed npm/remote import specifier prefixes (e.g. `"npm:zod@^4"`, `"https://esm.sh/"`). */
  imports: string[];
  /** Isolation tier. @default {"worker"} */
  isolation: IsolationTier;
  /** Bundle serving this one's calls when it is not found, times out or fails. */
  degradeTo?: string;
  /** Whether this bundle is a mock implementation (serves on `mock` routes only). */
  mock: boolean;
  /** Higher ranking wins the default route. @default {0} */
  ranking: number;
  /** Governance settings. */
  governance: ManifestGovernance;
  /** Scaling settings. */
  scaling: ManifestScaling;
  /** Topic → the service method that receives its events (README, "Events"). */
  subscribe: Record<string, ManifestSubscription>;
  /** Cron expression → the service method it triggers. */
  schedule: Record<string, ManifestSchedule>;
  /** Topic → a chain of service calls run for each of its events. */
  eventMaps: Record<string, ManifestEventMap>;
  /** Config defaults (`ctx.config`), merged with the operator's overrides (README, "Config"). */
  config: JsonObject;
  /** Names of the secrets the bundle may read with `ctx.secrets.get` (README, "Secrets"). */
  secrets: string[];
}

const TYPES_PATTERN = /^(\.\/)?([A-Za-z0-9_\-.]+\/)*[A-Za-z0-9_\-.]+\.ts$/;
const ENTRY_PATTERN = /^(\.\/)?([A-Za-z0-9_\-.]+\/)*[A-Za-z0-9_\-.]+\.(ts|js|mts|mjs|tsx|jsx)$/;
const ATTRIBUTE_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const permissionList = z.array(z.string().min(1).max(1024)).max(64);

/** Governance fields shared by `bundle.json` and the runtime rules document (`PUT /admin/rules`). */
export const GOVERNANCE_FIELDS = {
  timeoutMs: int(1, 600_000).optional(),
  drainMs: int(0, 600_000).optional(),
  strategy: z.enum(["slowRequestRatio", "errorRatio", "errorCount"]).optional(),
  maxRtMs: int(1, 600_000).optional(),
  threshold: z.number().min(0).max(1_000_000).optional(),
  minRequestAmount: int(1, 1_000_000).optional(),
  statIntervalMs: int(100, 3_600_000).optional(),
  retryTimeoutMs: int(1, 3_600_000).optional(),
  probeNum: int(1, 10_000).optional(),
  qps: z.number().positive().max(10_000_000).optional(),
  maxConcurrency: int(1, 1_000_000).optional(),
  maxQueueingTimeMs: int(0, 600_000).optional(),
  degradeWeight: z.number().min(0).max(100).optional(),
};

/** A ratio strategy's threshold is a ratio: at most 1. */
export function ratioThresholdOk(g: { strategy?: string; threshold?: number }): boolean {
  return g.strategy === "errorCount" || g.threshold === undefined || g.threshold <= 1;
}

const governanceSchema = z.strictObject(GOVERNANCE_FIELDS).refine(ratioThresholdOk, {
  message: "must be at most 1 for a ratio strategy",
  path: ["threshold"],
});

const semverString = z.string().max(256).refine((v) => semver.valid(v) === v, {
  message: "is not a semver version (expected e.g. 1.2.0)",
});

const manifestSchema = z.strictObject({
  $schema: z.string().max(1024).optional(),
  id: z.string().regex(BUNDLE_ID_PATTERN, {
    message: "must match ^[a-z0-9][a-z0-9-]{0,62}$ (lower-case letters, digits, dashes)",
  }),
  version: semverString,
  entry: z.string().max(256).regex(ENTRY_PATTERN, {
    message: "must be a relative path to a .ts/.js module inside the bundle folder",
  }).refine((v) => !v.split("/").includes(".."), { message: "must not contain '..'" })
    .default("./mod.ts"),
  description: z.string().max(1024).optional(),
  types: z.string().max(256).regex(TYPES_PATTERN, {
    message: "must be a relative path to a .ts file inside the bundle folder",
  }).refine((v) => !v.replace(/^\.\//, "").split("/").some((s) => s === ".." || s === "."), {
    message: "must not contain '..' or '.' segments",
  }).optional(),
  services: z.record(
    z.string().regex(SERVICE_NAME_PATTERN, { message: "is not a valid service name" }),
    semverString,
  ).refine((v) => Object.keys(v).length <= 64, { message: "declares more than 64 services" })
    .default({}),
  attributes: z.record(
    z.string().regex(ATTRIBUTE_KEY_PATTERN, { message: "is not a valid attribute name" }),
    z.string().max(256),
  ).refine((v) => Object.keys(v).length <= 64, { message: "has more than 64 attributes" })
    .default({}),
  permissions: z.strictObject({
    read: permissionList.optional(),
    write: permissionList.optional(),
    net: permissionList.optional(),
    env: permissionList.optional(),
    sys: permissionList.optional(),
    run: permissionList.optional(),
    ffi: permissionList.optional(),
    import: permissionList.optional(),
  }).default({}),
  imports: z.array(z.string().min(4).max(512)).max(64).default([]),
  isolation: z.enum(["worker", "process"]).default("worker"),
  degradeTo: z.string().regex(BUNDLE_ID_PATTERN, { message: "is not a valid bundle id" })
    .optional(),
  mock: z.boolean().default(false),
  ranking: int(-1_000_000, 1_000_000).default(0),
  governance: governanceSchema.default({}),
  scaling: z.strictObject({
    minWorkers: int(0, 64).default(1),
    maxWorkers: int(1, 64).default(4),
    warmWorkers: int(0, 64).default(0),
    targetConcurrency: int(1, 100_000).default(32),
    idleMs: int(0, 86_400_000).default(60_000),
    memoryMb: int(16, 65_536).default(256),
    stableWindowMs: int(100, 3_600_000).default(60_000),
    panicWindowMs: int(10, 3_600_000).default(6_000),
    scaleDownDelayMs: int(0, 3_600_000).default(30_000),
    maxBuffered: int(0, 1_000_000).default(1_000),
    maxCallsPerInstance: int(1, 1_000_000_000).optional(),
    maxLifetimeMs: int(100, 604_800_000).optional(),
  }).refine((s) => s.minWorkers <= s.maxWorkers, {
    message: "minWorkers must not exceed maxWorkers",
  }).refine((s) => s.panicWindowMs <= s.stableWindowMs, {
    message: "must not exceed stableWindowMs",
    path: ["panicWindowMs"],
  }).default({
    minWorkers: 1,
    maxWorkers: 4,
    warmWorkers: 0,
    targetConcurrency: 32,
    idleMs: 60_000,
    memoryMb: 256,
    stableWindowMs: 60_000,
    panicWindowMs: 6_000,
    scaleDownDelayMs: 30_000,
    maxBuffered: 1_000,
  }),
  subscribe: SUBSCRIBE_FIELD,
  schedule: SCHEDULE_FIELD,
  eventMaps: EVENT_MAPS_FIELD,
  config: CONFIG_FIELD,
  secrets: SECRETS_FIELD,
}).refine((m) => m.degradeTo !== m.id, {
  message: "must name another bundle, not the bundle itself",
  path: ["degradeTo"],
}).superRefine((m, ctx) => {
  for (const issue of eventHandlerIssues(m)) ctx.addIssue({ code: "custom", ...issue });
});

/** The validator of `bundle.json`, for generating its JSON Schema (`json_schema.ts`). */
export const MANIFEST_SCHEMA: z.ZodType = manifestSchema;

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): { field: string; reason: string } {
  if (issue.code === "unrecognized_keys") {
    const field = formatPath([...issue.path, issue.keys[0] ?? ""]);
    return { field, reason: "is not a known field" };
  }
  const field = formatPath(issue.path) || "(root)";
  let reason = issue.message;
  if (issue.code === "invalid_type") {
    reason = issue.input === undefined ? "is required" : `must be ${issue.expected}`;
  }
  // A refused record key (a topic, a cron expression, a service name): say why, not "Invalid key".
  if (issue.code === "invalid_key") reason = issue.issues[0]?.message ?? reason;
  return { field, reason };
}

/**
 * Validates a parsed `bundle.json` value.
 *
 * @param value The parsed JSON.
 * @returns The manifest with defaults filled in.
 * @throws {ManifestError} Naming the first offending field; the message lists every problem.
 *
 * @example Parse a minimal manifest
 * ```ts
 * import { parseManifest } from "./manifest.ts";
 * const m = parseManifest({ id: "hello", version: "1.0.0" });
 * console.log(m.entry); // "./mod.ts"
 * ```
 */
export function parseManifest(value: unknown): Manifest {
  const result = manifestSchema.safeParse(value);
  if (result.success) return result.data as Manifest;
  const described = result.error.issues.map(describeIssue);
  const first = described[0] ?? { field: "(root)", reason: "is invalid" };
  const id = typeof value === "object" && value !== null && "id" in value &&
      typeof value.id === "string" && BUNDLE_ID_PATTERN.test(value.id)
    ? `"${value.id}"`
    : "(unnamed)";
  const details = described.map((d) => `field "${d.field}" ${d.reason}`).join("; ");
  throw new ManifestError(first.field, `Cannot release bundle ${id}: ${details}`);
}

/**
 * Reads and validates `<dir>/bundle.json`.
 *
 * @param dir Bundle folder.
 * @returns The validated manifest.
 * @throws {ManifestError} When the file is missing, too large, not JSON, or invalid.
 */
export async function readManifest(dir: string): Promise<Manifest> {
  const path = `${dir}/bundle.json`;
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new ManifestError("bundle.json", "bundle.json is not a regular file");
    if (info.size > MAX_MANIFEST_BYTES) {
      throw new ManifestError(
        "bundle.json",
        `Cannot release bundle: bundle.json is ${info.size} bytes, more than ${MAX_MANIFEST_BYTES}`,
      );
    }
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof ManifestError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new ManifestError("bundle.json", `Cannot release bundle: no bundle.json in ${dir}`);
    }
    throw error;
  }
  return manifestFromBytes(bytes);
}

/**
 * Validates the bytes of a `bundle.json` (as {@linkcode readManifest} reads them from a folder).
 *
 * @param bytes The file's content.
 * @returns The validated manifest.
 * @throws {ManifestError} When it is too large, not JSON, or invalid.
 */
export function manifestFromBytes(bytes: Uint8Array): Manifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new ManifestError(
      "bundle.json",
      `Cannot release bundle: bundle.json is ${bytes.byteLength} bytes, more than ${MAX_MANIFEST_BYTES}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new ManifestError(
      "bundle.json",
      `Cannot release bundle: bundle.json is not valid JSON (${(error as Error).message})`,
    );
  }
  return parseManifest(json);
}
