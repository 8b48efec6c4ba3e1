/**
 * Scaling of one running revision: measures its concurrency, drives its {@linkcode Autoscaler}
 * once per tick (engine option `autoscaleTickMs`), applies decisions to its pool, holds it in
 * standby (one serving instance, no spares, no autoscaling) while it is the warm rollback target,
 * and reports every change as a {@linkcode ScaleEvent} and in status.
 *
 * @module
 */
import {
  Autoscaler,
  ConcurrencyMeter,
  type ScaleDecision,
  type ScaleMode,
  type ScaleReason,
} from "../scaling/autoscaler.ts";
import { ScaleEvent } from "./lifecycle.ts";
import type { ManifestScaling } from "../manifest/manifest.ts";
import type { InstancePool, PoolCounts } from "../scaling/pool.ts";
import { type Clock, every, type Repeating, systemClock } from "../base/clock.ts";

/**
 * A change of the desired serving count, as kept in status.
 *
 * @example The last change of instance count
 * ```ts
 * import { createEngine, type ScaleRecord } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const last: ScaleRecord | undefined = engine.bundle("hello").revisions[0]?.scaling?.lastScale;
 * if (last) console.log(last.at, `${last.from} -> ${last.to}`, last.reason);
 * ```
 */
export interface ScaleRecord {
  /** When, ISO time. */
  at: string;
  /** Desired count before. */
  from: number;
  /** Desired count after. */
  to: number;
  /** Why. */
  reason: ScaleReason;
  /** Concurrency observed, calls. */
  concurrency: number;
}

/**
 * Scaling status of a running revision.
 *
 * @example Is a version on standby?
 * ```ts
 * import { createEngine, type ScalingStatus } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const scaling: ScalingStatus | undefined = engine.bundle("hello").revisions[0]?.scaling;
 * console.log(scaling?.standby, scaling?.mode, scaling?.hotStarts);
 * ```
 */
export interface ScalingStatus extends PoolCounts {
  /** Autoscaler mode. */
  mode: ScaleMode;
  /** Held at one instance as the warm rollback target (no autoscaling). */
  standby: boolean;
  /** Average calls in flight over the last tick (buffered calls included). */
  concurrency: number;
  /** The autoscaler's last decision (every tick), whether or not it changed the count. */
  lastDecision?: ScaleDecision & { at: string };
  /** Warm instances handed out (hot starts) since the revision started. */
  hotStarts: number;
  /** Time of the last hand-out, from the pick to the end of `onRefresh` in the sandbox, ms. */
  lastHotStartMs?: number;
  /** The engine thread's own time in the last hand-out (pick, send, complete), ms. */
  lastHotStartEngineMs?: number;
  /** The last change of the desired count. */
  lastScale?: ScaleRecord;
}

/** What {@linkcode RevisionScaling} needs. */
export interface RevisionScalingInit {
  /** Bundle id. */
  bundle: string;
  /** Version. */
  version: string;
  /** The manifest's scaling settings. */
  scaling: ManifestScaling;
  /** Autoscaler period, ms. */
  tickMs: number;
  /** Where scale events go. */
  events: EventTarget;
  /** Time of the ticks, the concurrency meter and the autoscaler. @default {systemClock} */
  clock?: Clock;
}

/** Autoscaling, standby and scaling status of one running revision. */
export class RevisionScaling {
  /** Calls in flight, time-weighted; the revision reports every call's begin and end. */
  readonly meter: ConcurrencyMeter;
  readonly #init: RevisionScalingInit;
  readonly #clock: Clock;
  readonly #autoscaler: Autoscaler;
  #pool?: InstancePool;
  #timer?: Repeating;
  /** Between `start` and `stop`; the ticks pause while the pool is idle at zero. */
  #running = false;
  #standby = false;
  #resumeTo = 1;
  #latest = 0;
  #decision?: ScaleDecision & { at: string };
  #lastScale?: ScaleRecord;
  #hotStarts = 0;
  #lastHotStartMs?: number;
  #lastHotStartEngineMs?: number;

  /**
   * Creates the scaling of a revision; {@linkcode RevisionScaling.attach} gives it its pool.
   *
   * @param init Identity, settings, tick and events.
   */
  constructor(init: RevisionScalingInit) {
    this.#init = init;
    this.#clock = init.clock ?? systemClock;
    this.meter = new ConcurrencyMeter(this.#clock.monotonic());
    const s = init.scaling;
    this.#autoscaler = new Autoscaler({
      minWorkers: s.minWorkers,
      maxWorkers: s.maxWorkers,
      targetConcurrency: s.targetConcurrency,
      stableWindowMs: s.stableWindowMs,
      panicWindowMs: s.panicWindowMs,
      scaleDownDelayMs: s.scaleDownDelayMs,
      idleMs: s.idleMs,
    }, this.#clock.monotonic());
  }

