/**
 * One running sandbox of a bundle, seen from the engine: the RPC state machine (pending calls,
 * deadlines, cancellation, heartbeat, fault detection) over a tier-specific transport. Both
 * isolation tiers use this class; only the transport differs.
 *
 * Faults end the instance exactly once ({@linkcode Instance.kill}): every call in flight fails with
 * an {@linkcode InstanceLostError} naming the reason, and `onExit` tells the pool to replace it.
 *
 * What is not this state machine lives beside it: the requests it waits for
 * (`pending_requests.ts`), liveness (`liveness.ts`), the guest's own requests
 * (`guest_requests.ts`), streams (`stream_table.ts`, `stream_answers.ts`) and errors
 * (`instance_errors.ts`).
 *
 * @module
 */
import { InstanceLostError, UnavailableError } from "../../base/errors.ts";
import type { BundleFolder } from "../../base/author_terms.ts";
import type {
  GuestMessage,
  HookName,
  HostMessage,
  LogLevel,
  OutboundReport,
  StorageRequest,
  WireBundleInfo,
  WireMemory,
  WireRequest,
  WireSettings,
} from "../wire/protocol.ts";
import { parseGuestMessage } from "../wire/guest_message.ts";
import type { IsolationTier } from "../../sdk/types.ts";
import { deadlinesFor } from "../../base/deadlines.ts";
import { type Clock, systemClock } from "../../base/clock.ts";
import { Liveness } from "./liveness.ts";
import { HopMemory } from "./hop_memory.ts";
import { type HostRequest, StreamTable } from "./stream_table.ts";
import { withGuestTrace } from "./outbound.ts";
import { GuestRequests } from "./guest_requests.ts";
import { type Pending, PendingRequests } from "./pending_requests.ts";
import {
  bundleError,
  callCancelled,
  callTimedOut,
  describeBundleError,
  remoteError,
} from "./instance_errors.ts";
import { cancelUnclaimed, openResponseStream, openResultStream } from "./stream_answers.ts";
import type { AdmittedCall, CallRequest } from "../../call/request.ts";
import type {
  InstanceState,
  OutboundPublish,
  ReadyInfo,
  Transport,
  TransportFactory,
} from "./types.ts";

// The contract types live in types.ts; importers may keep getting them from here.
export type * from "./types.ts";

/** Options for {@linkcode Instance}. */
export interface InstanceOptions {
  /** Tier name, for status. */
  tier: IsolationTier;
  /** Identity sent to the guest. */
  bundle: WireBundleInfo;
  /** URL of the bundle's entry module. */
  entry: string;
  /** The bundle's folders: errors leave the instance in the author's terms (author_terms.ts). */
  folder?: BundleFolder;
  /** Heartbeat period, ms. @default {2000} */
  heartbeatMs?: number;
  /** No heartbeat reply for this long and the instance is declared unresponsive, ms. @default {5000} */
  unresponsiveMs?: number;
  /** After a call times out, the instance must answer a ping within this long, ms. @default {1000} */
  probeMs?: number;
  /** Time of deadlines, heartbeats and the start timeout. @default {systemClock} */
  clock?: Clock;
  /** Most body streams and WebSockets open at once in this instance. @default {64} */
  maxStreams?: number;
  /** A log record from the guest. */
  onLog?(level: LogLevel, message: string, call: AdmittedCall | undefined): void;
  /** The sandbox's log gate dropped this many records (its own note; counted, not printed). */
  onLogsDropped?(count: number): void;
  /** A call from the bundle to the broker. */
  onOutboundCall?(call: CallRequest): Promise<unknown>;
  /** An event the bundle publishes; resolves once it is stored. */
  onPublish?(event: OutboundPublish): Promise<unknown>;
  /** A `ctx.kv` or `ctx.cache` request; the engine serves it from this instance's bundle's namespace. */
  onStorage?(request: StorageRequest): Promise<unknown>;
  /** An outbound `fetch` the bundle made, reported when it settled. */
  onOutboundFetch?(report: OutboundReport): void;
  /** The instance died; `reason` says why. Called once. */
  onExit?(reason: string, instance: Instance): void;
  /** The bundle's settings now (`ctx.config`, `ctx.secrets`), sent with `init` and on change. */
  currentSettings?(): WireSettings;
}

