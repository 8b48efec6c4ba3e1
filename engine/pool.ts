/**
 * The instances of one bundle revision: launches them (load + `onStart` + heartbeat), hands out the
 * least-loaded ready one, buffers callers while one starts, replaces instances that die with
 * exponential backoff, and gives up on a crash loop.
 *
 * @module
 */
import { UnavailableError } from "./errors.ts";
import type { Instance } from "./isolation/instance.ts";

/** Options for {@linkcode InstancePool}. */
export interface PoolOptions {
  /** `id@version`, for messages. */
  label: string;
  /** Instances kept running while open. */
  min: number;
  /** Most instances. */
  max: number;
  /** Creates an instance (not started); the pool wires its exit through {@linkcode InstancePool.exited}. */
  spawn(): Instance;
  /** Time allowed for load + `onStart`, ms. */
  startTimeoutMs: number;
  /** Time allowed for `onStop`, ms. */
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
}

interface Waiter {
  resolve(instance: Instance): void;
  reject(error: unknown): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Instances of one revision. */
export class InstancePool {
  /** Unexpected exits since the pool opened. */
  restarts = 0;
  /** Why the last instance ended unexpectedly. */
  lastExitReason?: string;
  /** Instances killed while unresponsive (a worker thread may still be spinning). */
  leaked = 0;

  readonly #options: PoolOptions;
  readonly #instances = new Set<Instance>();
  readonly #stopping = new WeakSet<Instance>();
  #launching = 0;
  #waiters: Waiter[] = [];
  #crashes: number[] = [];
  #accepting = false;
  #relaunchTimer?: ReturnType<typeof setTimeout>;

