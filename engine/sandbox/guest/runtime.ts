/**
 * The guest runtime: runs inside every sandbox (Web Worker or child process), loads the bundle and
 * answers the engine's messages. It is trusted engine code, but it shares its realm with the bundle,
 * so the engine never relies on it for isolation: it only makes well-behaved bundles convenient.
 *
 * The bundle's entry is loaded with a non-literal `import()`, so Deno checks the whole bundle graph
 * against the sandbox's own permissions (not the engine's).
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  type GuestMessage,
  type HookName,
  type HostMessage,
  type LogLevel,
  MAX_LOG_MESSAGE,
  toWireError,
  type WireBundleInfo,
  type WireError,
  type WireRequest,
} from "../wire/protocol.ts";
import type {
  BundleContext,
  BundleDefinition,
  BundleHooks,
  BundleLogger,
} from "../../sdk/types.ts";
import { makeBroker } from "./broker_client.ts";
import { CallScope } from "./call_scope.ts";
import { makeEvents } from "./events_client.ts";
import { makeSettings } from "./settings_client.ts";
import { makeStorage } from "./storage_client.ts";
import { boundFetch } from "./outbound_fetch.ts";
import { hardenSandbox } from "./harden.ts";
import { captureTraceContext } from "./trace_context.ts";
import { encodeResultStream, GuestStreams, startBody } from "./guest_streams.ts";
import { CallRequest } from "./call_request.ts";
import { MAX_RESPONSE_BYTES, readResponse, responseMessage } from "./fetch_response.ts";
import { trackStringBodies } from "./string_body.ts";
import { MAX_SEALED_CHARS, sealMessage } from "./clone_check.ts";
import { GuestSockets } from "./guest_socket.ts";
import { isTraceparent, isTracestate, type TraceContext } from "../../base/trace_context.ts";

/** How the runtime talks to the engine; one implementation per isolation tier. */
export interface GuestPort {
  /**
   * Sends a message. When the value cannot be serialized, the port either throws at once or, if it
   * batches, calls `onUndeliverable` later (callers handle both).
   */
  post(
    message: GuestMessage,
    transfer?: Transferable[],
    onUndeliverable?: (error: unknown) => void,
  ): void;
  /** Registers the handler for engine messages. */
  listen(handler: (message: HostMessage) => void): void;
  /** Ends this sandbox after a fatal fault has been reported. */
  exit(code: number): void;
}

export { MAX_RESPONSE_BYTES };
const HOOK_NAMES: readonly HookName[] = ["onStart", "onStop", "onRefresh", "onRetire"];
const METHOD_NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/;

type Method = (this: unknown, input: unknown, ctx: BundleContext) => unknown;
interface ServiceEntry {
  target: object;
  methods: Map<string, Method>;
}

/** Methods of a service object or class instance, own and inherited, never `Object.prototype`'s. */
function collectMethods(target: object): Map<string, Method> {
  const methods = new Map<string, Method>();
  let proto: object | null = target;
  while (proto !== null && proto !== Object.prototype && proto !== Function.prototype) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === "constructor" || methods.has(key) || !METHOD_NAME.test(key)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, key);
      if (typeof descriptor?.value === "function") methods.set(key, descriptor.value as Method);
    }
    proto = Object.getPrototypeOf(proto);
  }
  return methods;
}

/**
 * The trace context an engine call carries, if any. A plugin or an embedder may have set it, so it
 * is checked here too: a malformed parent would make the bundle's own spans fail to start.
 */
function traceOf(msg: { traceparent?: string; tracestate?: string }): TraceContext | undefined {
  if (!isTraceparent(msg.traceparent)) return undefined;
  return isTracestate(msg.tracestate)
    ? { traceparent: msg.traceparent, tracestate: msg.tracestate }
    : { traceparent: msg.traceparent };
}

/**
 * A request's headers with the context the bundle runs in: its `traceparent` (the engine's span)
 * and `tracestate`. Every other header arrives as the caller sent it.
 */
function withTrace(headers: [string, string][], trace: TraceContext): [string, string][] {
  const kept = headers.filter(([name]) => {
    const lower = name.toLowerCase();
    return lower !== "traceparent" && lower !== "tracestate";
  });
  kept.push(["traceparent", trace.traceparent]);
  if (trace.tracestate !== undefined) kept.push(["tracestate", trace.tracestate]);
  return kept;
}