/** Too many malformed guest messages and the instance is killed. */
const MAX_VIOLATIONS = 100;

/**
 * The engine's handle on one sandbox.
 *
 * @example Start an instance and call it
 * ```ts ignore
 * const instance = new Instance(workerTransport(spec), { tier: "worker", bundle, entry });
 * await instance.start(Date.now() + 10_000);
 * const out = await instance.call({
 *   service: "Hello",
 *   method: "greet",
 *   input: { name: "x" },
 *   deadline: Date.now() + 1000,
 *   hops: 0,
 * });
 * ```
 */
export class Instance {
  /** Instance id (changes on warm hand-out, see {@linkcode Instance.refresh}). */
  id: string;
  /** Isolation tier. */
  readonly tier: IsolationTier;
  /** Life state. */
  state: InstanceState = "starting";
  /** What the bundle exposes, once ready. */
  ready?: ReadyInfo;
  /** Latest memory report. */
  memory?: WireMemory;
  /** Why it died, once dead. */
  exitReason?: string;
  /** When it was created, epoch ms. */
  readonly createdAt: number;
  /** Malformed messages received. */
  violations = 0;
  /** Whether it was killed while unresponsive (a worker thread may still be spinning). */
  unresponsive = false;

  readonly #transport: Transport;
  readonly #options: InstanceOptions;
  readonly #pending: PendingRequests;
  readonly #clock: Clock;
  readonly #liveness: Liveness;
  #startWaiter?: { resolve(info: ReadyInfo): void; reject(error: unknown): void };
  /** Hops and trace of the deepest recent call: what a request made outside any call inherits. */
  readonly #hops: HopMemory;
  /** Whether `onStart` has returned: only then does a settings change run `onRefresh`. */
  #started = false;
  /** Body streams and WebSockets of its fetches. */
  readonly #streams: StreamTable;
  /** Answers the guest's calls to other bundles, publishes and storage requests. */
  readonly #guest: GuestRequests;

