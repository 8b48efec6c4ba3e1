/**
 * Traffic switching for the registry: which versions of a bundle stay running when traffic moves,
 * the warm rollback target (the version that served before stays ACTIVE in standby for
 * `rollbackWarmMs`, so rolling back to it is only a traffic switch), and phased releases in
 * progress (their controller side effects run under the registry's per-bundle lock).
 *
 * @module
 */
import { BundleStateError } from "../base/errors.ts";
import type { RuntimePort } from "../core/port.ts";
import type { OutcomeWindow } from "../core/outcomes.ts";
import { type CanaryHost, CanaryRun } from "./canary.ts";
import type { CanaryPlan, CanaryState } from "../store/canary_state.ts";
import type { BundleRecord, Store } from "../store/store.ts";
import { type Clock, systemClock, type TimerHandle } from "../base/clock.ts";

/** What {@linkcode TrafficControl} needs from the registry. */
export interface TrafficHost {
  /** The bundle runtime. */
  engine: RuntimePort;
  /** The registry's store. */
  store: Store;
  /** Runs `work` under the registry's lock for bundle `id`. */
  lock<T>(id: string, work: () => Promise<T>): Promise<T>;
  /** How long the previous version stays warm after a switch, ms (0: stopped at once). */
  rollbackWarmMs: number;
  /** Time of the standby timers and phased releases. @default {systemClock} */
  clock?: Clock;
}

interface Standby {
  version: string;
  timer: TimerHandle;
}

/** A bundle record without traffic weights. */
function withoutWeights(record: BundleRecord): BundleRecord {
  const { weights: _dropped, ...rest } = record;
  return rest;
}

/** Warm rollback targets and phased releases of every bundle. */
export class TrafficControl {
  readonly #host: TrafficHost;
  readonly #clock: Clock;
  readonly #standbys = new Map<string, Standby>();
  readonly #canaries = new Map<string, CanaryRun>();

  /**
   * Creates the controller.
   *
   * @param host Engine, store, lock and settings.
   */
  constructor(host: TrafficHost) {
    this.#host = host;
    this.#clock = host.clock ?? systemClock;
  }

