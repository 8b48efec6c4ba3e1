/**
 * Governance rules that replace manifest settings at run time (`PUT /admin/rules`), and route
 * parsing. A rules document is validated and compiled whole (regular expressions included) before
 * it replaces the current one: an invalid document changes nothing.
 *
 * ```json
 * {
 *   "bundles": { "profile-hema": { "strategy": "errorRatio", "threshold": 0.5, "qps": 100,
 *                                  "degradeTo": "profile-rtmart", "breaker": "forceOpen" } },
 *   "services": { "ProfileService": { "mock": "fail", "route": { "type": "REG", "pattern": "^profile-" },
 *                                     "qps": 1000, "providers": ["profile-rtmart"] } }
 * }
 * ```
 *
 * @module
 */
import { z } from "zod";
import { GOVERNANCE_FIELDS, ratioThresholdOk } from "../manifest/manifest.ts";
import {
  BUNDLE_ID_PATTERN,
  type ManifestGovernance,
  SERVICE_NAME_PATTERN,
} from "../manifest/manifest.ts";
import type { RouteSpec } from "../sdk/types.ts";
import { compileLinearRegExp, MAX_ROUTE_PATTERN } from "./linear_regex.ts";

/**
 * Per-bundle rule: governance fields, plus a degradation target and a breaker override.
 *
 * @example Degrade to a backup and force the breaker open
 * ```ts
 * import { createEngine, type BundleRule } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const rule: BundleRule = { degradeTo: "hello-backup", breaker: "forceOpen" };
 * await engine.setRules({ bundles: { hello: rule }, services: {} });
 * ```
 */
export interface BundleRule extends ManifestGovernance {
  /** Degradation bundle; `null` removes the manifest's. */
  degradeTo?: string | null;
  /** Breaker override. */
  breaker?: "auto" | "forceOpen" | "forceClosed";
}

/**
 * Per-service rule.
 *
 * @example Throttle a service
 * ```ts
 * import { createEngine, type ServiceRule } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const rule: ServiceRule = { qps: 100, maxConcurrency: 10, maxQueueingTimeMs: 200 };
 * await engine.setRules({ bundles: {}, services: { HelloService: rule } });
 * ```
 */
export interface ServiceRule {
  /** Route used when the caller gives none. */
  route?: RouteSpec;
  /** Mock mode: `force` always serves the mock, `fail` only when everything else fails. */
  mock?: "force" | "fail";
  /** Calls per second over all providers. */
  qps?: number;
  /** Calls in flight over all providers. */
  maxConcurrency?: number;
  /** Longest wait in a throttling queue, ms. */
  maxQueueingTimeMs?: number;
  /**
   * Bundle ids (or `"*"`) that may provide this service besides its owner, the bundle that
   * released it first: an admin grant, like the operator policy's `services` section. Checked at
   * release; revoking it does not uninstall a provider already released.
   */
  providers?: string[];
}

/**
 * The whole rules document.
 *
 * @example Read, change and apply the rules
 * ```ts
 * import { createEngine, type RulesDocument } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const rules: RulesDocument = structuredClone(engine.rules);
 * rules.services["HelloService"] = { qps: 50 };
 * await engine.setRules(rules);
 * ```
 */
export interface RulesDocument {
  /** Bundle id → rule. */
  bundles: Record<string, BundleRule>;
  /** Service name → rule. */
  services: Record<string, ServiceRule>;
}

/** A route ready to match: patterns compiled. */
export interface CompiledRoute {
  /** Policy. */
  type?: "ID" | "REG" | "RULE";
  /** Bundle id for `ID`. */
  id?: string;
  /** Expression for `REG`. */
  regex?: RegExp;
  /** Attribute → accepted values, for `RULE`. */
  rule?: Record<string, string[]>;
  /** Dynamic parameters: attribute → value. */
  params?: Record<string, string>;
  /** Mock mode asked for. */
  mock?: "force" | "fail";
}

const attributeValue = z.union([z.string().max(256), z.array(z.string().max(256)).min(1).max(64)]);
const routeSchema = z.strictObject({
  type: z.enum(["ID", "REG", "RULE"]).optional(),
  pattern: z.union([
    z.string().max(MAX_ROUTE_PATTERN),
    z.record(z.string().max(64), attributeValue),
  ])
    .optional(),
  params: z.record(z.string().max(64), z.string().max(256)).optional(),
  mock: z.enum(["force", "fail"]).optional(),
});

