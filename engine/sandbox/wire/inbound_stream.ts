/**
 * The receiving end of a credited body stream (streams.ts), shared by both sides of the boundary:
 * the engine receives response bodies with it, the guest request bodies. Chunks pushed by the
 * sender wait in a queue bounded by the window the receiver granted; each chunk the reader takes
 * grants its size back to the sender, so a slow reader stops the sender instead of growing the
 * queue.
 *
 * @module
 */
import { MAX_STREAM_CHUNK_BYTES, STREAM_WINDOW_BYTES } from "./streams.ts";

/** What an {@linkcode InboundStream} reports to its owner. */
export interface InboundStreamOptions {
  /** The reader took `bytes`: grant them back to the sender. */
  grant(bytes: number): void;
  /** The reader cancelled the stream: tell the sender to stop. */
  cancel(reason: string): void;
  /** Bytes granted before the first grant. @default {STREAM_WINDOW_BYTES} */
  window?: number;
}

/** A readable stream fed by pushed chunks, with credit-based flow control. */
export class InboundStream {
  /** The stream the reader reads. */
  readonly readable: ReadableStream<Uint8Array<ArrayBuffer>>;
  readonly #options: InboundStreamOptions;
  readonly #queue: Uint8Array<ArrayBuffer>[] = [];
  #controller!: ReadableStreamDefaultController<Uint8Array<ArrayBuffer>>;
  /** Bytes the sender may still send without a new grant. */
  #credit: number;
  #queued = 0;
  /** Bytes read and not yet granted back: grants go out in batches of a quarter window. */
  #ungranted = 0;
  readonly #batch: number;
  #waiting = false;
  #ended = false;
  #failure: Error | undefined;
  #done = false;

  /**
   * Creates the stream.
   *
   * @param options Grant and cancel callbacks, window.
   */
  constructor(options: InboundStreamOptions) {
    this.#options = options;
    this.#credit = options.window ?? STREAM_WINDOW_BYTES;
    this.#batch = Math.max(1, Math.floor(this.#credit / 4));
    this.readable = new ReadableStream<Uint8Array<ArrayBuffer>>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => {
        if (this.#queue.length > 0) this.#deliver();
        else if (this.#ended) this.#finish();
        else this.#waiting = true;
      },
      cancel: (reason) => {
        if (this.#done) return;
        this.#done = true;
        this.#queue.length = 0;
        this.#queued = 0;
        this.#options.cancel(
          reason instanceof Error ? reason.message : String(reason ?? "cancelled"),
        );
      },
    }, { highWaterMark: 0 });
  }

  /** Bytes received and not yet read. */
  get queued(): number {
    return this.#queued;
  }

  /** Whether the stream is over (ended, failed or cancelled). */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Adds a chunk from the sender.
   *
   * @param data The bytes.
   * @returns Why the chunk breaks the protocol (the caller cuts the stream), or `undefined`.
   */
  push(data: Uint8Array<ArrayBuffer>): string | undefined {
    if (this.#done) return undefined; // The reader left: late chunks are dropped.
    if (this.#ended) return "a chunk after the end of the stream";
    if (data.byteLength > MAX_STREAM_CHUNK_BYTES) {
      return `a chunk of ${data.byteLength} bytes, over the ${MAX_STREAM_CHUNK_BYTES} byte limit`;
    }
    if (data.byteLength > this.#credit) {
      return `${data.byteLength} bytes with only ${this.#credit} bytes of credit`;
    }
    this.#credit -= data.byteLength;
    this.#queue.push(data);
    this.#queued += data.byteLength;
    if (this.#waiting) this.#deliver();
    return undefined;
  }

  /**
   * The sender ended the stream; with `error`, the reader sees it fail after the queued chunks.
   *
   * @param error Why it failed, if it did.
   */
  end(error?: Error): void {
    if (this.#done || this.#ended) return;
    this.#ended = true;
    this.#failure = error;
    if (this.#waiting && this.#queue.length === 0) this.#finish();
  }

  /**
   * Fails the stream at once, dropping what is queued (a cut, or the sender is gone).
   *
   * @param error What the reader sees.
   */
  fail(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue.length = 0;
    this.#queued = 0;
    try {
      this.#controller.error(error);
    } catch {
      // Already closed.
    }
  }

  /**
   * Closes the stream at once after what is queued is dropped: a clean end the sender did not
   * make (the instance is stopping).
   */
  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue.length = 0;
    this.#queued = 0;
    try {
      this.#controller.close();
    } catch {
      // Already closed.
    }
  }

  #deliver(): void {
    const chunk = this.#queue.shift()!;
    this.#queued -= chunk.byteLength;
    this.#waiting = false;
    this.#controller.enqueue(chunk);
    // A sender with no credit left has a full window here: read on, and the batch fills.
    this.#ungranted += chunk.byteLength;
    if (this.#ungranted >= this.#batch) {
      this.#credit += this.#ungranted;
      this.#options.grant(this.#ungranted);
      this.#ungranted = 0;
    }
  }

  #finish(): void {
    this.#done = true;
    this.#waiting = false;
    if (this.#failure) this.#controller.error(this.#failure);
    else this.#controller.close();
  }
}
