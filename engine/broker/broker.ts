/**
 * The broker (docs/architecture.md, "Broker semantics"): every call, from outside or between bundles, goes through it. It
 * computes the route, applies throttling and circuit breaking, calls the chosen revision with its
 * own deadline, and degrades to the `degradeTo` bundle (or a mock) on not-found, timeout, error or
 * an open circuit.
 *
 * Breakers and throttles are kept in its {@linkcode GovernanceTable} (`governance_table.ts`).
 *
 * Degradation follows `degradeTo` links, never visiting a bundle twice (no cycles), at most
 * {@linkcode MAX_DEGRADE_DEPTH} links deep; the reply names the first reason in `degraded`.
 *
 * @module
 */
import { closestName } from "../base/author_terms.ts";
import semver from "semver";
import { BundleCallError, BundlehostError, NotFoundError } from "../base/errors.ts";
import { type Clock, systemClock } from "../base/clock.ts";
import type { AdmittedCall, CallOutcome } from "../call/request.ts";
import type { Revision } from "../core/revision.ts";
import type { BreakerState, Permit } from "./breaker.ts";
import { type Governance, type GovernanceStatus, GovernanceTable } from "./governance_table.ts";
import {
  type BundleEntry,
  currentRevision,
  matchesRoute,
  provides,
  type Query,
  selectRevision,
  servingRevision,
} from "./router.ts";
import {
  type CompiledRoute,
  type CompiledRules,
  compileRoute,
  compileRules,
  type RulesDocument,
} from "./rules.ts";

/** Longest chain of `degradeTo` links followed for one call. */
export const MAX_DEGRADE_DEPTH = 4;

/** Why a fallback or mock served a call (the `x-degraded` header). */
export type DegradeReason =
  | "not-found"
  | "timeout"
  | "error"
  | "circuit-open"
  | "weighted"
  | "mock";

/** What the broker needs from the engine. */
export interface BrokerHost {
  /** Every bundle. */
  entries(): Iterable<BundleEntry>;
  /**
   * The bundles that may provide a service (a superset of those that do), so that a route
   * decision reads those only. @default {every bundle}
   */
  providers?(service: string): Iterable<BundleEntry>;
  /**
   * The service names installed bundles declare, for "did you mean" on a miss (none when
   * absent: a miss never reads every bundle).
   */
  serviceNames?(): Iterable<string>;
  /** One bundle. */
  entry(id: string): BundleEntry | undefined;
  /** A breaker changed state. */
  onBreakerChange(bundle: string, from: BreakerState, to: BreakerState): void;
  /** Time of deadlines, breakers and throttles. @default {systemClock} */
  clock?: Clock;
}

interface CallState {
  request: AdmittedCall;
  service: string;
  range?: string;
  route?: CompiledRoute;
  mock?: "force" | "fail";
  deadline: number;
  /** Bundles already tried, made at the first degradation (most calls never degrade). */
  visited?: Set<string>;
}

const FAILURE_CODES = new Set(["TIMEOUT", "BUNDLE_ERROR", "BUNDLE_CRASHED", "UNAVAILABLE"]);
const NORMAL: Permit = { probe: false };

function reasonFor(error: unknown): DegradeReason | undefined {
  if (!(error instanceof BundlehostError)) return undefined;
  switch (error.code) {
    case "TIMEOUT":
      return "timeout";
    case "BUNDLE_ERROR":
    case "BUNDLE_CRASHED":
      return "error";
    case "UNAVAILABLE":
    case "NOT_FOUND":
      return "not-found";
    case "CIRCUIT_OPEN":
      return "circuit-open";
    default:
      return undefined;
  }
}

/**
 * A bundle that rethrows the refusal of a call beyond the hop limit fails its own caller with it:
 * the loop surfaces as `HOP_LIMIT` (508) at every level up to the first caller, instead of as that
 * bundle's error. It is neither a breaker failure nor degraded (a fallback would hide the loop).
 */
