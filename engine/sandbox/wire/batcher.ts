/**
 * Coalesces the messages one side of a Web Worker posts in the same tick into a single
 * `postMessage` of an array. Each `postMessage` costs a serialization setup and a wake-up of the
 * other thread; batching was the largest single saving on the call path. A message that cannot
 * be cloned fails only itself: the batch is then re-posted message by message, and the failing
 * one's `onUndeliverable` is called.
 *
 * Messages are objects, never arrays, so the receiving side tells a batch from a single message
 * with `Array.isArray`.
 *
 * @module
 */

/** Posts data with a transfer list (a worker's or a worker scope's `postMessage`). */
export type Poster = (data: unknown, transfer: Transferable[]) => void;

interface Item {
  message: unknown;
  transfer: Transferable[] | undefined;
  onUndeliverable: ((error: unknown) => void) | undefined;
}

/**
 * Whether the batch may wait until the event loop has polled for I/O: true when the other side is
 * busy with earlier messages anyway, so messages arriving meanwhile (other requests) go out in the
 * same post and the other thread is woken once for all of them.
 */
export type DeferPolicy = () => boolean;

/** A per-tick batch of outgoing messages. */
export class MessageBatcher {
  readonly #post: Poster;
  readonly #defer: DeferPolicy | undefined;
  #queue: Item[] = [];
  #closed = false;

  /**
   * Creates a batcher over a poster.
   *
   * @param post The underlying `postMessage`.
   * @param defer When a batch may wait for the event loop's I/O poll. @default {never}
   */
  constructor(post: Poster, defer?: DeferPolicy) {
    this.#post = post;
    this.#defer = defer;
  }

  /**
   * Queues a message for the end of this tick.
   *
   * @param message The message (an object).
   * @param transfer Objects to transfer with it.
   * @param onUndeliverable Called when the message cannot be cloned.
   */
  send(
    message: unknown,
    transfer?: Transferable[],
    onUndeliverable?: (error: unknown) => void,
  ): void {
    if (this.#closed) return;
    if (this.#queue.push({ message, transfer, onUndeliverable }) === 1) {
      // setImmediate runs once the event loop has polled for I/O, so the requests that poll
      // delivers join the batch; it is ordering, not a timer (a manual clock must not hold
      // messages back, and setTimeout(0) is clamped to a millisecond: measured, it cut
      // throughput at 4 connections to a third).
      if (this.#defer?.()) setImmediate(() => this.flush());
      else queueMicrotask(() => this.flush());
    }
  }

  /** Posts everything queued now (before the thread or worker ends). */
  flush(): void {
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    if (batch.length === 1) {
      this.#postOne(batch[0]!);
      return;
    }
    const transfer: Transferable[] = [];
    for (const item of batch) if (item.transfer) transfer.push(...item.transfer);
    try {
      this.#post(batch.map((item) => item.message), transfer);
    } catch {
      // One message does not clone (nothing was transferred): find it by posting one by one.
      for (const item of batch) this.#postOne(item);
    }
  }

  /** Drops whatever is queued and refuses further messages. */
  close(): void {
    this.#closed = true;
    this.#queue = [];
  }

  #postOne(item: Item): void {
    try {
      this.#post(item.message, item.transfer ?? []);
    } catch (error) {
      item.onUndeliverable?.(error);
    }
  }
}

/**
 * Calls `handle` for each message of a batch, or for a single message.
 *
 * @param data What arrived.
 * @param handle The message handler.
 */
export function unbatch(data: unknown, handle: (message: unknown) => void): void {
  if (Array.isArray(data)) { for (const message of data) handle(message); }
  else handle(data);
}
