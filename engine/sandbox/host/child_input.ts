/**
 * The engine's side of a process-tier child's standard input: messages become frames
 * (`../wire/frame_writer.ts`), and frames sent in the same tick leave in one write. What is handed
 * to the pipe but not yet written is bounded (twice the largest frame), so a child that stops
 * reading its input cannot make the engine buffer without limit: a message past the bound fails
 * its own send with a `RangeError`.
 *
 * @module
 */
import { encodeFrame, MAX_JSON_PAYLOAD_BYTES } from "../wire/framing.ts";
import { FrameWriter } from "../wire/frame_writer.ts";

/** A child's framed input. */
export class ChildInput {
  readonly #pipe: WritableStreamDefaultWriter<Uint8Array>;
  readonly #maxFrameBytes: number;
  readonly #open: () => boolean;
  // The child reads JSON frames of any size from the engine (it trusts its engine).
  readonly #frames: FrameWriter;
  /** Bytes handed to the pipe but not yet written. */
  #queued = 0;
  #flushQueued = false;

  /**
   * Wraps a child's standard input.
   *
   * @param pipe The child's stdin writer.
   * @param maxFrameBytes Largest frame.
   * @param open Whether the child still runs (nothing is written once it is killed or exited).
   */
  constructor(
    pipe: WritableStreamDefaultWriter<Uint8Array>,
    maxFrameBytes: number,
    open: () => boolean,
  ) {
    this.#pipe = pipe;
    this.#maxFrameBytes = maxFrameBytes;
    this.#open = open;
    this.#frames = new FrameWriter({ maxFrameBytes, jsonMaxBytes: MAX_JSON_PAYLOAD_BYTES });
  }

  /**
   * Sends a message; it leaves with the others sent in this tick.
   *
   * @param message The message.
   * @throws {RangeError} When it is larger than a frame may be, or the child is not reading.
   * @throws {TypeError} When it cannot be serialized.
   */
  send(message: unknown): void {
    if (!this.#open()) {
      // Like postMessage to a terminated worker: checked, then dropped; the exit report fails
      // what is pending.
      encodeFrame(message, this.#maxFrameBytes);
      return;
    }
    this.#queued += this.#frames.add(
      message,
      (size) =>
        this.#queued + size > 2 * this.#maxFrameBytes
          ? new RangeError(`The bundle is not reading its input (${this.#queued} bytes queued)`)
          : undefined,
    );
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** Ends the pipe without waiting for what it holds. */
  abort(): Promise<void> {
    return this.#pipe.abort();
  }

  #flush(): void {
    this.#flushQueued = false;
    // A copy: the writer reuses its buffer while the pipe still holds this one.
    const batch = this.#frames.take().slice();
    if (batch.byteLength === 0 || !this.#open()) return;
    const size = batch.byteLength;
    const done = () => (this.#queued -= size);
    this.#pipe.write(batch).then(done, done);
  }
}