function formatArgs(args: unknown[]): string {
  const text = args.map((a) => (typeof a === "string" ? a : Deno.inspect(a, { depth: 4 }))).join(
    " ",
  );
  return text.length > MAX_LOG_MESSAGE ? text.slice(0, MAX_LOG_MESSAGE) : text;
}

function describeDefinitionError(def: unknown): string | undefined {
  if (typeof def !== "object" || def === null) {
    return "the entry module must default-export a bundle definition object";
  }
  const d = def as Record<string, unknown>;
  if (d.services !== undefined && (typeof d.services !== "object" || d.services === null)) {
    return '"services" must be an object';
  }
  for (const [name, impl] of Object.entries((d.services ?? {}) as object)) {
    if (typeof impl !== "object" || impl === null) return `service "${name}" must be an object`;
  }
  if (d.fetch !== undefined && typeof d.fetch !== "function") return '"fetch" must be a function';
  if (d.hooks !== undefined && (typeof d.hooks !== "object" || d.hooks === null)) {
    return '"hooks" must be an object';
  }
  for (const [name, hook] of Object.entries((d.hooks ?? {}) as object)) {
    if (!HOOK_NAMES.includes(name as HookName)) return `unknown hook "${name}"`;
    if (typeof hook !== "function") return `hook "${name}" must be a function`;
  }
  return undefined;
}

/**
 * Starts the runtime on a port. Installs fault reporting first, so even a bundle that throws at
 * import time is reported as such.
 *
 * @param port The tier's transport.
 */
