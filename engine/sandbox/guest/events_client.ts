/**
 * The `ctx.events` handle inside a sandbox: `publish` becomes a `publish` message that the engine
 * validates again and hands to its durable bus; the promise settles with the engine's reply (the
 * event id once stored). Like broker calls, the message names the engine call it was made in and
 * the sandbox's active trace context, and the engine decides hops and trace from them.
 *
 * @module
 */
import type { TraceContext } from "../../base/trace_context.ts";
import { payloadJson, topicProblem } from "../../base/topic.ts";
import type { GuestMessage, HostMessage } from "../wire/protocol.ts";
import type { BundleEvents, PublishResult } from "../../sdk/types.ts";
import { ReplyTable } from "./reply_table.ts";

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
  currentTrace: () => TraceContext | undefined = () => undefined,
): { client: BundleEvents; settle(reply: PublishReply): void } {
  const replies = new ReplyTable(currentCall, currentTrace);

  const client: BundleEvents = {
    publish(topic: string, payload?: unknown): Promise<PublishResult> {
      // Checked here too, so a bundle gets a clear error at once; the engine checks again.
      const problem = topicProblem(topic);
      if (problem) return Promise.reject(new TypeError(problem));
      let data: string;
      try {
        data = payloadJson(payload);
      } catch (error) {
        return Promise.reject(error);
      }
      return replies.request<PublishResult>((id, origin) =>
        post({ type: "publish", id, topic, data, ...origin })
      );
    },
  };

  return {
    client,
    settle: (reply) => replies.settle(reply),
  };
}
