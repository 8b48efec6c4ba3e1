/**
 * The instances of one bundle revision and their roles: launches them (load + `onStart` +
 * heartbeat), keeps warm pre-initialised spares, hands one out with `onRefresh` (a hot start),
 * routes each call to the least-loaded serving instance, buffers calls while none serves (the
 * {@linkcode Activator}), follows the desired count the autoscaler sets, retires instances
 * gracefully, replaces instances that die with exponential backoff, and gives up on a crash loop.
 *
 * Warm instances belong to one revision, that is one `id@version` with one release content hash:
 * a new release gets a new revision and a new pool, so a warm instance never serves another
 * release's code (docs/architecture.md, "Scaling semantics").
 *
 * Roles: `starting` (launching) → `serving` or `warm`; `warm` → `handing-out` (`onRefresh` with a
 * new instance id) → `serving`; any → `retiring` (takes no new call, finishes its calls, `onStop`,
 * ended). Serving instances never exceed the desired count, and serving + warm + starting never
 * exceed `max`.
 *
 * @module
 */
import { Activator } from "./activator.ts";
import type { ScaleReason } from "./autoscaler.ts";
import { UnavailableError } from "../base/errors.ts";
import { type Clock, systemClock, type TimerHandle } from "../base/clock.ts";
import type { Instance } from "../sandbox/host/instance.ts";
import {
  CrashHistory,
  type PoolCounts,
  type PoolOptions,
  type PoolRole,
  Retirements,
  RoleTable,
} from "./pool_parts.ts";

export type { PoolCounts, PoolOptions, PoolRole } from "./pool_parts.ts";

/** Instances of one revision. */
export class InstancePool {
  /** Unexpected exits since the pool opened. */
  restarts = 0;
  /** Why the last instance ended unexpectedly. */
  lastExitReason?: string;
  /** Instances killed while unresponsive (a worker thread may still be spinning). */
  leaked = 0;

  readonly #options: PoolOptions;
  readonly #clock: Clock;
  readonly #activator: Activator;
  readonly #roles: RoleTable;
  readonly #retirements: Retirements;
  readonly #stopping = new WeakSet<Instance>();
  readonly #served = new WeakMap<Instance, number>();
  readonly #crashes: CrashHistory;
  #accepting = false;
  #closed = false;
  #backoffTimer?: TimerHandle;
  /** Ends a drain's wait; set while one waits for the calls in flight. */
  #drained?: () => void;
  #target: number;
  #warm: number;

  /**
   * Creates an empty pool; {@linkcode InstancePool.open} launches the instances.
   *
   * @param options Sizes, timings and callbacks.
   */
  constructor(options: PoolOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#roles = new RoleTable(this.#clock);
    this.#activator = new Activator(options.label, options.maxBuffered ?? 1000, this.#clock);
    this.#retirements = new Retirements(options.hookTimeoutMs, this.#clock);
    this.#crashes = new CrashHistory(options);
    this.#target = Math.max(1, options.min);
    this.#warm = options.warm ?? 0;
  }

  /** Every instance, in any role. */
  get instances(): Instance[] {
    return this.#roles.instances();
  }

  /** Calls in flight over all instances. */
  get inflight(): number {
    return this.#roles.inflight;
  }

  /** Serving instances wanted (set by {@linkcode InstancePool.scaleTo}). */
  get target(): number {
    return this.#target;
  }

  /** Instances ready to take a call now. */
  get readyServing(): number {
    return this.#count("serving");
  }

  /** Counts by role. */
  get counts(): PoolCounts {
    return {
      desired: this.#target,
      serving: this.#count("serving") + this.#count("handing-out"),
      warm: this.#count("warm"),
      spares: this.#spares(),
      starting: this.#count("starting"),
      retiring: this.#count("retiring"),
      buffered: this.#activator.size,
    };
  }

  /**
   * The role of one instance.
   *
   * @param instance An instance of this pool.
   * @returns Its role, or `undefined` once it left the pool.
   */
  roleOf(instance: Instance): PoolRole | undefined {
    return this.#roles.get(instance);
  }

