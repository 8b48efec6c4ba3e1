/**
 * The broker's governance state (docs/architecture.md, "Broker semantics"): a circuit breaker per
 * bundle with a breaker strategy (or one forced open or closed by a rule), and the throttles (QPS
 * and concurrency) per bundle and per service. Each is made when a call first needs it and made
 * anew when its settings change; a bundle or service without settings keeps nothing, so the hot
 * path of an ungoverned call allocates no promise.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { ManifestGovernance } from "../manifest/manifest.ts";
import { type BreakerRule, type BreakerState, CircuitBreaker } from "./breaker.ts";
import type { BundleRule } from "./rules.ts";
import { ConcurrencyLimiter, QpsLimiter } from "./throttle.ts";
import type { WindowSnapshot } from "./window.ts";

/** A bundle's effective governance: its manifest settings, overridden by its rule. */
export type Governance = ManifestGovernance & Pick<BundleRule, "breaker">;

/** The throttling settings of a bundle or a service. */
export interface ThrottleSettings {
  /** Calls per second. */
  qps?: number;
  /** Calls in flight. */
  maxConcurrency?: number;
  /** Longest wait for a slot, ms. @default {0} */
  maxQueueingTimeMs?: number;
}

/**
 * Governance status of one bundle.
 *
 * @example Current load of a bundle
 * ```ts
 * import { createEngine, type GovernanceStatus } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const governance: GovernanceStatus | undefined = engine.bundle("hello").governance;
 * console.log(governance?.qps, governance?.concurrency?.active, governance?.concurrency?.max);
 * ```
 */
export interface GovernanceStatus {
  /** Breaker state and window counters, when the bundle has a breaker. */
  breaker?: { state: BreakerState; window: WindowSnapshot };
  /** Calls in flight under the concurrency limit, when there is one. */
  concurrency?: { active: number; max: number };
  /** QPS limit, when there is one. */
  qps?: number;
}

/** Frees a throttle slot. */
export type ReleaseSlot = () => void;

/** What the table needs from the broker. */
export interface GovernanceTableOptions {
  /** Time of breakers and throttles. */
  clock: Clock;
  /** A breaker changed state. */
  onBreakerChange(bundle: string, from: BreakerState, to: BreakerState): void;
  /** A bundle's breaker forced by the rules in force, if it is. */
  forced(bundle: string): "forceOpen" | "forceClosed" | undefined;
}

interface Limits {
  key: string;
  qps?: QpsLimiter;
  concurrency?: ConcurrencyLimiter;
}

const noRelease: ReleaseSlot = () => {};

/** Breakers and throttles, by bundle and by service. */
export class GovernanceTable {
  readonly #options: GovernanceTableOptions;
  readonly #breakers = new Map<string, { key: string; breaker: CircuitBreaker }>();
  readonly #bundleLimits = new Map<string, Limits>();
  readonly #serviceLimits = new Map<string, Limits>();

  /**
   * Creates an empty table.
   *
   * @param options Clock, breaker events and forced states.
   */
  constructor(options: GovernanceTableOptions) {
    this.#options = options;
  }

  /**
   * Whether a bundle has a breaker now.
   *
   * @param bundle Bundle id.
   * @returns `true` when it has one.
   */
  hasBreaker(bundle: string): boolean {
    return this.#breakers.has(bundle);
  }

  /**
   * A bundle's breaker under `gov`: made (or made anew for changed settings) when it has a
   * strategy or is forced, dropped when it has neither; a forced state follows the rules.
   *
   * @param bundle Bundle id.
   * @param gov Its effective governance.
   * @returns The breaker, or `undefined` when the bundle has none.
   */
  breaker(bundle: string, gov: Governance): CircuitBreaker | undefined {
    const forced = gov.breaker === "forceOpen" || gov.breaker === "forceClosed";
    if (!gov.strategy && !forced) {
      this.#breakers.delete(bundle);
      return undefined;
    }
    const rule = breakerRule(gov);
    const key = JSON.stringify(rule);
    let entry = this.#breakers.get(bundle);
    if (!entry || entry.key !== key) {
      entry = {
        key,
        breaker: new CircuitBreaker(
          rule,
          (from, to) => this.#options.onBreakerChange(bundle, from, to),
          this.#options.clock,
        ),
      };
      this.#breakers.set(bundle, entry);
    }
    this.#applyOverride(bundle, entry.breaker);
    return entry.breaker;
  }

