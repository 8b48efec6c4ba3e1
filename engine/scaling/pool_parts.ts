/**
 * Parts of an `InstancePool`: its options, the role of each instance (with the
 * least-loaded pick among serving ones), graceful retirement (no new calls, calls in flight
 * finish, `onStop`, then the instance ends), and crash-loop accounting.
 *
 * @module
 */
import type { ScaleReason } from "./autoscaler.ts";
import type { Clock } from "../base/clock.ts";
import type { Instance, ReadyInfo } from "../sandbox/host/instance.ts";

/** Options for `InstancePool`. */
export interface PoolOptions {
  /** `id@version`, for messages. */
  label: string;
  /** Fewest serving instances the pool opens with (at least one is launched at open). */
  min: number;
  /** Most instances (serving, warm and starting together). */
  max: number;
  /** Warm spares kept beyond the serving ones (never past `max`, none at zero). @default {0} */
  warm?: number;
  /** Most calls buffered while no instance serves. @default {1000} */
  maxBuffered?: number;
  /** Soft limit: an instance that took this many calls is retired. */
  maxCallsPerInstance?: number;
  /** Soft limit: an instance serving for this long is retired (checked by `retireExpired`), ms. */
  maxLifetimeMs?: number;
  /** Creates an instance (not started); the pool wires its exit through `InstancePool.exited`. */
  spawn(): Instance;
  /** Time allowed for load + `onStart`, ms. */
  startTimeoutMs: number;
  /** Time allowed for `onStop`, `onRefresh` and `onRetire`, ms. */
  hookTimeoutMs: number;
  /** This many unexpected exits within `crashWindowMs` is a crash loop. @default {5} */
  crashLimit?: number;
  /** @default {60000} */
  crashWindowMs?: number;
  /** First replacement delay, doubled per recent crash, ms. @default {100} */
  backoffMs?: number;
  /** Longest replacement delay, ms. @default {10000} */
  maxBackoffMs?: number;
  /** Called once when the pool gives up after a crash loop. */
  onCrashLoop(reason: string): void;
  /** Called for every instance exit. */
  onExit?(instance: Instance, reason: string, expected: boolean): void;
  /**
   * Checks what a launched instance reports ready with, before its `onStart` runs; throwing fails
   * the launch with that error (the release contract check).
   */
  checkReady?(ready: ReadyInfo): void;
  /** Called when a launched instance is ready (after `onStart`), with the launch time in ms. */
  onStart?(instance: Instance, durationMs: number): void;
  /**
   * Called when a warm instance was handed out: `durationMs` from the hand-out to the end of
   * `onRefresh` (the round trip into the sandbox included), `engineMs` the engine thread's own
   * share (picking, sending, completing).
   */
  onHandOut?(instance: Instance, durationMs: number, engineMs: number): void;
  /** Called whenever the desired serving count changes. */
  onScale?(from: number, to: number, reason: ScaleReason): void;
  /** Time of deadlines, backoff, lifetimes and hand-out durations. @default {systemClock} */
  clock?: Clock;
}

/**
 * Instance counts of a pool, by role.
 *
 * @example Warm and serving instances
 * ```ts
 * import { createEngine, type PoolCounts } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const pool: PoolCounts | undefined = engine.bundle("hello").revisions[0]?.scaling;
 * if (pool) console.log(`${pool.serving} serving, ${pool.warm} warm, ${pool.buffered} buffered`);
 * ```
 */
export interface PoolCounts {
  /** Serving instances wanted. */
  desired: number;
  /** Serving (or being handed out). */
  serving: number;
  /** Warm spares ready to be handed out. */
  warm: number;
  /** Warm spares wanted now. */
  spares: number;
  /** Launching. */
  starting: number;
  /** Finishing their calls before they end. */
  retiring: number;
  /** Calls waiting in the activator. */
  buffered: number;
}

/** What an instance is doing for its pool. */
export type PoolRole = "starting" | "warm" | "handing-out" | "serving" | "retiring";

/** The role of every instance of a pool. */
export class RoleTable {
  readonly #roles = new Map<Instance, PoolRole>();
  readonly #servingSince = new WeakMap<Instance, number>();
  readonly #clock: Clock;

  /**
   * Creates an empty table.
   *
   * @param clock Time of `servingSince`.
   */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Number of instances. */
  get size(): number {
    return this.#roles.size;
  }

  /** Every instance with its role. */
  entries(): IterableIterator<[Instance, PoolRole]> {
    return this.#roles.entries();
  }

