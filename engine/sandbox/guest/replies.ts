/**
 * A call's answer as the sandbox sends it: a value, or an error. A value that cannot cross to the
 * engine fails its call by name (`DataCloneError`), whether the port refuses it at once or, when it
 * batches, later. A reply whose value is a primitive is sealed (`clone_check.ts`), so the worker
 * tier sends it without walking it.
 *
 * @module
 */
import type { GuestMessage, WireError } from "../wire/protocol.ts";
import { MAX_SEALED_CHARS, sealMessage } from "./clone_check.ts";

/** Posts a message to the engine, as the runtime's port does. */
export type Post = (
  message: GuestMessage,
  transfer?: Transferable[],
  onUndeliverable?: (error: unknown) => void,
) => void;

/** Answers calls. */
export interface Replies {
  /** Answers a call with a value. */
  replyValue(id: number, value: unknown): void;
  /** Answers a call with an error. */
  replyError(id: number, error: WireError): void;
}

/**
 * Makes the reply functions over a port.
 *
 * @param post Sends to the engine.
 * @returns The two replies.
 */
export function makeReplies(post: Post): Replies {
  function replyError(id: number, error: WireError): void {
    post({ type: "reply", id, ok: false, error });
  }

  function replyValue(id: number, value: unknown): void {
    const unserializable = (error: unknown) =>
      replyError(id, {
        name: "DataCloneError",
        message: `The result cannot be serialized: ${(error as Error).message}`,
        source: "bundle",
      });
    const message: GuestMessage = { type: "reply", id, ok: true, value };
    // A literal of primitives, as most replies are: nothing for the worker tier to walk.
    if (value === null || (typeof value !== "object" && typeof value !== "function")) {
      // A long string is left to the walk, which counts its characters against the byte cap.
      const short = typeof value !== "string" || value.length <= MAX_SEALED_CHARS;
      if (typeof value !== "symbol" && short) sealMessage(message, 5);
    }
    try {
      post(message, undefined, unserializable);
    } catch (error) {
      unserializable(error);
    }
  }

  return { replyValue, replyError };
}
