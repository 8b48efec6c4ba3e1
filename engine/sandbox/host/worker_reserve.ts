/**
 * Worker-tier sandboxes spawned ahead of time with no permission at all: the guest runtime loaded,
 * waiting for its `init`. A bundle whose grants are empty (its entry prepared as source,
 * `release/prepared_module.ts`) is handed one at release or at scale-from-zero, so its start is
 * the import of its own module instead of a worker's spawn. A spare holds exactly what such a
 * bundle is granted, nothing: a worker's permissions are fixed at spawn and never widened.
 *
 * `new Worker()` blocks the calling thread while the worker's isolate is made (30–80 ms on a
 * loaded 2-core machine, measured), so spares are never spawned on the path of a release or a
 * call: the reserve fills (and refills) one turn of the event loop after a sandbox granted nothing
 * has answered its first request. An engine without such bundles spawns no spare; one whose
 * bundles are never called spawns a fresh worker per start, as without a reserve.
 *
 * @module
 */

/** Spawns one spare (already listening for its `init`). */
export type SpareFactory = () => Worker;

/** A few pre-spawned no-permission workers. */
export class WorkerReserve {
  readonly #spawn: SpareFactory;
  readonly #size: number;
  readonly #idle: Worker[] = [];
  readonly #onError = new Map<Worker, (event: Event) => void>();
  #closed = false;
  #soon: ReturnType<typeof setTimeout> | undefined;

  /**
   * Creates an empty reserve.
   *
   * @param spawn Spawns a spare with no permissions.
   * @param size Spares kept: one serves releases that come one after another; the engine keeps
   * two, for first calls that come one after another. @default {1}
   */
  constructor(spawn: SpareFactory, size = 1) {
    this.#spawn = spawn;
    this.#size = size;
  }

  /** Spares ready to be handed out. */
  get idle(): number {
    return this.#idle.length;
  }

  /**
   * Hands out a spare.
   *
   * @returns A spare, or `undefined` when there is none (spawn one instead).
   */
  take(): Worker | undefined {
    const worker = this.#idle.shift();
    if (worker === undefined) return undefined;
    const onError = this.#onError.get(worker);
    if (onError) worker.removeEventListener("error", onError);
    this.#onError.delete(worker);
    return worker;
  }

  /**
   * Refills after one turn of the event loop (a yield, not a wait): what is in progress now, such
   * as a reply on its way out, goes first. One spare is spawned per turn, so the requests that
   * arrive meanwhile wait for one spawn at most, not for the whole reserve.
   */
  refillSoon(): void {
    if (this.#closed || this.#soon !== undefined) return;
    this.#soon = setTimeout(() => {
      this.#soon = undefined;
      if (this.#closed || this.#idle.length >= this.#size) return;
      this.#spawnOne();
      if (this.#idle.length < this.#size) this.refillSoon();
    }, 0);
  }

  /** Spawns spares up to the reserve's size, now. */
  refill(): void {
    while (!this.#closed && this.#idle.length < this.#size) this.#spawnOne();
  }

  #spawnOne(): void {
    const worker = this.#spawn();
    // A spare that fails to start is dropped; unhandled, its error would end the engine.
    const onError = (event: Event) => {
      event.preventDefault();
      this.#drop(worker);
    };
    worker.addEventListener("error", onError);
    this.#onError.set(worker, onError);
    this.#idle.push(worker);
  }

  #drop(worker: Worker): void {
    const at = this.#idle.indexOf(worker);
    if (at >= 0) this.#idle.splice(at, 1);
    this.#onError.delete(worker);
    worker.terminate();
  }

  /** Terminates every spare and spawns no more. */
  close(): void {
    this.#closed = true;
    if (this.#soon !== undefined) clearTimeout(this.#soon);
    this.#soon = undefined;
    for (const worker of [...this.#idle]) this.#drop(worker);
  }
}