const id = z.string().regex(BUNDLE_ID_PATTERN, { message: "is not a valid bundle id" });
const rulesSchema = z.strictObject({
  bundles: z.record(
    id,
    z.strictObject({
      ...GOVERNANCE_FIELDS,
      degradeTo: id.nullable().optional(),
      breaker: z.enum(["auto", "forceOpen", "forceClosed"]).optional(),
    }).refine(ratioThresholdOk, {
      message: "must be at most 1 for a ratio strategy",
      path: ["threshold"],
    }),
  ).default({}),
  services: z.record(
    z.string().regex(SERVICE_NAME_PATTERN, { message: "is not a valid service name" }),
    z.strictObject({
      route: routeSchema.optional(),
      mock: z.enum(["force", "fail"]).optional(),
      qps: GOVERNANCE_FIELDS.qps,
      maxConcurrency: GOVERNANCE_FIELDS.maxConcurrency,
      maxQueueingTimeMs: GOVERNANCE_FIELDS.maxQueueingTimeMs,
      providers: z.array(z.union([z.literal("*"), id])).max(1_000).optional(),
    }),
  ).default({}),
});

/**
 * Validates and compiles a route from any source (HTTP headers, a bundle's broker call, rules).
 *
 * @param raw The route as given.
 * @returns The compiled route, or `undefined` for the default route.
 * @throws {TypeError} Naming what is wrong.
 */
export function compileRoute(raw: unknown): CompiledRoute | undefined {
  if (raw === undefined || raw === null) return undefined;
  const parsed = routeSchema.safeParse(raw);
  if (!parsed.success) {
    throw new TypeError(
      `Invalid route: ${
        parsed.error.issues.map((i) => `${i.path.join(".") || "route"} ${i.message}`).join("; ")
      }`,
    );
  }
  const route = parsed.data;
  const out: CompiledRoute = {};
  if (route.type !== undefined) {
    out.type = route.type;
    if (route.type === "RULE") {
      if (typeof route.pattern !== "object") {
        throw new TypeError("RULE route pattern must be a JSON object of attributes");
      }
      out.rule = Object.fromEntries(
        Object.entries(route.pattern).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]),
      );
    } else {
      if (typeof route.pattern !== "string" || route.pattern === "") {
        throw new TypeError(`${route.type} route needs a pattern string`);
      }
      if (route.type === "ID") out.id = route.pattern;
      else out.regex = compileLinearRegExp(route.pattern);
    }
  }
  if (route.params) out.params = route.params;
  if (route.mock) out.mock = route.mock;
  return Object.keys(out).length === 0 ? undefined : out;
}

/** A validated rules document with its service routes compiled. */
export interface CompiledRules {
  /** The document as given (normalized). */
  document: RulesDocument;
  /** Service name → compiled default route. */
  routes: Map<string, CompiledRoute>;
}

/**
 * Validates and compiles a rules document.
 *
 * @param raw The document.
 * @returns The compiled rules.
 * @throws {TypeError} Listing every problem; nothing is applied.
 */
export function compileRules(raw: unknown): CompiledRules {
  const parsed = rulesSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const path = i.code === "unrecognized_keys" ? [...i.path, i.keys[0]] : i.path;
      return `${path.join(".") || "rules"}: ${
        i.code === "unrecognized_keys" ? "is not a known field" : i.message
      }`;
    });
    throw new TypeError(`Invalid rules: ${problems.join("; ")}`);
  }
  const document = parsed.data as RulesDocument;
  const routes = new Map<string, CompiledRoute>();
  for (const [service, rule] of Object.entries(document.services)) {
    if (!rule.route) continue;
    try {
      const compiled = compileRoute(rule.route);
      if (compiled) routes.set(service, compiled);
    } catch (error) {
      const field = rule.route.type === "REG" ? "route.pattern" : "route";
      throw new TypeError(
        `Invalid rules: services.${service}.${field}: ${(error as Error).message}`,
      );
    }
  }
  return { document, routes };
}
