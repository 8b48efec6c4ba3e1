/**
 * The `ctx.events` handle inside a sandbox: `publish` becomes a `publish` message that the engine
 * validates again and hands to its durable bus; the promise settles with the engine's reply (the
 * event id once stored). Like broker calls, the message names the engine call it was made in and
 * the sandbox's active trace context, and the engine decides hops and trace from them.
 *
 * @module
 */
import { payloadJson, topicProblem } from "../events/topic.ts";
import type { GuestMessage, HostMessage } from "../protocol.ts";
import type { BundleEvents, PublishResult } from "../types.ts";
import { BrokerCallError } from "./broker_client.ts";

type PublishReply = Extract<HostMessage, { type: "publish-reply" }>;

/**
 * Builds the events client and the function that settles its pending publishes.
 *
 * @param post Sends a message to the engine.
 * @param currentCall Id of the engine call being served, if any.
 * @param currentTrace The active W3C trace context, if any.
 * @returns The client and the reply handler.
 */
export function makeEvents(
  post: (message: GuestMessage) => void,
  currentCall: () => number | undefined,
  currentTrace: () => string | undefined = () => undefined,
): { client: BundleEvents; settle(reply: PublishReply): void } {
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  let nextId = 1;

  const client: BundleEvents = {
    publish(topic: string, payload?: unknown): Promise<PublishResult> {
      return new Promise<PublishResult>((resolve, reject) => {
        // Checked here too, so a bundle gets a clear error at once; the engine checks again.
        const problem = topicProblem(topic);
        if (problem) throw new TypeError(problem);
        const data = payloadJson(payload);
        const id = nextId++;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        const message: GuestMessage = { type: "publish", id, topic, data };
        const callId = currentCall();
        if (callId !== undefined) message.callId = callId;
        const traceparent = currentTrace();
        if (traceparent !== undefined) message.traceparent = traceparent;
        try {
          post(message);
        } catch (error) {
          pending.delete(id);
          reject(error);
        }
      });
    },
  };

  return {
    client,
    settle(reply) {
      const waiter = pending.get(reply.id);
      if (!waiter) return;
      pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.value);
      else {
        waiter.reject(new BrokerCallError(reply.error.name, reply.error.message, reply.error.code));
      }
    },
  };
}