  /** Whether the revision is held in standby. */
  get standby(): boolean {
    return this.#standby;
  }

  /**
   * Binds the pool whose size this drives.
   *
   * @param pool The revision's pool.
   */
  attach(pool: InstancePool): void {
    this.#pool = pool;
  }

  /** Starts the autoscaler ticks. */
  start(): void {
    this.#running = true;
    this.#arm();
  }

  /** Stops the autoscaler ticks. */
  stop(): void {
    this.#running = false;
    this.#pause();
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = every(this.#clock, this.#init.tickMs, () => this.tick(), { unref: true });
  }

  #pause(): void {
    this.#timer?.stop();
    this.#timer = undefined;
  }

  /** One autoscaler period: sample, retire instances past their lifetime, decide, apply. */
  tick(): void {
    const pool = this.#pool;
    if (!pool) return;
    const now = this.#clock.monotonic();
    const sample = this.meter.take(now);
    this.#latest = sample.average;
    this.#autoscaler.record(now, sample.average, sample.arrivals);
    pool.retireExpired(this.#clock.now());
    if (this.#standby) return;
    const decision = this.#autoscaler.decide(now, pool.readyServing, pool.target);
    this.#decision = { ...decision, at: new Date(this.#clock.now()).toISOString() };
    if (decision.desired !== pool.target) pool.scaleTo(decision.desired, decision.reason);
    // Scaled to zero and idle: nothing to decide until a call scales it up again (`scaled`), so
    // a thousand idle bundles cost no timer work (docs/architecture.md, "Density").
    if (pool.target === 0 && sample.arrivals === 0 && this.meter.current === 0) this.#pause();
  }

  /**
   * Holds the revision at one serving instance without spares or autoscaling (it gets no traffic
   * but stays warm for a rollback), or resumes normal scaling at the size it had before.
   *
   * @param on Standby or not.
   */
  setStandby(on: boolean): void {
    const pool = this.#pool;
    if (!pool || on === this.#standby) return;
    this.#standby = on;
    if (on) {
      this.#resumeTo = pool.target;
      pool.setWarm(0);
      pool.scaleTo(1, "standby");
      return;
    }
    this.#autoscaler.reset(this.#clock.monotonic());
    pool.setWarm(this.#init.scaling.warmWorkers);
    pool.scaleTo(Math.max(this.#resumeTo, this.#init.scaling.minWorkers, 1), "resume");
  }

  /**
   * Reports a change of the desired count (wired to the pool's `onScale`).
   *
   * @param from Desired count before.
   * @param to Desired count after.
   * @param reason Why.
   */
  scaled(from: number, to: number, reason: ScaleReason): void {
    if (to > 0 && this.#running && this.#timer === undefined) {
      // Up from a pause at zero: the windows start afresh, as after a standby.
      this.#autoscaler.reset(this.#clock.monotonic());
      this.#arm();
    }
    const decided = reason === "stable" || reason === "panic" || reason === "min";
    const concurrency = decided && this.#decision
      ? (reason === "panic" ? this.#decision.panicConcurrency : this.#decision.stableConcurrency)
      : this.meter.current;
    this.#lastScale = {
      at: new Date(this.#clock.now()).toISOString(),
      from,
      to,
      reason,
      concurrency,
    };
    this.#init.events.dispatchEvent(
      new ScaleEvent({
        bundle: this.#init.bundle,
        version: this.#init.version,
        from,
        to,
        reason,
        mode: this.#autoscaler.mode,
        concurrency,
      }),
    );
  }

  /**
   * Reports a hot start (wired to the pool's `onHandOut`).
   *
   * @param durationMs Time of the hand-out including `onRefresh` in the sandbox, ms.
   * @param engineMs The engine thread's own share, ms.
   */
  handedOut(durationMs: number, engineMs: number): void {
    this.#hotStarts++;
    this.#lastHotStartMs = durationMs;
    this.#lastHotStartEngineMs = engineMs;
  }

  /** Current scaling status. */
  status(): ScalingStatus {
    const counts = this.#pool?.counts ?? {
      desired: 0,
      serving: 0,
      warm: 0,
      spares: 0,
      starting: 0,
      retiring: 0,
      buffered: 0,
    };
    const status: ScalingStatus = {
      ...counts,
      mode: this.#autoscaler.mode,
      standby: this.#standby,
      concurrency: this.#latest,
      hotStarts: this.#hotStarts,
    };
    if (this.#decision) status.lastDecision = this.#decision;
    if (this.#lastHotStartMs !== undefined) status.lastHotStartMs = this.#lastHotStartMs;
    if (this.#lastHotStartEngineMs !== undefined) {
      status.lastHotStartEngineMs = this.#lastHotStartEngineMs;
    }
    if (this.#lastScale) status.lastScale = this.#lastScale;
    return status;
  }
}
