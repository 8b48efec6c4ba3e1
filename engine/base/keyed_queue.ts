/**
 * A queue of operations per key (a bundle id for the registry and for a bundle's settings):
 * operations on one key run one after another, in the order they were asked for, while operations
 * on different keys run side by side. A failed operation releases the key like a successful one.
 *
 * @module
 */

/** One queue of operations per key. */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  /**
   * Runs `work` after every earlier operation on the same key finished.
   *
   * @param id The key.
   * @param work The operation.
   * @returns What `work` returns, or its error.
   */
  run<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(id) ?? Promise.resolve();
    const run = previous.then(work, work);
    const tail = run.catch(() => {});
    this.#tails.set(id, tail);
    tail.then(() => {
      if (this.#tails.get(id) === tail) this.#tails.delete(id);
    });
    return run;
  }

  /** How many keys have an operation queued or running. */
  get held(): number {
    return this.#tails.size;
  }
}
