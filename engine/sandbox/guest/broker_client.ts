/**
 * The `ctx.broker` handle inside a sandbox: every call becomes a `broker-call` message that the
 * engine routes through its broker. The engine, not this code, decides deadline and hop count (from
 * the call the message was made in), so a bundle cannot forge them. The message carries the
 * sandbox's active trace context, so a span the bundle made parents the call; the engine accepts
 * it only within the trace of the call it was made in.
 *
 * @module
 */
import type { TraceContext } from "../../base/trace_context.ts";
import type { GuestMessage, HostMessage } from "../wire/protocol.ts";
import { ReplyTable } from "./reply_table.ts";

export { BrokerCallError } from "./reply_table.ts";
import type { Broker, CallOptions, RouteSpec, ServiceClient } from "../../sdk/types.ts";

type BrokerReply = Extract<HostMessage, { type: "broker-reply" }>;

/**
 * Builds the broker client and the function that settles its pending calls.
 *
 * @param post Sends a message to the engine.
 * @param currentCall Id of the engine call being served, if any.
 * @param currentTrace The active W3C trace context, if any.
 * @returns The client and the reply handler.
 */
export function makeBroker(
  post: (message: GuestMessage) => void,
  currentCall: () => number | undefined,
  currentTrace: () => TraceContext | undefined = () => undefined,
): { client: Broker; settle(reply: BrokerReply): void } {
  const replies = new ReplyTable(currentCall, currentTrace);

  function call<O>(service: string, method: string, input?: unknown, options?: CallOptions) {
    return replies.request<O>((id, origin) => {
      const message: GuestMessage = { type: "broker-call", id, service, method, input, ...origin };
      if (options?.route) message.route = options.route;
      if (options?.timeoutMs !== undefined) message.timeoutMs = options.timeoutMs;
      post(message);
    });
  }

  // A Proxy is the one way to offer `client.anyMethod(input)` without knowing the service's
  // methods up front; it forwards string keys only, and is never thenable.
  function get<T extends object>(service: string, route?: RouteSpec): ServiceClient<T> {
    const options: CallOptions | undefined = route ? { route } : undefined;
    return new Proxy(Object.create(null), {
      get(_target, key) {
        if (typeof key !== "string" || key === "then") return undefined;
        return (input: unknown) => call(service, key, input, options);
      },
    }) as ServiceClient<T>;
  }

  const client: Broker = {
    get,
    call,
    dynamic<T extends object>(service: string) {
      return {
        getService(idOrParams: string | Record<string, string>): ServiceClient<T> {
          return get<T>(
            service,
            typeof idOrParams === "string"
              ? { type: "ID", pattern: idOrParams }
              : { params: idOrParams },
          );
        },
      };
    },
  };

  return {
    client,
    settle: (reply) => replies.settle(reply),
  };
}
