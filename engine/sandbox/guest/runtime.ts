/**
 * The guest runtime: runs inside every sandbox (Web Worker or child process), loads the bundle and
 * answers the engine's messages. It is trusted engine code, but it shares its realm with the bundle,
 * so the engine never relies on it for isolation: it only makes well-behaved bundles convenient.
 *
 * The bundle's entry is loaded with a non-literal `import()`, so Deno checks the whole bundle graph
 * against the sandbox's own permissions (not the engine's): `bundle_loader.ts`.
 *
 * @module
 */
import type { GuestMessage, HostMessage, WireBundleInfo } from "../wire/protocol.ts";
import { toWireError } from "../wire/wire_error.ts";
import type { BundleContext, BundleDefinition, BundleHooks } from "../../sdk/types.ts";
import type { ServiceEntry } from "./bundle_definition.ts";
import { loadBundle } from "./bundle_loader.ts";
import { installLogger } from "./bundle_logger.ts";
import { makeBroker } from "./broker_client.ts";
import type { CallScope } from "./call_scope.ts";
import { callsInFlight } from "./calls_in_flight.ts";
import { makeEvents } from "./events_client.ts";
import { installFaultReport } from "./fault_report.ts";
import type { CallRuntime } from "./call_runtime.ts";
import { makeFetchCall } from "./fetch_call.ts";
import { makeReplies } from "./replies.ts";
import { makeServiceCall } from "./service_call.ts";
import { makeSettings } from "./settings_client.ts";
import { makeStorage } from "./storage_client.ts";
import { boundFetch } from "./outbound_fetch.ts";
import { captureTraceContext } from "./trace_context.ts";
import { GuestStreams } from "./guest_streams.ts";
import { trackStringBodies } from "./string_body.ts";
import { GuestSockets } from "./guest_socket.ts";

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

/**
 * Starts the runtime on a port. Installs fault reporting first, so even a bundle that throws at
 * import time is reported as such.
 *
 * This is the runtime's composition root: the state every part shares (calls in flight, the loaded
 * definition, the bundle's identity) lives in its closure, where bundle code cannot reach it
 * through a prototype, and the parts are installed in the order the sandbox depends on. The parts
 * themselves are modules of their own (`fault_report.ts`, `bundle_logger.ts`, `calls_in_flight.ts`,
 * `replies.ts`, `service_call.ts`, `fetch_call.ts`, the clients).
 *
 * @param port The tier's transport.
 */
export function startRuntime(port: GuestPort): void {
  // Before any bundle code: the responses it builds from a string are noted (`string_body.ts`).
  trackStringBodies();
  const calls = callsInFlight();
  const services = new Map<string, ServiceEntry>();
  let definition: BundleDefinition = {};
  let info: WireBundleInfo | undefined;
  // Before bundle code runs: the incoming call's trace context becomes the bundle's active one.
  const trace = captureTraceContext(() => calls.current()?.trace);
  // A bundle's outgoing requests carry the context it runs in (README, "Traces").
  const platformFetch = globalThis.fetch;
  // …and is bounded by the call's deadline and reported to the engine (README, "Outbound HTTP").
  const bounded = boundFetch(
    (input, init) => trace.fetch(platformFetch, input, init),
    (message) => post(message),
    () => calls.current()?.signal,
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

  installFaultReport(post, (code) => port.exit(code));

  const logger = installLogger({ post, callId: calls.currentId, trace: () => trace.current() });

  // Body streams and WebSockets of fetch calls (docs/architecture.md, "Streams and WebSockets").
  const streams = new GuestStreams(post, (error) => toWireError(error));
  const sockets = new GuestSockets((message) => post(message));

  const broker = makeBroker(post, calls.currentId, trace.current);
  const events = makeEvents(post, calls.currentId, trace.current);
  const settings = makeSettings();
  const storage = makeStorage(post, calls.currentId, trace.current);
  const { replyValue, replyError } = makeReplies(post);
  const { withDeadline } = calls;

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

  async function init(entry: string, bundle: WireBundleInfo): Promise<void> {
    // Frozen and shared by every call's ctx.bundle: a bundle cannot change its own identity.
    info = Object.freeze({ ...bundle });
    const loaded = await loadBundle(entry, post, services);
    if (loaded === undefined) return;
    definition = loaded;
    // Run the hook path once (deadline, call tracking, context): a warm instance's first hook is a
    // hand-out's onRefresh, which should not pay for compiling it. After `ready`, not before: it
    // runs while the engine records the release (a start waited about 0.8 ms for it), and it
    // ends in this turn's microtasks, before the first message from the engine is handled.
    // Host message ids start at 1, so id 0 never collides.
    // A failed warm-up only costs the first hook its compile, as in `warm_up.ts`.
    withDeadline(0, Date.now() + 1_000, (scope) => {
      context(scope);
      return Promise.resolve();
    }).catch(() => {});
  }

  const parts: CallRuntime = { post, replyError, withDeadline, context, trace, streams };
  const call = makeServiceCall({ ...parts, services, replyValue });
  const fetchRequest = makeFetchCall({ ...parts, handler: () => definition.fetch, sockets });

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
          void fetchRequest(msg);
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
        calls.abort(msg.id, new DOMException("Call cancelled by the caller", "AbortError"));
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