export function startRuntime(port: GuestPort): void {
  // Before any bundle code: the responses it builds from a string are noted (`string_body.ts`).
  trackStringBodies();
  const callStore = new AsyncLocalStorage<number>();
  const inflight = new Map<number, CallScope>();
  const services = new Map<string, ServiceEntry>();
  let definition: BundleDefinition = {};
  let info: WireBundleInfo | undefined;
  let dying = false;
  // Before bundle code runs: the incoming call's trace context becomes the bundle's active one.
  const callTrace = () => {
    const id = callStore.getStore();
    return id === undefined ? undefined : inflight.get(id)?.trace;
  };
  const trace = captureTraceContext(callTrace);
  // A bundle's outgoing requests carry the context it runs in (README, "Traces").
  const platformFetch = globalThis.fetch;
  // …and is bounded by the call's deadline and reported to the engine (README, "Outbound HTTP").
  const bounded = boundFetch(
    (input, init) => trace.fetch(platformFetch, input, init),
    (message) => post(message),
    () => {
      const id = callStore.getStore();
      return id === undefined ? undefined : inflight.get(id)?.signal;
    },
  );
  globalThis.fetch = function fetch(input: RequestInfo | URL, init?: RequestInit) {
    try {
      return bounded(input, init);
    } catch (error) {
      return Promise.reject(error);
    }
  };

  const post = (
    message: GuestMessage,
    transfer?: Transferable[],
    onUndeliverable?: (error: unknown) => void,
  ) => port.post(message, transfer, onUndeliverable);

  function fatal(reason: string, error?: unknown): void {
    if (dying) return;
    dying = true;
    try {
      post(
        error === undefined ? { type: "fatal", reason } : {
          type: "fatal",
          reason,
          error: toWireError(error),
        },
      );
    } finally {
      port.exit(70);
    }
  }

  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    fatal("uncaught exception", (event as ErrorEvent).error ?? (event as ErrorEvent).message);
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    fatal("unhandled promise rejection", (event as PromiseRejectionEvent).reason);
  });
  const realExit = Deno.exit;
  Object.defineProperty(Deno, "exit", {
    value: (code?: number): never => {
      fatal(`Deno.exit(${code ?? 0}) called by the bundle`);
      return realExit(code);
    },
  });

  function log(level: LogLevel, args: unknown[]): void {
    const callId = callStore.getStore();
    const message: GuestMessage = { type: "log", level, message: formatArgs(args) };
    if (callId !== undefined) message.callId = callId;
    const current = trace.current();
    if (current !== undefined) message.traceparent = current.traceparent;
    try {
      post(message);
    } catch {
      // A log record never fails the caller.
    }
  }
  const logger: BundleLogger = {
    debug: (...args) => log("debug", args),
    info: (...args) => log("info", args),
    warn: (...args) => log("warn", args),
    error: (...args) => log("error", args),
  };
  console.debug = logger.debug;
  console.info = logger.info;
  console.log = logger.info;
  console.warn = logger.warn;
  console.error = logger.error;

  // Body streams and WebSockets of fetch calls (docs/architecture.md, "Streams and WebSockets").
  const streams = new GuestStreams(post, (error) => toWireError(error));
  const sockets = new GuestSockets((message) => post(message));

  const broker = makeBroker(post, () => callStore.getStore(), trace.current);
  const events = makeEvents(post, () => callStore.getStore(), trace.current);
  const settings = makeSettings();
  const storage = makeStorage(post, () => callStore.getStore(), trace.current);

  function context(scope: CallScope): BundleContext {
    if (info === undefined) throw new Error("Runtime not initialised");
    const bundle = info;
    return {
      bundle,
      broker: broker.client,
      events: events.client,
      log: logger,
      config: settings.config,
      secrets: settings.secrets,
      kv: storage.kv,
      cache: storage.cache,
      deadline: scope.deadline,
      get signal() {
        return scope.signal;
      },
      ...(scope.trace === undefined ? {} : scope.trace),
    };
  }

  /** Runs `work` in a call scope: its signal aborts at the deadline or on cancel. */
  async function withDeadline<T>(
    id: number,
    deadline: number,
    work: (scope: CallScope) => Promise<T>,
    traced?: TraceContext,
  ): Promise<T> {
    const scope = new CallScope(deadline, traced);
    inflight.set(id, scope);
    try {
      return await callStore.run(id, () => work(scope));
    } finally {
      scope.dispose();
      inflight.delete(id);
    }
  }

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

  async function init(entry: string, bundle: WireBundleInfo): Promise<void> {
    // Frozen and shared by every call's ctx.bundle: a bundle cannot change its own identity.
    info = Object.freeze({ ...bundle });
    let mod: { default?: unknown };
    try {
      // Last step before bundle code runs: the runtime and its port keep the APIs they captured.
      hardenSandbox();
      mod = await import(entry);
    } catch (error) {
      post({ type: "init-failed", error: toWireError(error) });
      return;
    }
    const problem = describeDefinitionError(mod.default);
    if (problem) {
      post({
        type: "init-failed",
        error: { name: "TypeError", message: `Invalid bundle: ${problem}`, source: "runtime" },
      });
      return;
    }
    definition = mod.default as BundleDefinition;
    const summary: Record<string, string[]> = {};
    for (const [name, target] of Object.entries(definition.services ?? {})) {
      const methods = collectMethods(target);
      services.set(name, { target, methods });
      summary[name] = [...methods.keys()];
    }
    const hooks = HOOK_NAMES.filter((h) => typeof definition.hooks?.[h] === "function");
    post({
      type: "ready",
      services: summary,
      fetch: typeof definition.fetch === "function",
      hooks,
    });
    // Run the hook path once (deadline, call tracking, context): a warm instance's first hook is a
    // hand-out's onRefresh, which should not pay for compiling it. After `ready`, not before: it
    // runs while the engine records the release (a start waited about 0.8 ms for it), and it
    // ends in this turn's microtasks, before the first message from the engine is handled.
    // Host message ids start at 1, so id 0 never collides.
    void withDeadline(0, Date.now() + 1_000, (scope) => {
      context(scope);
      return Promise.resolve();
    });
  }

  async function call(msg: Extract<HostMessage, { type: "call" }>): Promise<void> {
    const entry = services.get(msg.service);
    const method = entry?.methods.get(msg.method);
    if (!entry || !method) {
      replyError(msg.id, {
        name: "NotFoundError",
        message: entry
          ? `Service ${msg.service} has no method "${msg.method}"`
          : `Bundle does not implement service ${msg.service}`,
        code: "NOT_FOUND",
        source: "runtime",
      });
      return;
    }
    try {
      const traced = traceOf(msg);
      const value = await withDeadline(msg.id, msg.deadline, async (scope) => {
        const ctx = context(scope);
        return await trace.run(traced, () => method.call(entry.target, msg.input, ctx));
      }, traced);
      if (value instanceof ReadableStream) await replyStream(msg.id, value);
      else replyValue(msg.id, value);
    } catch (error) {
      replyError(msg.id, toWireError(error));
    }
  }

  /** A method's stream result: its first bytes in the reply, the rest as a body stream. */
  async function replyStream(id: number, value: ReadableStream<unknown>): Promise<void> {
    const { body, contentType } = await encodeResultStream(value);
    const start = await startBody(body, MAX_RESPONSE_BYTES);
    const bytes = start.bytes ?? new Uint8Array(0);
    post({ type: "reply", id, ok: true, value: bytes, stream: contentType }, [bytes.buffer]);
    if (start.rest) {
      void streams.sendBody(id, start.rest, bytes.byteLength, MAX_RESPONSE_BYTES, () => {});
    } else post({ type: "stream-end", stream: id });
  }

  /** The request a fetch handler gets: a streamed body and an upgrade are the runtime's. */
  function requestOf(id: number, wire: WireRequest, scope: CallScope, traced?: TraceContext) {
    const headers = traced === undefined ? wire.headers : withTrace(wire.headers, traced);
    if (wire.upgrade) headers.push(["connection", "Upgrade"], ["upgrade", "websocket"]);
    const request = new CallRequest(wire.url, {
      method: wire.method,
      headers,
      body: wire.stream ? streams.requestBody(id) : wire.body,
    }, scope);
    if (wire.upgrade) sockets.allow(request, id);
    return request;
  }

  async function fetchRequest(
    id: number,
    wire: WireRequest,
    deadline: number,
    traced?: TraceContext,
  ): Promise<void> {
    const handler = definition.fetch;
    if (!handler) {
      replyError(id, {
        name: "NotFoundError",
        message: "Bundle has no fetch handler",
        code: "NOT_FOUND",
        source: "runtime",
      });
      return;
    }
    let scope: CallScope | undefined;
    try {
      const head = await withDeadline(id, deadline, async (s) => {
        scope = s;
        const request = requestOf(id, wire, s, traced);
        const ctx = context(s);
        const response = await trace.run(traced, () => handler(request, ctx));
        if (!(response instanceof Response)) {
          throw new TypeError("fetch handler must return a Response");
        }
        return await readResponse(response, sockets.accepted(response) !== undefined);
      }, traced);
      const { start } = head;
      const body = start.bytes;
      post(responseMessage(id, head), body ? [body.buffer] : undefined);
      if (start.rest) {
        void streams.sendBody(
          id,
          start.rest,
          body?.byteLength ?? 0,
          MAX_RESPONSE_BYTES,
          (why) => scope?.abort(new DOMException(why, "AbortError")),
        );
      }
    } catch (error) {
      replyError(id, toWireError(error));
    }
  }

  async function hook(msg: Extract<HostMessage, { type: "hook" }>): Promise<void> {
    if (msg.instanceId !== undefined && info) {
      info = Object.freeze({ ...info, instanceId: msg.instanceId });
    }
    const fn = (definition.hooks as BundleHooks | undefined)?.[msg.hook];
    try {
      if (fn) {
        await withDeadline(msg.id, msg.deadline, async (scope) => {
          await fn.call(definition.hooks, context(scope));
        });
      }
      replyValue(msg.id, null);
    } catch (error) {
      replyError(msg.id, toWireError(error));
    }
  }

  port.listen((msg) => {
    switch (msg.type) {
      case "init":
        settings.apply(msg.settings);
        void init(msg.entry, msg.bundle);
        break;
      case "call":
        if (msg.kind === "fetch") {
          void fetchRequest(msg.id, msg.input as WireRequest, msg.deadline, traceOf(msg));
        } else void call(msg);
        break;
      case "hook":
        void hook(msg);
        break;
      case "settings":
        settings.apply(msg.settings);
        if (msg.refresh) {
          void hook({ type: "hook", id: msg.id, hook: "onRefresh", deadline: msg.deadline });
        } else replyValue(msg.id, null);
        break;
      case "cancel":
        inflight.get(msg.id)?.abort(new DOMException("Call cancelled by the caller", "AbortError"));
        break;
      case "ping": {
        const { rss, heapUsed, heapTotal } = Deno.memoryUsage();
        post({ type: "pong", id: msg.id, memory: { rss, heapUsed, heapTotal } });
        break;
      }
      case "broker-reply":
        broker.settle(msg);
        break;
      case "publish-reply":
        events.settle(msg);
        break;
      case "storage-reply":
        storage.settle(msg);
        break;
      case "stream-chunk":
      case "stream-end":
      case "stream-credit":
      case "stream-cancel":
        streams.handle(msg);
        break;
      case "socket-open":
      case "socket-message":
      case "socket-closed":
        sockets.receive(msg);
        break;
    }
  });
}
