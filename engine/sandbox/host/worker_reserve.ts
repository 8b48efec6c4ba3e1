/**
 * Worker-tier sandboxes spawned ahead of time with no permission at all: the guest runtime loaded,
 * waiting for its `init`. A bundle whose grants are empty (its entry prepared as source,
 * `release/prepared_module.ts`) is handed one at release or at scale-from-zero, so its start is
 * the import of its own module instead of a worker's spawn. A spare holds exactly what such a
 * bundle is granted, nothing: a worker's permissions are fixed at spawn and never widened.
 *
 * The reserve fills on first use (an engine without such bundles spawns no spare) and refills
 * after a hand-out once the handed-out worker has answered, so the spare's start does not compete
 * with the one being handed out.
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

  /**
   * Creates an empty reserve.
   *
   * @param spawn Spawns a spare with no permissions.
   * @param size Spares kept. @default {1}
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
   * Hands out a spare; fills the reserve on first use.
   *
   * @returns A spare, or `undefined` when none is ready (spawn one instead).
   */
  take(): Worker | undefined {
    const worker = this.#idle.shift();
    if (worker === undefined) {
      this.refill();
      return undefined;
    }
    const onError = this.#onError.get(worker);
    if (onError) worker.removeEventListener("error", onError);
    this.#onError.delete(worker);
    return worker;
  }

  /** Spawns spares up to the reserve's size. */
  refill(): void {
    while (!this.#closed && this.#idle.length < this.#size) {
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
    for (const worker of [...this.#idle]) this.#drop(worker);
  }
}