function hopLimitOf(error: unknown): BundlehostError | undefined {
  if (!(error instanceof BundleCallError) || error.remote.code !== "HOP_LIMIT") return undefined;
  return new BundlehostError("HOP_LIMIT", error.remote.message, { cause: error });
}

/** The call one attempt makes: the request, for the service without its range, by the attempt's deadline. */
function attemptCall(state: CallState, deadline: number): AdmittedCall {
  const { request } = state;
  if (request.service === state.service && request.deadline === deadline) return request;
  return { ...request, service: state.service, deadline };
}

/** Routes, protects and degrades calls. */
export class Broker {
  readonly #host: BrokerHost;
  readonly #clock: Clock;
  #rules: CompiledRules = { document: { bundles: {}, services: {} }, routes: new Map() };
  readonly #table: GovernanceTable;

  /**
   * Creates a broker with no rules.
   *
   * @param host The engine side.
   */
  constructor(host: BrokerHost) {
    this.#host = host;
    this.#clock = host.clock ?? systemClock;
    this.#table = new GovernanceTable({
      clock: this.#clock,
      onBreakerChange: (bundle, from, to) => host.onBreakerChange(bundle, from, to),
      forced: (bundle) => {
        const mode = this.#rules.document.bundles[bundle]?.breaker;
        return mode === "forceOpen" || mode === "forceClosed" ? mode : undefined;
      },
    });
  }

  /** The current rules document. */
  get rules(): RulesDocument {
    return structuredClone(this.#rules.document);
  }

  /**
   * Replaces the rules; the new document is validated and compiled whole first.
   *
   * @param raw The rules document.
   * @returns The normalized document now in force.
   * @throws {TypeError} Listing every problem; the old rules stay in force.
   */
  setRules(raw: unknown): RulesDocument {
    const compiled = compileRules(raw);
    this.#rules = compiled;
    // Apply breaker overrides to breakers that exist; new ones pick them up when created.
    this.#table.applyOverrides();
    // A bundle forced open or closed gets its breaker now, so status and events show the forced
    // state at once rather than at the bundle's next call.
    for (const [id, rule] of Object.entries(compiled.document.bundles)) {
      if (
        this.#table.hasBreaker(id) ||
        (rule.breaker !== "forceOpen" && rule.breaker !== "forceClosed")
      ) {
        continue;
      }
      const entry = this.#host.entry(id);
      const revision = entry && currentRevision(entry);
      if (revision) this.#table.breaker(revision.id, this.governance(revision));
    }
    return this.rules;
  }

  /**
   * A bundle's effective governance: its manifest settings, overridden by its rule.
   *
   * @param revision The bundle revision.
   * @returns The merged settings.
   */
  governance(revision: Revision): Governance {
    const rule = this.#rules.document.bundles[revision.id] ?? {};
    const { degradeTo: _ignored, ...settings } = rule;
    return { ...revision.manifest.governance, ...settings };
  }

  /** A bundle's effective degradation target. */
  #degradeTarget(revision: Revision): string | undefined {
    const rule = this.#rules.document.bundles[revision.id];
    if (rule && "degradeTo" in rule) return rule.degradeTo ?? undefined;
    return revision.manifest.degradeTo;
  }

  /**
   * Governance status of a bundle.
   *
   * @param id Bundle id.
   * @returns Breaker and limiter figures.
   */
  status(id: string): GovernanceStatus {
    return this.#table.status(id);
  }

  /**
   * Routes and makes one call: a service call by its route, a fetch to the bundle it names.
   *
   * @param request The call, admitted (its deadline is fixed).
   * @returns Result, serving bundle, degradation reason.
   * @throws {TypeError} For a malformed route or version range.
   * @throws {NotFoundError} When nothing can serve the call.
   * @throws {BundlehostError} `THROTTLED`, `CIRCUIT_OPEN`, `TIMEOUT`, … when no fallback applies.
   */
  async call(request: AdmittedCall): Promise<CallOutcome> {
    if (request.kind === "fetch") return await this.#fetch(request);
    const at = request.service.indexOf("@");
    const service = at < 0 ? request.service : request.service.slice(0, at);
    const range = at < 0 ? undefined : request.service.slice(at + 1);
    if (range !== undefined && semver.validRange(range) === null) {
      throw new TypeError(`Invalid service version range "${range}"`);
    }
    const serviceRule = this.#rules.document.services[service];
    const route = request.route !== undefined
      ? compileRoute(request.route)
      : this.#rules.routes.get(service);
    const state: CallState = {
      request,
      service,
      deadline: request.deadline,
    };
    if (range !== undefined) state.range = range;
    if (route) state.route = route;
    const mock = route?.mock ?? serviceRule?.mock;
    if (mock) state.mock = mock;

    const acquired = this.#table.serviceSlot(service, serviceRule ?? {}, state.deadline);
    const release = typeof acquired === "function" ? acquired : await acquired;
    try {
      if (state.mock === "force") return await this.#mockCall(state, "mock");
      const query: Query = { service, mock: false };
      if (range !== undefined) query.range = range;
      if (route) query.route = route;
      const primary = selectRevision(this.#candidates(query.service), query);
      if (primary) return await this.#attempt(state, primary, undefined);
      const notFound = new NotFoundError(
        `No active bundle provides service ${service}${range ? `@${range}` : ""}${
          route?.type ? ` on route ${route.type}` : route?.params ? " with those parameters" : ""
        }${this.#didYouMean(service)}`,
      );
      const inactive = this.#inactiveProvider(query);
      if (inactive) return await this.#degrade(state, inactive, "not-found", notFound);
      if (state.mock === "fail") return await this.#mockCall(state, "mock");
      throw notFound;
    } finally {
      release();
    }
  }

  /**
   * A fetch (`/b/:id/*`) goes to the bundle it names, under the same throttling, breaker and
   * degradation as a service call: a bundle that is stopped, times out or fails degrades to its
   * `degradeTo` bundle when that one has a fetch handler.
   */
  async #fetch(request: AdmittedCall): Promise<CallOutcome> {
    const id = request.service;
    const state: CallState = {
      request,
      service: id,
      deadline: request.deadline,
    };
    const entry = this.#host.entry(id);
    const revision = entry && servingRevision(entry);
    if (revision?.ready && !revision.ready.fetch) {
      throw new NotFoundError(`Bundle ${revision.label} has no fetch handler`);
    }
    if (revision) return await this.#attempt(state, revision, undefined);
    const notFound = new NotFoundError(`No active bundle "${id}"`);
    const installed = entry && currentRevision(entry);
    if (installed && this.#degradeTarget(installed) !== undefined) {
      return await this.#degrade(state, installed, "not-found", notFound);
    }
    throw notFound;
  }

  async #attempt(
    state: CallState,
    revision: Revision,
    degraded: DegradeReason | undefined,
    split = degraded === undefined,
  ): Promise<CallOutcome> {
    const gov = this.governance(revision);
    const target = this.#degradeTarget(revision);
    if (
      split && target !== undefined && gov.degradeWeight &&
      Math.random() * 100 < gov.degradeWeight
    ) {
      return await this.#degrade(state, revision, "weighted", undefined);
    }
    const acquired = this.#table.bundleSlot(revision.id, gov, state.deadline);
    const release = typeof acquired === "function" ? acquired : await acquired;
    const breaker = this.#table.breaker(revision.id, gov);
    const permit = breaker ? breaker.tryPass() : NORMAL;
    if (!permit) {
      release();
      return await this.#degrade(
        state,
        revision,
        degraded ?? "circuit-open",
        new BundlehostError("CIRCUIT_OPEN", `Circuit of bundle ${revision.id} is open`),
      );
    }
    const deadline = gov.timeoutMs === undefined
      ? state.deadline
      : Math.min(state.deadline, this.#clock.now() + gov.timeoutMs);
    const started = this.#clock.monotonic();
    try {
      const result = await revision.call(attemptCall(state, deadline));
      breaker?.complete(permit, { error: false, rtMs: this.#clock.monotonic() - started });
      return degraded === undefined
        ? { result, bundle: revision.label }
        : { result, bundle: revision.label, degraded };
    } catch (caught) {
      const error = hopLimitOf(caught) ?? caught;
      // Metrics and logs name the bundle that failed (the first one, when a fallback fails too).
      if (error instanceof BundlehostError) error.bundle ??= revision.label;
      const failure = error instanceof BundlehostError && FAILURE_CODES.has(error.code);
      breaker?.complete(permit, { error: failure, rtMs: this.#clock.monotonic() - started });
      const reason = reasonFor(error);
      if (reason === undefined) throw error;
      return await this.#degrade(state, revision, degraded ?? reason, error);
    } finally {
      release();
    }
  }

  async #degrade(
    state: CallState,
    from: Revision,
    reason: DegradeReason,
    error: unknown,
  ): Promise<CallOutcome> {
    const visited = state.visited ??= new Set();
    visited.add(from.id);
    const targetId = this.#degradeTarget(from);
    if (
      targetId !== undefined && !visited.has(targetId) &&
      visited.size <= MAX_DEGRADE_DEPTH
    ) {
      const entry = this.#host.entry(targetId);
      const target = entry && servingRevision(entry);
      const query: Query = { service: state.service, mock: false };
      if (state.range !== undefined) query.range = state.range;
      const serves = state.request.kind === "fetch"
        ? target?.ready?.fetch
        : target && provides(target, query);
      if (target && serves) return await this.#attempt(state, target, reason);
      if (target) visited.add(target.id);
    }
    if (state.mock === "fail") {
      return await this.#mockCall(state, reason === "weighted" ? "mock" : reason);
    }
    if (error === undefined) {
      // A weighted split with no usable target: serve from the bundle itself, without re-rolling.
      visited.delete(from.id);
      return await this.#attempt(state, from, undefined, false);
    }
    throw error;
  }

  async #mockCall(state: CallState, reason: DegradeReason): Promise<CallOutcome> {
    const query: Query = { service: state.service, mock: true };
    if (state.range !== undefined) query.range = state.range;
    const mock = selectRevision(this.#candidates(query.service), query);
    if (!mock) throw new NotFoundError(`No mock bundle provides service ${state.service}`);
    const result = await mock.call(attemptCall(state, state.deadline));
    return { result, bundle: mock.label, degraded: reason === "mock" ? "mock" : reason };
  }

  /** ` (did you mean X?)` when an installed bundle declares a service named close to `service`. */
  #didYouMean(service: string): string {
    const known = this.#host.serviceNames?.();
    const close = known === undefined ? undefined : closestName(service, known);
    return close === undefined ? "" : ` (did you mean ${close}?)`;
  }

  /** The bundles that may provide `service`. */
  #candidates(service: string): Iterable<BundleEntry> {
    return this.#host.providers?.(service) ?? this.#host.entries();
  }

  /** An installed but not serving provider that has a degradation target (service "not found"). */
  #inactiveProvider(query: Query): Revision | undefined {
    let best: Revision | undefined;
    for (const entry of this.#candidates(query.service)) {
      if (query.route?.id !== undefined && entry.id !== query.route.id) continue;
      const revision = currentRevision(entry);
      if (!revision || !provides(revision, query) || !matchesRoute(revision, query.route)) continue;
      if (this.#degradeTarget(revision) === undefined) continue;
      if (!best || revision.manifest.ranking > best.manifest.ranking) best = revision;
    }
    return best;
  }
}
