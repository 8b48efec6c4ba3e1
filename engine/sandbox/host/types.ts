/**
 * The contract between an {@linkcode Instance} and the rest of the engine: what a tier's transport
 * must do, what a ready bundle reports, and the records of calls and events that cross the
 * sandbox boundary.
 *
 * @module
 */
import type { HookName, HostMessage, OutboundReport, StorageRequest } from "../wire/protocol.ts";
import type { AdmittedCall } from "../../call/request.ts";

/** What a tier's transport does; the instance drives it. */
export interface Transport {
  /** Sends a message to the guest; throws when the value cannot be serialized. */
  send(
    message: HostMessage,
    transfer?: Transferable[],
    onUndeliverable?: (error: unknown) => void,
  ): void;
  /** Ends the sandbox now (terminate the worker, SIGKILL the process). */
  kill(): void;
  /** OS process id, for the process tier. */
  readonly pid?: number;
  /**
   * Upper bound on the liveness probe after a call deadline, ms, for a tier whose kill is sure and
   * cheap (the process tier); the instance uses the smaller of this and its `probeMs`.
   */
  readonly probeMs?: number;
}

/** Callbacks a tier's transport reports to. */
export interface TransportSink {
  /** A raw message arrived from the guest (untrusted). */
  receive(raw: unknown): void;
  /** The sandbox ended on its own; `reason` says how. */
  closed(reason: string): void;
  /**
   * Whether a raw message answers a request the engine is waiting for (a reply, response or pong
   * to a pending id). Only other messages count against a sandbox's message budget: the engine
   * asked for the answers, and a flood cannot consist of them (each id is answered once).
   */
  solicited?(raw: unknown): boolean;
  /**
   * Whether the guest has other requests in flight, so it is awake or about to be: a message may
   * then wait for the event loop's I/O poll and share one post with others (one wake-up of
   * the guest's thread for many calls under load; none of that delay when it is idle).
   */
  busy?(): boolean;
}

/** Creates the transport for one instance; one implementation per isolation tier. */
export type TransportFactory = (sink: TransportSink) => Transport;

/** Instance life: `starting` → `ready` → (`retiring`) → `dead`. */
export type InstanceState = "starting" | "ready" | "retiring" | "dead";

/** What a ready instance reported about the bundle. */
export interface ReadyInfo {
  /** Service name → method names. */
  services: Record<string, string[]>;
  /** Whether the bundle has a fetch handler. */
  fetch: boolean;
  /** Hooks the bundle defines. */
  hooks: HookName[];
}

/**
 * The engine's storage of one bundle, as its instances reach it: `ctx.kv`/`ctx.cache` requests and
 * outbound-fetch reports, served from the bundle's own namespace.
 */
export interface StorageHandle {
  /** Serves a `ctx.kv` or `ctx.cache` request. */
  serve(request: StorageRequest): Promise<unknown>;
  /** Records an outbound fetch. */
  report(report: OutboundReport): void;
}

/** An event a bundle publishes (`ctx.events.publish`), made from inside an instance. */
export interface OutboundPublish {
  /** Topic (pattern-checked; the bus checks the rest). */
  topic: string;
  /** Payload, parsed from the guest's JSON text. */
  payload: unknown;
  /** The call it was made in (a detached record when made outside any). */
  parent?: AdmittedCall;
}