  /**
   * Creates the instance and its sandbox; {@linkcode Instance.start} loads the bundle.
   *
   * @param factory Creates the tier's transport.
   * @param options Identity, timings and callbacks.
   */
  constructor(factory: TransportFactory, options: InstanceOptions) {
    this.id = options.bundle.instanceId;
    this.tier = options.tier;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#pending = new PendingRequests(deadlinesFor(this.#clock), {
      refused: (label, call) => {
        if (this.state === "dead") {
          return new UnavailableError(`Instance ${this.id} is not running`);
        }
        return call?.signal?.aborted ? callCancelled(label, this.#options.bundle) : undefined;
      },
      send: (message, transfer, undeliverable) =>
        this.#transport.send(message, transfer, undeliverable),
      cancelled: (id, pending) => this.#fail(id, pending, callCancelled),
      expired: (id, pending) => {
        this.#fail(id, pending, callTimedOut);
        // A timed-out call may mean a busy loop: the instance must prove it is alive, or be evicted.
        this.#liveness.probe();
      },
    });
    this.#hops = new HopMemory(this.#clock);
    this.createdAt = this.#clock.now();
    this.#transport = factory({
      receive: (raw) => this.#receive(raw),
      closed: (reason) => this.kill(reason),
      solicited: (raw) => {
        const m = raw as { type?: unknown; id?: unknown } | null;
        const answer = m?.type === "reply" || m?.type === "response" || m?.type === "pong";
        return answer && typeof m.id === "number" && this.#pending.kindOf(m.id) !== undefined;
      },
      // The message being sent is pending already: busy means others are too.
      busy: () => this.#pending.size > 1,
    });
    this.#liveness = new Liveness(this.#clock, {
      ping: (timeoutMs) => this.ping(timeoutMs),
      dead: () => this.state === "dead",
      unresponsive: (reason) => {
        this.unresponsive = true;
        this.kill(reason);
      },
    }, {
      heartbeatMs: options.heartbeatMs,
      unresponsiveMs: options.unresponsiveMs,
      probeMs: options.probeMs,
      tierProbeMs: this.#transport.probeMs,
    });
    this.#streams = new StreamTable({
      send: (message, transfer) => this.#transport.send(message, transfer),
      maxStreams: options.maxStreams ?? 64,
      label: `Bundle ${options.bundle.id}@${options.bundle.version} instance ${this.id}`,
    });
    this.#guest = new GuestRequests(this, {
      transport: this.#transport,
      handlers: options,
      hops: this.#hops,
      bundleId: options.bundle.id,
    });
  }

  /** Body streams and WebSockets open. */
  get streams(): number {
    return this.#streams.size;
  }

  /** OS process id (process tier). */
  get pid(): number | undefined {
    return this.#transport.pid;
  }

  /** Calls and requests in flight (hooks and pings excluded). */
  get inflight(): number {
    return this.#pending.inflight;
  }

  /** The calls in flight, by message id. */
  callRecord(id: number): AdmittedCall | undefined {
    return this.#pending.callOf(id);
  }

  /**
   * Loads the bundle in the sandbox and waits for it to report ready.
   *
   * @param deadline Absolute deadline, epoch ms.
   * @returns What the bundle exposes.
   * @throws {BundleCallError} When the bundle's module fails to load or is not a bundle.
   * @throws {InstanceLostError} When the sandbox dies or the deadline passes first.
   */
  start(deadline: number): Promise<ReadyInfo> {
    return new Promise<ReadyInfo>((resolve, reject) => {
      const clock = this.#clock;
      const timer = clock.setTimeout(
        () => this.kill(`did not become ready within ${deadline - this.createdAt} ms`),
        deadline - clock.now(),
      );
      this.#startWaiter = {
        resolve: (info) => {
          clock.clearTimeout(timer);
          resolve(info);
        },
        reject: (error) => {
          clock.clearTimeout(timer);
          reject(error);
        },
      };
      try {
        const settings = this.#options.currentSettings?.();
        this.#transport.send({
          type: "init",
          entry: this.#options.entry,
          bundle: this.#options.bundle,
          ...(settings === undefined ? {} : { settings }),
        });
      } catch (error) {
        this.kill(`could not send init: ${(error as Error).message}`);
      }
    });
  }

  /**
   * Runs a call in the sandbox: a service method, or the bundle's fetch handler.
   *
   * @param call The admitted call (deadline, trace context, hops, cancellation).
   * @returns The method's result, or for a `fetch` the response as data.
   */
  call(call: AdmittedCall): Promise<unknown> {
    this.#hops.remember(call);
    const fetch = call.kind === "fetch";
    // A streamed request body stays here and follows the call (stream_table.ts).
    const { bodyStream, maxBodyBytes, ...wire } = fetch ? call.input as HostRequest : {};
    const input = bodyStream ? wire : call.input;
    const body = fetch ? (input as WireRequest).body : null;
    const label = fetch ? `fetch ${call.method}` : `${call.service}.${call.method}`;
    let sent = 0;
    const result = this.#pending.open(
      fetch ? "fetch" : "call",
      label,
      call.deadline,
      call,
      (id) => {
        sent = id;
        const message: HostMessage = {
          type: "call",
          id,
          service: call.service,
          method: call.method,
          input,
          deadline: call.deadline,
        };
        if (fetch) message.kind = "fetch";
        if (call.traceparent) {
          message.traceparent = call.traceparent;
          if (call.tracestate) message.tracestate = call.tracestate;
        }
        return message;
      },
      body ? [body.buffer as ArrayBuffer] : undefined,
    );
    if (bodyStream && sent > 0) {
      this.#streams.sendRequest(sent, bodyStream, maxBodyBytes ?? Infinity).catch(() => {});
      result.catch(() => this.#streams.stopRequest(sent));
    }
    return result;
  }

  /**
   * Runs a lifecycle hook inside the instance (a no-op when the bundle does not define it and no
   * new instance id is sent).
   *
   * @param hook Hook name.
   * @param deadline Absolute deadline, epoch ms.
   * @param instanceId New instance id (for `onRefresh`).
   */
  async hook(hook: HookName, deadline: number, instanceId?: string): Promise<void> {
    if (instanceId !== undefined) this.id = instanceId;
    // A new instance id must reach the guest (ctx.bundle.instanceId) even without the hook.
    if (!this.ready?.hooks.includes(hook) && instanceId === undefined) {
      if (hook === "onStart") this.#started = true;
      return;
    }
    await this.#pending.open(
      "hook",
      hook,
      deadline,
      undefined,
      (id) =>
        instanceId === undefined
          ? { type: "hook", id, hook, deadline }
          : { type: "hook", id, hook, deadline, instanceId },
    );
    // After onStart returned: a settings change during onStart is applied, not refreshed.
    if (hook === "onStart") this.#started = true;
  }

  /**
   * Sends a refresh: new instance id, then the bundle's `onRefresh`.
   *
   * @param instanceId The new id.
   * @param deadline Absolute deadline, epoch ms.
   */
  refresh(instanceId: string, deadline: number): Promise<void> {
    return this.hook("onRefresh", deadline, instanceId);
  }

  /**
   * Sends the bundle's current settings; once they are applied, runs `onRefresh` when `onStart`
   * has run (an instance still starting gets the new values before its `onStart`). Calls in flight
   * are not disturbed: each keeps the config it read.
   *
   * @param deadline Absolute deadline of `onRefresh`, epoch ms.
   * @returns Resolves once the sandbox has applied them (and `onRefresh` returned).
   */
  async reconfigure(deadline: number): Promise<void> {
    const settings = this.#options.currentSettings?.();
    if (settings === undefined || this.state === "dead") return;
    const refresh = this.#started && (this.ready?.hooks.includes("onRefresh") ?? false);
    await this.#pending.open("hook", "settings", deadline, undefined, (id) => ({
      type: "settings",
      id,
      settings,
      deadline,
      refresh,
    }));
  }

  /**
   * Asks the instance for a heartbeat reply.
   *
   * @param timeoutMs How long to wait.
   * @returns The memory it reported.
   */
  ping(timeoutMs: number): Promise<WireMemory> {
    return this.#pending.open("ping", "ping", this.#clock.now() + timeoutMs, undefined, (id) => ({
      type: "ping",
      id,
    })) as Promise<WireMemory>;
  }

  /** Starts periodic heartbeats; an instance that misses them for `unresponsiveMs` is killed. */
  startHeartbeat(): void {
    this.#liveness.start();
  }

  /**
   * Ends the instance: fails every call in flight with `reason`, kills the sandbox, reports once.
   *
   * @param reason Why, e.g. `"unhandled promise rejection: Error: x"`.
   */
  kill(reason: string): void {
    if (this.state === "dead") return;
    this.state = "dead";
    this.exitReason = reason;
    this.#liveness.stop();
    const label = `${this.#options.bundle.id}@${this.#options.bundle.version} instance ${this.id}`;
    const error = new InstanceLostError(`Bundle ${label} died: ${reason}`);
    this.#startWaiter?.reject(error);
    this.#startWaiter = undefined;
    this.#pending.failAll(error);
    this.#streams.closeAll(reason, /^(retired|stopped)/.test(reason));
    try {
      this.#transport.kill();
    } finally {
      this.#options.onExit?.(reason, this);
    }
  }

  /**
   * A request the caller gave up on, or whose deadline passed: its caller gets `why`, and the
   * bundle a `cancel` (its `ctx.signal` aborts).
   */
  #fail(
    id: number,
    pending: Pending,
    why: (label: string, bundle: WireBundleInfo) => Error,
  ): void {
    pending.reject(why(pending.label, this.#options.bundle));
    try {
      this.#transport.send({ type: "cancel", id });
    } catch {
      // The instance is going away anyway.
    }
  }

  #receive(raw: unknown): void {
    const message = parseGuestMessage(raw);
    if (!message) {
      if (++this.violations >= MAX_VIOLATIONS) {
        this.kill(`sent ${MAX_VIOLATIONS} malformed messages`);
      }
      return;
    }
    this.#handle(message);
  }

  /** A reply or an HTTP response: settles the request it answers, if it is still pending. */
  #answer(message: Extract<GuestMessage, { type: "reply" | "response" }>): void {
    if (this.#pending.kindOf(message.id) === "ping") return;
    const pending = this.#pending.take(message.id);
    if (!pending) return cancelUnclaimed(this.#transport, message);
    // The deadline timer has a few milliseconds of resolution and waits for the event loop;
    // an answer that arrived after the deadline is still a timeout, whichever ran first.
    if (this.#clock.now() >= pending.deadline) {
      pending.reject(callTimedOut(pending.label, this.#options.bundle));
      return;
    }
    if (message.type === "response") {
      if (pending.kind !== "fetch") {
        pending.reject(new TypeError("Bundle answered a call with an HTTP response"));
      } else if (message.response.stream || message.response.upgrade) {
        openResponseStream(this.#streams, message.id, message.response, pending);
      } else pending.resolve(message.response);
    } else if (message.ok && message.stream !== undefined) {
      openResultStream(
        this.#streams,
        message.id,
        message.value as Uint8Array<ArrayBuffer>,
        message.stream,
        pending,
      );
    } else if (message.ok) {
      pending.resolve(message.value);
    } else {
      // A hook's failure (onStart…) is read by the author in status; a call's by its caller.
      const audience = pending.kind === "hook" ? "author" : "client";
      const { bundle, folder } = this.#options;
      pending.reject(remoteError(message.error, audience, bundle, folder, this.ready));
    }
  }

  #handle(message: GuestMessage): void {
    switch (message.type) {
      case "ready":
        if (this.state !== "starting" || !this.#startWaiter) return;
        this.ready = { services: message.services, fetch: message.fetch, hooks: message.hooks };
        this.state = "ready";
        this.#startWaiter.resolve(this.ready);
        this.#startWaiter = undefined;
        return;
      case "init-failed": {
        if (!this.#startWaiter) return;
        const waiter = this.#startWaiter;
        this.#startWaiter = undefined;
        const { bundle, folder } = this.#options;
        const error = bundleError(message.error, "author", bundle, folder);
        waiter.reject(error);
        this.kill(`failed to load: ${describeBundleError(error)}`);
        return;
      }
      case "reply":
      case "response":
        return this.#answer(message);
      case "pong": {
        this.#liveness.pong();
        this.memory = message.memory;
        if (this.#pending.kindOf(message.id) === "ping") {
          this.#pending.take(message.id)!.resolve(message.memory);
        }
        return;
      }
      case "log": {
        if (message.dropped !== undefined) {
          // Counted where the bundle's drops are counted; never printed, so forged notes cannot
          // carry a log flood past the budget.
          this.#options.onLogsDropped?.(message.dropped);
          return;
        }
        // Bounded before it gets here by the sandbox's log gate and the channel budget, and after
        // it by the bundle's log budget (onLog).
        const record = message.callId === undefined ? undefined : this.callRecord(message.callId);
        this.#options.onLog?.(message.level, message.message, withGuestTrace(record, message));
        return;
      }
      case "broker-call":
        void this.#guest.call(message);
        return;
      case "publish":
        void this.#guest.publish(message);
        return;
      case "kv":
      case "cache":
        void this.#guest.storage(message);
        return;
      case "outbound":
        this.#options.onOutboundFetch?.(message);
        return;
      case "stream-chunk":
      case "stream-end":
      case "stream-credit":
      case "socket-send":
      case "socket-close":
        if (this.#streams.receive(message) !== undefined && ++this.violations >= MAX_VIOLATIONS) {
          this.kill(`sent ${MAX_VIOLATIONS} malformed messages`);
        }
        return;
      case "fatal": {
        // Seen by the callers it fails too: bundle-relative paths.
        const { bundle, folder } = this.#options;
        const error = message.error && bundleError(message.error, "client", bundle, folder);
        this.kill(error ? `${message.reason}: ${describeBundleError(error)}` : message.reason);
        return;
      }
    }
  }
}
