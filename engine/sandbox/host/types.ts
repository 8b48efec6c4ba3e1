/**
 * The contract between an {@linkcode Instance} and the rest of the engine: what a tier's transport
 * must do, what a ready bundle reports, and the records of calls and events that cross the
 * sandbox boundary.
 *
 * @module
 */
import type { HookName, HostMessage } from "../wire/protocol.ts";

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

/** A bundle's call to another bundle, made from inside an instance. */
export interface OutboundCall {
  /** Service to call (optionally `Service@range`). */
  service: string;
  /** Method. */
  method: string;
  /** Input value. */
  input: unknown;
  /** Requested route (untrusted: validate before use). */
  route?: unknown;
  /** Requested timeout, ms. */
  timeoutMs?: number;
  /** The engine call this was made in, when the instance is serving one. */
  parent?: CallRecord;
}

/** An event a bundle publishes (`ctx.events.publish`), made from inside an instance. */
export interface OutboundPublish {
  /** Topic (pattern-checked; the bus checks the rest). */
  topic: string;
  /** Payload, parsed from the guest's JSON text. */
  payload: unknown;
  /** The engine call this was made in, when the instance is serving one. */
  parent?: CallRecord;
}

/** Engine-side record of a call the instance is serving. */
export interface CallRecord {
  /** Absolute deadline, epoch ms. */
  deadline: number;
  /** Trace context. */
  traceparent?: string;
  /** Number of broker hops so far. */
  hops: number;
  /** Aborts when the caller cancels; the call then fails and the bundle's ctx.signal aborts. */
  signal?: AbortSignal;
  /**
   * Set on the record the engine makes for a guest request made outside any call it serves (or
   * naming a call that is not in flight): hops and trace are the instance's last call's, and the
   * request is charged to the bundle's detached budget.
   */
  detached?: true;
  /**
   * The call was made by a bundle outside any call it served. Its hops are not remembered for the
   * callee's own detached requests: a timer calling its own bundle would otherwise climb to the
   * hop limit (such calls are charged to the caller's detached budget instead).
   */
  fromDetached?: true;
}
