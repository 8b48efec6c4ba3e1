/**
 * What an instance answers for its guest: calls to other bundles, event publishes and `ctx.kv` /
 * `ctx.cache` requests. Each is turned into an engine record under the call the guest names (only
 * if that call is one the engine sent and still in flight; outbound.ts), handed to the engine's
 * callback, and answered with a reply that always goes out, as an error when the value cannot.
 *
 * @module
 */
import { UnavailableError } from "../../base/errors.ts";
import type { GuestMessage, HostMessage, StorageRequest } from "../wire/protocol.ts";
import { toWireError } from "../wire/wire_error.ts";
import { type AdmittedCall, type CallRequest, nestedCall } from "../../call/request.ts";
import type { HopMemory } from "./hop_memory.ts";
import { guestTrace, outboundPublish } from "./outbound.ts";
import type { InstanceState, OutboundPublish, Transport } from "./types.ts";

/** The engine's callbacks for a guest's requests (the instance's options). */
export interface GuestRequestHandlers {
  /** A call from the bundle to the broker. */
  onOutboundCall?(call: CallRequest): Promise<unknown>;
  /** An event the bundle publishes; resolves once it is stored. */
  onPublish?(event: OutboundPublish): Promise<unknown>;
  /** A `ctx.kv` or `ctx.cache` request, served from the bundle's namespace. */
  onStorage?(request: StorageRequest): Promise<unknown>;
}

/** The instance whose guest asks: its life state and the calls it has in flight. */
export interface GuestRequestOwner {
  /** Life state: a dead instance sends no reply. */
  readonly state: InstanceState;
  /** The call in flight under a message id, if the engine sent one. */
  callRecord(id: number): AdmittedCall | undefined;
}

/** A guest's publish message. */
type PublishMessage = Extract<GuestMessage, { type: "publish" }>;
/** A guest's call to another bundle. */
type BrokerCallMessage = Extract<GuestMessage, { type: "broker-call" }>;
/** A guest's `ctx.kv` or `ctx.cache` request. */
type StorageMessage = Extract<GuestMessage, { type: "kv" | "cache" }>;

/** Answers one instance's guest requests; made once per instance. */
export class GuestRequests {
  readonly #owner: GuestRequestOwner;
  readonly #transport: Transport;
  readonly #handlers: GuestRequestHandlers;
  readonly #hops: HopMemory;
  readonly #bundleId: string;

  /**
   * Creates the answerer of one instance.
   *
   * @param owner The instance.
   * @param parts Its transport, the engine's callbacks, its hop memory and its bundle's id.
   */
  constructor(
    owner: GuestRequestOwner,
    parts: {
      transport: Transport;
      handlers: GuestRequestHandlers;
      hops: HopMemory;
      bundleId: string;
    },
  ) {
    this.#owner = owner;
    this.#transport = parts.transport;
    this.#handlers = parts.handlers;
    this.#hops = parts.hops;
    this.#bundleId = parts.bundleId;
  }

  /**
   * Publishes an event for the guest and replies.
   *
   * @param message The guest's publish.
   */
  publish(message: PublishMessage): Promise<void> {
    return this.#answer("publish-reply", message.id, () => {
      const publish = this.#handlers.onPublish;
      if (!publish) throw new UnavailableError("This engine does not deliver events");
      return publish(outboundPublish(message, this.#parentOf(message.callId)));
    });
  }

  /**
   * Routes the guest's call to another bundle and replies with its result.
   *
   * @param message The guest's call.
   */
  call(message: BrokerCallMessage): Promise<void> {
    return this.#answer("broker-reply", message.id, () => {
      const route = this.#handlers.onOutboundCall;
      if (!route) throw new UnavailableError("This engine does not route calls between bundles");
      const parent = this.#parentOf(message.callId);
      const ask = {
        service: message.service,
        method: message.method,
        input: message.input,
        ...(message.route === undefined ? {} : { route: message.route }),
        ...(message.timeoutMs === undefined ? {} : { timeoutMs: message.timeoutMs }),
      };
      const trace = guestTrace(parent, message);
      return route(nestedCall(parent, trace === undefined ? ask : { ...ask, ...trace }));
    });
  }

  /**
   * Serves the guest's `ctx.kv` or `ctx.cache` request and replies.
   *
   * @param message The guest's request.
   */
  storage(message: StorageMessage): Promise<void> {
    return this.#answer("storage-reply", message.id, () => {
      const serve = this.#handlers.onStorage;
      if (!serve) throw new UnavailableError("This engine does not keep bundle storage");
      return serve(message);
    });
  }

  /**
   * The engine's record of the call a guest request names. The guest's word is not trusted: the
   * id must be a call or fetch the engine sent to this instance and still in flight; anything
   * else (a timer, a hook such as `onStart`, a forged id) is detached, with the hops and trace of
   * the deepest call the instance served lately.
   */
  #parentOf(callId: number | undefined): AdmittedCall {
    const call = callId === undefined ? undefined : this.#owner.callRecord(callId);
    if (call) return call;
    const inherited = this.#hops.inherited();
    const detached: AdmittedCall = {
      service: this.#bundleId,
      method: "(detached)",
      input: undefined,
      deadline: Infinity,
      hops: inherited.hops,
      detached: true,
    };
    if (inherited.traceparent !== undefined) {
      detached.traceparent = inherited.traceparent;
      if (inherited.tracestate !== undefined) detached.tracestate = inherited.tracestate;
    }
    return detached;
  }

  /** Runs a guest's request and sends the reply; a reply that cannot be serialized becomes an error. */
  async #answer(
    type: "broker-reply" | "publish-reply" | "storage-reply",
    id: number,
    work: () => Promise<unknown>,
  ): Promise<void> {
    let reply: HostMessage;
    try {
      reply = { type, id, ok: true, value: await work() } as HostMessage;
    } catch (error) {
      reply = { type, id, ok: false, error: toWireError(error, "runtime") } as HostMessage;
    }
    if (this.#owner.state === "dead") return;
    try {
      this.#transport.send(reply);
    } catch (error) {
      this.#transport.send(
        { type, id, ok: false, error: toWireError(error, "runtime") } as HostMessage,
      );
    }
  }
}