  /** Forces (or frees) every existing breaker as the rules in force say. */
  applyOverrides(): void {
    for (const [id, entry] of this.#breakers) this.#applyOverride(id, entry.breaker);
  }

  /**
   * Takes a slot under a bundle's throttling settings.
   *
   * @param bundle Bundle id.
   * @param settings Its settings.
   * @param deadline The call's deadline, epoch ms (a queued call waits no longer).
   * @returns The slot's release: at once (no promise) when the bundle has no throttle.
   */
  bundleSlot(
    bundle: string,
    settings: ThrottleSettings,
    deadline: number,
  ): ReleaseSlot | Promise<ReleaseSlot> {
    return this.#acquire(this.#bundleLimits, bundle, `bundle ${bundle}`, settings, deadline);
  }

  /**
   * Takes a slot under a service's throttling rule.
   *
   * @param service Service name.
   * @param settings Its rule's settings.
   * @param deadline The call's deadline, epoch ms.
   * @returns The slot's release: at once (no promise) when the service has no throttle.
   */
  serviceSlot(
    service: string,
    settings: ThrottleSettings,
    deadline: number,
  ): ReleaseSlot | Promise<ReleaseSlot> {
    return this.#acquire(this.#serviceLimits, service, `service ${service}`, settings, deadline);
  }

  /**
   * Governance status of a bundle.
   *
   * @param bundle Bundle id.
   * @returns Breaker and limiter figures.
   */
  status(bundle: string): GovernanceStatus {
    const out: GovernanceStatus = {};
    const breaker = this.#breakers.get(bundle)?.breaker;
    if (breaker) out.breaker = { state: breaker.state, window: breaker.snapshot() };
    const limits = this.#bundleLimits.get(bundle);
    if (limits?.concurrency) {
      out.concurrency = { active: limits.concurrency.active, max: limits.concurrency.max };
    }
    if (limits?.qps) out.qps = limits.qps.qps;
    return out;
  }

  #applyOverride(bundle: string, breaker: CircuitBreaker): void {
    const mode = this.#options.forced(bundle);
    const wanted = mode === "forceOpen"
      ? "FORCED_OPEN"
      : mode === "forceClosed"
      ? "FORCED_CLOSED"
      : undefined;
    const current = breaker.state === "FORCED_OPEN" || breaker.state === "FORCED_CLOSED"
      ? breaker.state
      : undefined;
    if (wanted !== current) breaker.force(wanted);
  }

  /**
   * Takes a slot under the throttling settings: at once (no promise, no extra turn of the event
   * loop) when there are none, the common case on the hot path.
   */
  #acquire(
    table: Map<string, Limits>,
    key: string,
    label: string,
    settings: ThrottleSettings,
    deadline: number,
  ): ReleaseSlot | Promise<ReleaseSlot> {
    if (settings.qps === undefined && settings.maxConcurrency === undefined) {
      if (table.size > 0) table.delete(key);
      return noRelease;
    }
    const configKey = `${settings.qps}|${settings.maxConcurrency}|${settings.maxQueueingTimeMs}`;
    let limits = table.get(key);
    if (!limits || limits.key !== configKey) {
      const queue = settings.maxQueueingTimeMs ?? 0;
      const clock = this.#options.clock;
      limits = { key: configKey };
      if (settings.qps !== undefined) {
        limits.qps = new QpsLimiter(label, settings.qps, queue, clock);
      }
      if (settings.maxConcurrency !== undefined) {
        limits.concurrency = new ConcurrencyLimiter(label, settings.maxConcurrency, queue, clock);
      }
      table.set(key, limits);
    }
    return limited(limits, deadline);
  }
}

async function limited(limits: Limits, deadline: number): Promise<ReleaseSlot> {
  if (limits.qps) await limits.qps.acquire(deadline);
  return limits.concurrency ? await limits.concurrency.acquire(deadline) : noRelease;
}

/** A breaker's rule from governance settings, with the documented defaults. */
function breakerRule(g: ManifestGovernance): BreakerRule {
  const strategy = g.strategy ?? "errorRatio";
  return {
    strategy,
    maxRtMs: g.maxRtMs ?? 1000,
    threshold: g.threshold ?? (strategy === "errorCount" ? 5 : 0.5),
    minRequestAmount: g.minRequestAmount ?? 5,
    statIntervalMs: g.statIntervalMs ?? 1000,
    retryTimeoutMs: g.retryTimeoutMs ?? 5000,
    probeNum: g.probeNum ?? 1,
  };
}