  /**
   * Creates an empty pool; {@linkcode InstancePool.open} launches the instances.
   *
   * @param options Sizes, timings and callbacks.
   */
  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Every instance, in any state. */
  get instances(): Instance[] {
    return [...this.#instances];
  }

  /** Calls in flight over all instances. */
  get inflight(): number {
    let n = 0;
    for (const instance of this.#instances) n += instance.inflight;
    return n;
  }

  /**
   * Launches the initial instances (at least one) and starts accepting calls.
   *
   * @throws The first launch failure (load error, `onStart` error); every instance is stopped then.
   */
  async open(): Promise<void> {
    this.#crashes = [];
    const count = Math.max(1, this.#options.min);
    const results = await Promise.allSettled(
      Array.from({ length: count }, () => this.#launch()),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failure) {
      await this.close(false);
      throw failure.reason;
    }
    this.#accepting = true;
  }

  /**
   * A ready instance for one call: the least loaded, or one launched (or being replaced) within the
   * deadline.
   *
   * @param deadline Absolute deadline, epoch ms.
   * @returns A ready instance.
   * @throws {UnavailableError} When the pool is closed or nothing is ready in time.
   */
  acquire(deadline: number): Promise<Instance> {
    if (!this.#accepting) {
      return Promise.reject(
        new UnavailableError(`Bundle ${this.#options.label} is not accepting calls`),
      );
    }
    const best = this.#leastLoaded();
    if (best) return Promise.resolve(best);
    if (this.#instances.size + this.#launching < this.#options.max && this.#launching === 0) {
      // A cold start: when it fails and nothing else can serve, waiters learn why at once.
      this.#launch().catch((error) => {
        if (this.#instances.size === 0 && this.#launching === 0) this.#rejectWaiters(error);
      });
    }
    return new Promise<Instance>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(new UnavailableError(`Bundle ${this.#options.label} has no ready instance`));
        }, Math.max(0, deadline - Date.now())),
      };
      this.#waiters.push(waiter);
    });
  }

  /**
   * Stops taking calls and waits for the calls in flight to finish, at most `graceMs`.
   *
   * @param graceMs Longest wait, ms.
   * @returns Calls still in flight when the wait ended.
   */
  async drain(graceMs: number): Promise<number> {
    this.#accepting = false;
    clearTimeout(this.#relaunchTimer);
    this.#rejectWaiters(`Bundle ${this.#options.label} is stopping`);
    const until = Date.now() + graceMs;
    while (this.inflight > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, Math.min(20, Math.max(1, until - Date.now()))));
    }
    return this.inflight;
  }

  /**
   * Ends every instance; runs `onStop` in each ready one first when `runOnStop`.
   *
   * @param runOnStop Whether to run the bundle's `onStop` hook.
   */
  async close(runOnStop: boolean): Promise<void> {
    this.#accepting = false;
    clearTimeout(this.#relaunchTimer);
    this.#rejectWaiters(`Bundle ${this.#options.label} stopped`);
    const all = [...this.#instances];
    for (const instance of all) this.#stopping.add(instance);
    if (runOnStop) {
      const deadline = Date.now() + this.#options.hookTimeoutMs;
      await Promise.allSettled(
        all.filter((i) => i.state === "ready").map((i) => i.hook("onStop", deadline)),
      );
    }
    for (const instance of all) instance.kill("stopped");
  }

  /**
   * Reports an instance's exit (wired to each instance's `onExit`).
   *
   * @param instance The instance that ended.
   * @param reason Why.
   */
  exited(instance: Instance, reason: string): void {
    if (!this.#instances.delete(instance)) return;
    const expected = this.#stopping.has(instance);
    if (instance.unresponsive && instance.tier === "worker") this.leaked++;
    this.#options.onExit?.(instance, reason, expected);
    if (expected) return;
    this.lastExitReason = reason;
    if (!this.#accepting) return;
    this.restarts++;
    const now = Date.now();
    const window = this.#options.crashWindowMs ?? 60_000;
    this.#crashes = [...this.#crashes.filter((t) => now - t < window), now];
    if (this.#crashes.length >= (this.#options.crashLimit ?? 5)) {
      this.#accepting = false;
      this.#options.onCrashLoop(
        `crash loop: ${this.#crashes.length} instance failures within ${window} ms; last: ${reason}`,
      );
      return;
    }
    this.#scheduleRelaunch();
  }

  #scheduleRelaunch(): void {
    if (this.#instances.size + this.#launching >= Math.max(1, this.#options.min)) return;
    const base = this.#options.backoffMs ?? 100;
    const delay = Math.min(
      this.#options.maxBackoffMs ?? 10_000,
      base * 2 ** (this.#crashes.length - 1),
    );
    clearTimeout(this.#relaunchTimer);
    this.#relaunchTimer = setTimeout(() => {
      if (!this.#accepting) return;
      this.#launch().catch(() => {});
    }, delay);
  }

  #leastLoaded(): Instance | undefined {
    let best: Instance | undefined;
    for (const instance of this.#instances) {
      if (instance.state !== "ready") continue;
      if (!best || instance.inflight < best.inflight) best = instance;
    }
    return best;
  }

  async #launch(): Promise<Instance> {
    this.#launching++;
    let instance: Instance | undefined;
    try {
      instance = this.#options.spawn();
      this.#instances.add(instance);
      const deadline = Date.now() + this.#options.startTimeoutMs;
      await instance.start(deadline);
      await instance.hook("onStart", deadline);
      if (instance.state !== "ready") {
        throw new UnavailableError(`Instance ${instance.id} ended during start`);
      }
      instance.startHeartbeat();
    } catch (error) {
      instance?.kill(`failed to start: ${(error as Error).message}`);
      throw error;
    } finally {
      this.#launching--;
    }
    this.#serveWaiters();
    return instance;
  }

  #serveWaiters(): void {
    while (this.#waiters.length > 0) {
      const instance = this.#leastLoaded();
      if (!instance) return;
      const waiter = this.#waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(instance);
    }
  }

  #rejectWaiters(reason: string | Error): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    const error = typeof reason === "string" ? new UnavailableError(reason) : reason;
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }
}
