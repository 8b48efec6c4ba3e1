/**
 * The registry's per-bundle lock: operations on one bundle id run one after another, in the order
 * they were asked for, while operations on different ids run side by side. A failed operation
 * releases the lock like a successful one.
 *
 * @module
 */

/** One queue of operations per bundle id. */
export class BundleLocks {
  readonly #tails = new Map<string, Promise<unknown>>();

  /**
   * Runs `work` after every earlier operation on the same bundle id finished.
   *
   * @param id Bundle id.
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

  /** How many bundle ids have an operation queued or running. */
  get held(): number {
    return this.#tails.size;
  }
}