  /** Every instance. */
  instances(): Instance[] {
    return [...this.#roles.keys()];
  }

  /** Calls in flight over all instances. */
  get inflight(): number {
    let n = 0;
    for (const instance of this.#roles.keys()) n += instance.inflight;
    return n;
  }

  /**
   * The role of an instance.
   *
   * @param instance The instance.
   * @returns Its role, or `undefined` when it is not in the table.
   */
  get(instance: Instance): PoolRole | undefined {
    return this.#roles.get(instance);
  }

  /**
   * Sets the role of an instance (and when it began serving).
   *
   * @param instance The instance.
   * @param role Its role.
   */
  set(instance: Instance, role: PoolRole): void {
    if (role === "serving" && this.#roles.get(instance) !== "serving") {
      this.#servingSince.set(instance, this.#clock.now());
    }
    this.#roles.set(instance, role);
  }

  /**
   * Removes an instance.
   *
   * @param instance The instance.
   * @returns Whether it was in the table.
   */
  delete(instance: Instance): boolean {
    return this.#roles.delete(instance);
  }

  /**
   * When an instance began serving.
   *
   * @param instance The instance.
   * @returns Epoch ms; its creation time when it never served.
   */
  servingSince(instance: Instance): number {
    return this.#servingSince.get(instance) ?? instance.createdAt;
  }

  /**
   * Instances in a role.
   *
   * @param role The role.
   * @returns How many.
   */
  count(role: PoolRole): number {
    let n = 0;
    for (const r of this.#roles.values()) if (r === role) n++;
    return n;
  }

  /**
   * The least-loaded ready serving instance, counting `extra` calls already promised to each.
   *
   * @param extra Calls promised but not sent yet, per instance.
   * @returns The instance, if any serves.
   */
  leastLoaded(extra?: Map<Instance, number>): Instance | undefined {
    let best: Instance | undefined;
    let bestLoad = Infinity;
    for (const [instance, role] of this.#roles) {
      if (role !== "serving" || instance.state !== "ready") continue;
      const load = instance.inflight + (extra?.get(instance) ?? 0);
      if (load < bestLoad) {
        best = instance;
        bestLoad = load;
      }
    }
    return best;
  }
}

/** Instances being retired gracefully, and which ones already ran `onStop`. */
export class Retirements {
  readonly #hookTimeoutMs: number;
  readonly #clock: Clock;
  readonly #idleWaiters = new Map<Instance, () => void>();
  readonly #running = new Set<Promise<void>>();
  readonly #stopHookRun = new WeakSet<Instance>();

  /**
   * Creates the tracker.
   *
   * @param hookTimeoutMs Time allowed for `onRetire` and `onStop`, ms.
   * @param clock Time of the hook deadlines.
   */
  constructor(hookTimeoutMs: number, clock: Clock) {
    this.#hookTimeoutMs = hookTimeoutMs;
    this.#clock = clock;
  }

  /**
   * Retires an instance that no longer takes calls: `onRetire` first for a soft limit, then it
   * finishes its calls in flight, runs `onStop` and is killed.
   *
   * @param instance The instance (its role is already `retiring`).
   * @param reason Why, in its exit reason.
   * @param soft Whether a soft limit retired it (runs `onRetire`).
   */
  start(instance: Instance, reason: string, soft: boolean): void {
    if (instance.state === "ready") instance.state = "retiring";
    const deadline = () => this.#clock.now() + this.#hookTimeoutMs;
    const done = (async () => {
      // Let a caller that just picked this instance send its call first.
      await Promise.resolve();
      if (soft) await instance.hook("onRetire", deadline()).catch(() => {});
      if (instance.inflight > 0 && instance.state !== "dead") {
        await new Promise<void>((resolve) => this.#idleWaiters.set(instance, resolve));
      }
      this.#idleWaiters.delete(instance);
      if (instance.state === "dead") return;
      if (this.claimStopHook(instance)) {
        await instance.hook("onStop", deadline()).catch(() => {});
      }
      instance.kill(`retired: ${reason}`);
    })();
    this.#running.add(done);
    done.finally(() => this.#running.delete(done));
  }

  /**
   * A call on `instance` ended, or the instance exited: a retirement waiting for it goes on.
   *
   * @param instance The instance.
   */
  released(instance: Instance): void {
    if (instance.inflight === 0 || instance.state === "dead") this.#idleWaiters.get(instance)?.();
  }

  /**
   * Marks that `onStop` runs for an instance now.
   *
   * @param instance The instance.
   * @returns `false` when it already ran (or is running).
   */
  claimStopHook(instance: Instance): boolean {
    if (this.#stopHookRun.has(instance)) return false;
    this.#stopHookRun.add(instance);
    return true;
  }

  /** Settles once every retirement in progress has ended. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#running]);
  }
}

/** Unexpected exits of a pool's instances: replacement backoff and crash-loop detection. */
export class CrashHistory {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  #times: number[] = [];

  /**
   * Creates an empty history.
   *
   * @param options The pool's crash settings.
   */
  constructor(options: PoolOptions) {
    this.#limit = options.crashLimit ?? 5;
    this.#windowMs = options.crashWindowMs ?? 60_000;
    this.#backoffMs = options.backoffMs ?? 100;
    this.#maxBackoffMs = options.maxBackoffMs ?? 10_000;
  }

  /** Forgets every crash (the pool reopened). */
  clear(): void {
    this.#times = [];
  }

  /**
   * Records one unexpected exit.
   *
   * @param now Epoch ms.
   * @param reason Why the instance ended.
   * @returns The crash-loop message when this exit makes a loop, else the replacement delay.
   */
  record(now: number, reason: string): { loop?: string; backoffMs: number } {
    this.#times = [...this.#times.filter((t) => now - t < this.#windowMs), now];
    const n = this.#times.length;
    const backoffMs = Math.min(this.#maxBackoffMs, this.#backoffMs * 2 ** (n - 1));
    if (n < this.#limit) return { backoffMs };
    return {
      loop: `crash loop: ${n} instance failures within ${this.#windowMs} ms; last: ${reason}`,
      backoffMs,
    };
  }
}