  /**
   * Launches the initial instances (at least one serving, plus the warm spares) and starts
   * accepting calls; or, `atZero` (only when `min` is 0), launches none and accepts calls as a
   * pool scaled to zero does: the first call starts an instance.
   *
   * @param options `atZero`: open scaled to zero when `min` allows it.
   * @throws The first launch failure (load error, `onStart` error); every instance is stopped then.
   */
  async open(options: { atZero?: boolean } = {}): Promise<void> {
    this.#crashes.clear();
    this.#closed = false;
    if (options.atZero && this.#options.min === 0) this.#target = 0;
    const count = this.#target + this.#spares();
    const results = await Promise.allSettled(
      Array.from({ length: count }, () => this.#launch()),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failure) {
      await this.close(false);
      throw failure.reason;
    }
    this.#accepting = true;
    this.#reconcile();
  }

  /**
   * The least-loaded serving instance, synchronously: the caller sends its call at once, so the
   * instance's calls in flight rise before the next pick and concurrent calls spread out.
   *
   * @returns A serving instance, or `undefined` when none is ready (use `acquire`).
   */
  tryAcquire(): Instance | undefined {
    if (!this.#accepting) return undefined;
    return this.#pick();
  }

  /**
   * A serving instance for one call: at once when one is ready, else after a hand-out or a cold
   * start, waiting in the activator's bounded buffer until the deadline.
   *
   * @param deadline Absolute deadline, epoch ms.
   * @returns A serving instance.
   * @throws {UnavailableError} When the pool is closed, the buffer is full, or nothing is ready in
   * time.
   */
  acquire(deadline: number): Promise<Instance> {
    if (!this.#accepting) {
      return Promise.reject(
        new UnavailableError(`Bundle ${this.#options.label} is not accepting calls`),
      );
    }
    const ready = this.#pick();
    if (ready) return Promise.resolve(ready);
    const waiting = this.#activator.wait(deadline);
    if (this.#target === 0) {
      this.scaleTo(1, "cold-start");
    } else if (this.#count("handing-out") === 0 && this.#count("starting") === 0) {
      this.#reconcile();
      // Nothing is on its way (a replacement waits out its backoff): a cold start now.
      if (
        this.#count("handing-out") === 0 && this.#count("starting") === 0 &&
        this.#roles.size < this.#options.max
      ) {
        this.#launch().catch((error) => this.#launchFailed(error));
      }
    }
    return waiting;
  }

  /**
   * Reports that a call on `instance` ended (the instance's own count has already dropped).
   *
   * @param instance The instance the call ran on.
   */
  release(instance: Instance): void {
    this.#retirements.released(instance);
    if (this.#drained && this.inflight === 0) this.#drained();
  }

  /**
   * Sets the serving instances wanted, within `[0, max]`; hands out warm spares first, launches
   * the rest, or retires the surplus (they finish their calls first).
   *
   * @param count Serving instances wanted.
   * @param reason Why, for the `onScale` callback.
   */
  scaleTo(count: number, reason: ScaleReason): void {
    const to = Math.max(0, Math.min(this.#options.max, Math.floor(count)));
    if (to === this.#target) return;
    const from = this.#target;
    this.#target = to;
    this.#options.onScale?.(from, to, reason);
    this.#reconcile();
  }

  /**
   * Sets the warm spares wanted (still bounded by `max` and none at zero).
   *
   * @param count Warm spares.
   */
  setWarm(count: number): void {
    this.#warm = Math.max(0, count);
    this.#reconcile();
  }

  /**
   * Retires serving instances past `maxLifetimeMs` (a soft limit: `onRetire`, then they finish
   * their calls); replacements are handed out or launched.
   *
   * @param now Current time, epoch ms.
   */
  retireExpired(now: number): void {
    const limit = this.#options.maxLifetimeMs;
    if (limit === undefined || !this.#accepting) return;
    for (const [instance, role] of this.#roles.entries()) {
      if (role !== "serving" || now - this.#roles.servingSince(instance) < limit) continue;
      this.#retire(instance, `soft limit: served for ${limit} ms`, true);
    }
    this.#reconcile();
  }

  /**
   * Stops taking calls and waits for the calls in flight to finish, at most `graceMs`.
   *
   * @param graceMs Longest wait, ms.
   * @returns Calls still in flight when the wait ended.
   */
  async drain(graceMs: number): Promise<number> {
    this.#accepting = false;
    this.#clearBackoff();
    this.#activator.rejectAll(`Bundle ${this.#options.label} is stopping`);
    if (this.inflight === 0) return 0;
    // Woken by the last call ending (release, exited) or by the clock at the end of the grace,
    // whichever comes first: no polling, and calls that end in real time end the wait on any clock.
    const clock = this.#clock;
    await new Promise<void>((resolve) => {
      const timer = clock.setTimeout(done, graceMs);
      function done() {
        clock.clearTimeout(timer);
        resolve();
      }
      this.#drained = done;
    });
    this.#drained = undefined;
    return this.inflight;
  }

  /**
   * Ends every instance; runs `onStop` in each ready one first when `runOnStop`.
   *
   * @param runOnStop Whether to run the bundle's `onStop` hook.
   */
  async close(runOnStop: boolean): Promise<void> {
    this.#accepting = false;
    this.#closed = true;
    this.#clearBackoff();
    this.#activator.rejectAll(`Bundle ${this.#options.label} stopped`);
    const all = this.#roles.instances();
    for (const instance of all) this.#stopping.add(instance);
    if (runOnStop) {
      const deadline = this.#clock.now() + this.#options.hookTimeoutMs;
      const stoppable = all.filter((i) =>
        (i.state === "ready" || i.state === "retiring") && this.#retirements.claimStopHook(i)
      );
      await Promise.allSettled(stoppable.map((i) => i.hook("onStop", deadline)));
    }
    for (const instance of all) instance.kill("stopped");
    await this.#retirements.settle();
  }

  /**
   * Reports an instance's exit (wired to each instance's `onExit`).
   *
   * @param instance The instance that ended.
   * @param reason Why.
   */
  exited(instance: Instance, reason: string): void {
    if (!this.#roles.delete(instance)) return;
    this.#retirements.released(instance);
    if (this.#drained && this.inflight === 0) this.#drained();
    const expected = this.#stopping.has(instance);
    if (instance.unresponsive && instance.tier === "worker") this.leaked++;
    this.#options.onExit?.(instance, reason, expected);
    if (expected) return;
    this.lastExitReason = reason;
    if (!this.#accepting) return;
    this.restarts++;
    const crash = this.#crashes.record(this.#clock.now(), reason);
    if (crash.loop !== undefined) {
      this.#accepting = false;
      this.#options.onCrashLoop(crash.loop);
      return;
    }
    const delay = crash.backoffMs;
    // One timer serves every exit that happened during the backoff.
    this.#clearBackoff();
    this.#backoffTimer = this.#clock.setTimeout(() => {
      this.#backoffTimer = undefined;
      this.#reconcile();
    }, delay);
    // A warm spare, if any, replaces a lost serving instance at once; launches wait the backoff.
    this.#reconcile();
  }

  #clearBackoff(): void {
    this.#clock.clearTimeout(this.#backoffTimer);
    this.#backoffTimer = undefined;
  }

  #count(role: PoolRole): number {
    return this.#roles.count(role);
  }

  #spares(): number {
    if (this.#target === 0) return 0;
    return Math.max(0, Math.min(this.#warm, this.#options.max - this.#target));
  }

  /** Least-loaded serving instance, counting `extra` calls already promised to each. */
  #pick(extra?: Map<Instance, number>): Instance | undefined {
    const best = this.#roles.leastLoaded(extra);
    if (!best) return undefined;
    const limit = this.#options.maxCallsPerInstance;
    if (limit !== undefined) {
      const served = (this.#served.get(best) ?? 0) + 1;
      this.#served.set(best, served);
      if (served >= limit) {
        // This call still goes to it; the next ones go elsewhere.
        this.#retire(best, `soft limit: served ${served} calls`, true);
        this.#reconcile();
      }
    }
    return best;
  }

  /** Brings roles in line with the desired serving count and spares. */
  #reconcile(): void {
    if (!this.#accepting) return;
    let serving = this.#count("serving") + this.#count("handing-out");
    for (const [instance, role] of this.#roles.entries()) {
      if (serving >= this.#target) break;
      if (role !== "warm" || instance.state !== "ready") continue;
      this.#handOut(instance);
      serving++;
    }
    if (serving > this.#target) {
      const surplus = [...this.#roles.entries()].filter(([, role]) => role === "serving")
        .map(([instance]) => instance)
        .sort((a, b) => a.inflight - b.inflight)
        .slice(0, serving - this.#target);
      for (const instance of surplus) this.#retire(instance, "scaled in", false);
      serving -= surplus.length;
    }
    const spares = this.#spares();
    let warm = this.#count("warm");
    for (const [instance, role] of this.#roles.entries()) {
      if (warm <= spares) break;
      if (role !== "warm") continue;
      this.#retire(instance, "surplus warm spare", false);
      warm--;
    }
    if (this.#backoffTimer !== undefined) return;
    // Spares are relaunched once hand-outs finished: a sandbox spawn on the engine thread would
    // otherwise delay the hot start it replaces (cold starts stay off the request path).
    const sparesMissing = this.#count("handing-out") > 0 ? 0 : Math.max(0, spares - warm);
    const missing = Math.max(0, this.#target - serving) + sparesMissing - this.#count("starting");
    for (let i = 0; i < missing; i++) this.#launch().catch((error) => this.#launchFailed(error));
  }

  #launchFailed(error: unknown): void {
    // When nothing else can serve, the buffered calls learn why at once.
    const alive = this.#count("serving") + this.#count("handing-out") + this.#count("starting") +
      this.#count("warm");
    if (alive === 0) this.#activator.rejectAll(error as Error);
  }

  /** A warm instance becomes a serving one: a fresh instance id, then the bundle's `onRefresh`. */
  #handOut(instance: Instance): void {
    const clock = this.#clock;
    const started = clock.monotonic();
    this.#roles.set(instance, "handing-out");
    const refreshed = instance.refresh(
      crypto.randomUUID(),
      clock.now() + this.#options.hookTimeoutMs,
    );
    const sent = clock.monotonic() - started;
    refreshed.then(() => {
      const resumed = clock.monotonic();
      if (this.#roles.get(instance) !== "handing-out") return;
      this.#roles.set(instance, "serving");
      const done = clock.monotonic();
      this.#options.onHandOut?.(instance, done - started, sent + (done - resumed));
      this.#serveWaiters();
      this.#reconcile();
    }, (error) => {
      instance.kill(`onRefresh failed: ${(error as Error).message}`);
    });
  }

  /**
   * Stops routing to an instance; once its calls finished it runs `onStop` and ends. A soft limit
   * runs `onRetire` first.
   */
  #retire(instance: Instance, reason: string, soft: boolean): void {
    if (this.#roles.get(instance) === "retiring") return;
    this.#roles.set(instance, "retiring");
    this.#stopping.add(instance);
    this.#retirements.start(instance, reason, soft);
  }

  async #launch(): Promise<Instance> {
    const launchedAt = this.#clock.monotonic();
    let instance: Instance | undefined;
    try {
      instance = this.#options.spawn();
      this.#roles.set(instance, "starting");
      const deadline = this.#clock.now() + this.#options.startTimeoutMs;
      const ready = await instance.start(deadline);
      this.#options.checkReady?.(ready);
      await instance.hook("onStart", deadline);
      if (instance.state !== "ready") {
        throw new UnavailableError(`Instance ${instance.id} ended during start`);
      }
      instance.startHeartbeat();
    } catch (error) {
      instance?.kill(`failed to start: ${(error as Error).message}`);
      throw error;
    }
    this.#options.onStart?.(instance, this.#clock.monotonic() - launchedAt);
    this.#place(instance);
    return instance;
  }

  /** A launched instance serves when serving instances are missing, else waits warm, else ends. */
  #place(instance: Instance): void {
    if (this.#roles.get(instance) !== "starting") return;
    if (this.#closed) {
      this.#stopping.add(instance);
      instance.kill("stopped");
      return;
    }
    const serving = this.#count("serving") + this.#count("handing-out");
    if (serving < this.#target) {
      this.#roles.set(instance, "serving");
      this.#serveWaiters();
    } else if (this.#count("warm") < this.#spares()) {
      this.#roles.set(instance, "warm");
    } else {
      this.#retire(instance, "not needed any more", false);
    }
  }

  #serveWaiters(): void {
    if (this.#activator.size === 0) return;
    // Waiters send their calls later (after their promise settles): spread them by promise count.
    const promised = new Map<Instance, number>();
    this.#activator.serve(() => {
      const instance = this.#pick(promised);
      if (instance) promised.set(instance, (promised.get(instance) ?? 0) + 1);
      return instance;
    });
  }
}