  /**
   * Moves all traffic to `version` (under the lock). The version that was active before stays
   * ACTIVE in standby for `rollbackWarmMs`; every other running version is drained and stopped
   * after the switch, without holding up its caller: a release or rollback is acknowledged once
   * `version` serves, not once an older version's calls in flight have ended (a drain may last
   * the bundle's `drainMs`). A version being stopped gets no new calls and turns STOPPING, then
   * RESOLVED; starting it again (a rollback) runs after its stop, as every lifecycle step of one
   * version runs in order. A stop that fails leaves its error in the version's status.
   *
   * @param id Bundle id.
   * @param version Version to serve.
   * @param previous Version that was active before, kept warm.
   */
  switchTo(id: string, version: string, previous?: string): void {
    const engine = this.#host.engine;
    engine.activate(id, version, { requireActive: false });
    this.wake(id, version);
    const keep = this.#host.rollbackWarmMs > 0 && previous !== version ? previous : undefined;
    const stale = (engine.routing(id)?.versions ?? []).filter((r) =>
      r.version !== version && r.state === "ACTIVE"
    );
    for (const revision of stale) {
      if (revision.version === keep) this.#keepWarm(id, revision.version);
      else {
        if (this.#standbys.get(id)?.version === revision.version) this.cancelStandby(id);
        engine.stop(id, revision.version).catch(() => {});
      }
    }
  }

  /**
   * Keeps a version that gets traffic again from being stopped as a stale standby (the engine
   * resumes its normal scaling when traffic is routed to it).
   *
   * @param id Bundle id.
   * @param version Version.
   */
  wake(id: string, version: string): void {
    if (this.#standbys.get(id)?.version === version) this.cancelStandby(id);
  }

  /**
   * Forgets the warm rollback target of a bundle (its stop timer is cleared).
   *
   * @param id Bundle id.
   */
  cancelStandby(id: string): void {
    const standby = this.#standbys.get(id);
    if (standby) this.#clock.clearTimeout(standby.timer);
    this.#standbys.delete(id);
  }

  /**
   * The warm rollback target of a bundle, if any.
   *
   * @param id Bundle id.
   * @returns Its version.
   */
  standbyOf(id: string): string | undefined {
    return this.#standbys.get(id)?.version;
  }

  #keepWarm(id: string, version: string): void {
    const { engine } = this.#host;
    this.cancelStandby(id);
    engine.standby(id, version, true);
    const timer = this.#clock.setTimeout(
      () => {
        this.#host.lock(id, async () => {
          if (this.#standbys.get(id)?.timer !== timer) return;
          this.#standbys.delete(id);
          const routing = engine.routing(id);
          if (!routing || routing.current === version || (routing.weights?.[version] ?? 0) > 0) {
            return;
          }
          await engine.stop(id, version);
        }).catch(() => {});
      },
      this.#host.rollbackWarmMs,
      { unref: true },
    );
    this.#standbys.set(id, { version, timer });
  }

  /**
   * The phased release in progress for a bundle.
   *
   * @param id Bundle id.
   * @returns The run, if one is in progress.
   */
  canary(id: string): CanaryRun | undefined {
    return this.#canaries.get(id);
  }

  /**
   * Outcomes of the running step of a bundle's phased release.
   *
   * @param id Bundle id.
   * @returns The step's outcomes so far, if a release is in progress.
   */
  live(id: string): OutcomeWindow | undefined {
    return this.#canaries.get(id)?.live;
  }

  /**
   * Ends a phased release in progress without touching traffic, because an operator action
   * (release, rollback, traffic, stop, delete) takes over. Call under the lock.
   *
   * @param id Bundle id.
   * @param reason Why.
   * @returns The release's final state to persist, if one was in progress.
   */
  abortCanary(id: string, reason: string): CanaryState | undefined {
    const run = this.#canaries.get(id);
    if (!run) return undefined;
    this.#canaries.delete(id);
    run.abort();
    run.update({ status: "aborted", reason });
    run.emit("aborted", reason);
    return run.state;
  }

  /**
   * Starts a phased release (under the lock): checks it may run, starts the new version, persists
   * the initial state and starts the controller.
   *
   * @param record The bundle record.
   * @param version The new version.
   * @param plan Steps and thresholds.
   * @param ensureInstalled Installs the version from the release store unless it is installed.
   * @returns The initial state.
   * @throws {BundleStateError} When the bundle is stopped, the version is the active one, or a
   * phased release is already in progress.
   */
  async startCanary(
    record: BundleRecord,
    version: string,
    plan: CanaryPlan,
    ensureInstalled: () => Promise<void>,
  ): Promise<CanaryState> {
    const { id } = record;
    const refuse = (why: string) =>
      new BundleStateError(`Cannot start a phased release of ${id}@${version}: ${why}`);
    if (record.desired !== "started") throw refuse("the bundle is stopped");
    if (version === record.active) throw refuse("it is already the active version");
    if (this.#canaries.has(id)) throw refuse("another one is in progress");
    await ensureInstalled();
    await this.#host.engine.start(id, version);
    const state = initialCanaryState(plan, version, record.active);
    await this.#host.store.commit({
      bundle: { ...record, canary: state, updatedAt: state.updatedAt },
    });
    this.wake(id, version);
    this.#canaries.set(
      id,
      new CanaryRun(id, state, this.#canaryHost(id, version), this.#clock),
    );
    return state;
  }

  /** Ends every phased release loop (state stays "running" in the store: restore rolls it back). */
  async close(): Promise<void> {
    for (const id of [...this.#standbys.keys()]) this.cancelStandby(id);
    const runs = [...this.#canaries.values()];
    this.#canaries.clear();
    for (const run of runs) run.abort();
    await Promise.all(runs.map((run) => run.done));
  }

  #canaryHost(id: string, version: string): CanaryHost {
    const { engine, store } = this.#host;
    const current = (run: CanaryRun) => this.#canaries.get(id) === run && !run.aborted;
    const persist = async (run: CanaryRun, change: (r: BundleRecord) => BundleRecord) => {
      const record = await store.getBundle(id);
      if (!record) throw new BundleStateError(`Bundle ${id} was deleted`);
      // Cluster mode: an operator ended it through another engine; that record stands.
      const stored = record.canary;
      if (stored?.status !== "running" || stored.startedAt !== run.state.startedAt) {
        this.abortCanary(id, stored?.reason ?? "changed through another engine");
        throw new BundleStateError(`The phased release of ${id} was ended elsewhere`);
      }
      await store.commit({
        bundle: { ...change(record), canary: run.state, updatedAt: new Date().toISOString() },
      });
    };
    return {
      outcomes: () => engine.outcomes(id, version),
      emit: (event) => engine.events.dispatchEvent(event),
      step: (run) =>
        this.#host.lock(id, async () => {
          if (!current(run)) return;
          const { from, weight } = run.state;
          const weights = { [version]: weight, [from]: 100 - weight };
          await persist(run, (r) => ({ ...r, weights }));
          engine.setWeights(id, weights);
        }),
      promote: (run) =>
        this.#host.lock(id, async () => {
          if (!current(run)) return;
          const { from } = run.state;
          this.#canaries.delete(id);
          run.update({ status: "promoted", weight: 100, step: run.state.steps.length - 1 });
          await persist(run, (r) => ({
            ...withoutWeights(r),
            active: version,
            history: [...r.history, version].slice(-50),
          }));
          this.switchTo(id, version, from);
          run.emit("promoted");
        }),
      rollBack: (run, reason) =>
        this.#host.lock(id, async () => {
          if (!current(run)) return;
          const { from } = run.state;
          this.#canaries.delete(id);
          // Traffic first: calls routed from now on go to the stable version only.
          engine.activate(id, from, { requireActive: false });
          run.update({ status: "rolled-back", reason, weight: 0 });
          await persist(run, (r) => withoutWeights(r));
          run.emit("rolled-back", reason);
          // Calls already on the new version finish (drain) before it stops.
          await engine.stop(id, version);
        }),
    };
  }
}

/**
 * A bundle record whose phased release is rolled back without a controller (after a restart):
 * no traffic split, the release marked `rolled-back` with `reason`.
 *
 * @param record The record with a running phased release.
 * @param reason Why.
 * @returns The record to persist.
 */
export function abandonedCanary(record: BundleRecord, reason: string): BundleRecord {
  const now = new Date().toISOString();
  const canary = { ...record.canary!, status: "rolled-back" as const, weight: 0, reason };
  return { ...withoutWeights(record), canary: { ...canary, updatedAt: now }, updatedAt: now };
}

/**
 * The initial state of a phased release.
 *
 * @param plan Its settings.
 * @param version The new version.
 * @param from The stable version.
 * @returns A `running` state at step 0.
 */
function initialCanaryState(plan: CanaryPlan, version: string, from: string): CanaryState {
  const now = new Date().toISOString();
  return {
    ...plan,
    version,
    from,
    step: 0,
    weight: 0,
    status: "running",
    startedAt: now,
    updatedAt: now,
  };
}
