/**
 * The message protocol between the engine (host) and the runtime inside a sandbox (guest). Both
 * isolation tiers speak it: Web Workers by structured clone, child processes by framed
 * `node:v8` serialization (the same clone algorithm), so values cross the boundary identically.
 *
 * Host messages are trusted. Guest messages are not: a bundle shares its realm with the runtime and
 * can post anything, so `parseGuestMessage` (`guest_message.ts`) validates every field and bounds
 * every string.
 *
 * @module
 */
import type { RouteSpec } from "../../sdk/types.ts";
import type { OutboundReport, StorageRequest } from "./storage.ts";
import type { StreamGuestMessage, StreamHostMessage } from "./streams.ts";

export type * from "./storage.ts";

/** Hooks the engine can run inside an instance. */
export type HookName = "onStart" | "onStop" | "onRefresh" | "onRetire";
/** Log levels. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** An error as it crosses the boundary: no stack, no engine internals. */
export interface WireError {
  /** Error name (e.g. `"TypeError"`). */
  name: string;
  /** Bounded message. */
  message: string;
  /** Application code, when the thrower set one. */
  code?: string;
  /** `"bundle"` when the bundle's code threw, `"runtime"` when the runtime refused the call. */
  source: "bundle" | "runtime";
  /**
   * Where it was raised: the first module-file frames of its stack (`file:///…:line:col`, or
   * `data::line:col` for an inlined entry module), separated by spaces, when it had any.
   */
  at?: string;
}

/** An HTTP request as data. */
export interface WireRequest {
  /** Method. */
  method: string;
  /** Absolute URL. */
  url: string;
  /** Header pairs. */
  headers: [string, string][];
  /** Body bytes, or null. */
  body: Uint8Array<ArrayBuffer> | null;
  /** The body follows as `stream-chunk` messages of this call (streams.ts); `body` is null. */
  stream?: boolean;
  /** A WebSocket upgrade request: the bundle may accept it with `Deno.upgradeWebSocket`. */
  upgrade?: boolean;
}

/** An HTTP response as data. */
export interface WireResponse {
  /** Status code. */
  status: number;
  /** Header pairs. */
  headers: [string, string][];
  /** Body bytes, or null. */
  body: Uint8Array<ArrayBuffer> | null;
  /**
   * The whole body as text, when it is small UTF-8 and a `content-type` is among the headers;
   * `body` is then null. A string crosses the boundary and becomes a response body with one copy
   * fewer than bytes do.
   */
  text?: string;
  /** More of the body follows `body` as `stream-chunk` messages of this call (streams.ts). */
  stream?: boolean;
  /** The bundle accepted a WebSocket upgrade; the socket's messages follow (streams.ts). */
  upgrade?: boolean;
}

/** Identity sent with `init`. */
export interface WireBundleInfo {
  /** Bundle id. */
  id: string;
  /** Version. */
  version: string;
  /** Instance id. */
  instanceId: string;
  /** Data folder. */
  dataDir: string;
}

/** A bundle's settings as its sandbox gets them (README, "Config" and "Secrets"). */
export interface WireSettings {
  /** The config: the manifest's defaults with the operator's overrides merged in. */
  config: Record<string, unknown>;
  /** Every secret name the manifest declares → its value, or `null` when none is set. */
  secrets: Record<string, string | null>;
}

/** Engine → runtime. */
export type HostMessage =
  | {
    type: "init";
    entry: string;
    bundle: WireBundleInfo;
    /** The engine's value cap per message (set by the transport), for clear refusals. */
    maxMessageValues?: number;
    /**
     * Largest JSON frame payload the engine reads from a process-tier child, bytes (set by the
     * process transport; see `framing.ts`). Absent: the child sends only `node:v8` frames.
     */
    jsonMaxBytes?: number;
    /** `ctx.config` and `ctx.secrets` until the next `settings` message. */
    settings?: WireSettings;
  }
  | {
    /** New settings (a config PUT, a secret set or deleted); `refresh` runs `onRefresh` after. */
    type: "settings";
    id: number;
    settings: WireSettings;
    deadline: number;
    refresh: boolean;
  }
  | {
    /** A call: a service method, or (`kind: "fetch"`) the bundle's HTTP handler. */
    type: "call";
    id: number;
    kind?: "fetch";
    service: string;
    method: string;
    /** The input; for a fetch, the request as data ({@linkcode WireRequest}). */
    input: unknown;
    deadline: number;
    traceparent?: string;
    /** The call's `tracestate`, normalised; only beside a `traceparent`. */
    tracestate?: string;
  }
  | { type: "hook"; id: number; hook: HookName; deadline: number; instanceId?: string }
  | { type: "cancel"; id: number }
  | { type: "ping"; id: number }
  | { type: "broker-reply"; id: number; ok: true; value: unknown }
  | { type: "broker-reply"; id: number; ok: false; error: WireError }
  | { type: "publish-reply"; id: number; ok: true; value: unknown }
  | { type: "publish-reply"; id: number; ok: false; error: WireError }
  /** The answer to a `kv` or `cache` request (storage.ts). */
  | { type: "storage-reply"; id: number; ok: true; value: unknown }
  | { type: "storage-reply"; id: number; ok: false; error: WireError }
  | StreamHostMessage;

/** Memory figures reported by an instance. */
export interface WireMemory {
  /** Resident set size of the instance's process, bytes (shared by all workers of a process). */
  rss: number;
  /** V8 heap in use by this isolate, bytes. */
  heapUsed: number;
  /** V8 heap reserved by this isolate, bytes. */
  heapTotal: number;
}

/** Runtime → engine. */
export type GuestMessage =
  | { type: "ready"; services: Record<string, string[]>; fetch: boolean; hooks: HookName[] }
  | { type: "init-failed"; error: WireError }
  | {
    type: "reply";
    id: number;
    ok: true;
    value: unknown;
    /**
     * The method returned a stream: `value` holds its first bytes, the rest follows as
     * `stream-chunk` messages of this call; this is its content type.
     */
    stream?: string;
  }
  | { type: "reply"; id: number; ok: false; error: WireError }
  | { type: "response"; id: number; response: WireResponse }
  | { type: "pong"; id: number; memory: WireMemory }
  | {
    type: "log";
    level: LogLevel;
    message: string;
    callId?: number;
    traceparent?: string;
    /** Set on the sandbox's own note of records its log gate dropped: how many. */
    dropped?: number;
  }
  | {
    type: "broker-call";
    id: number;
    callId?: number;
    service: string;
    method: string;
    input: unknown;
    route?: RouteSpec;
    timeoutMs?: number;
    /** The guest's active W3C trace context (e.g. a span the bundle made); the engine checks it. */
    traceparent?: string;
    /** The `tracestate` that goes with it. */
    tracestate?: string;
  }
  | {
    /** `ctx.events.publish`. */
    type: "publish";
    id: number;
    callId?: number;
    topic: string;
    /** The payload as JSON text (bounded here; parsed and measured in bytes by the engine). */
    data: string;
    /** The guest's active W3C trace context; the engine checks it like a broker call's. */
    traceparent?: string;
    /** The `tracestate` that goes with it. */
    tracestate?: string;
  }
  | { type: "fatal"; reason: string; error?: WireError }
  /** `ctx.kv` and `ctx.cache` (storage.ts). */
  | StorageRequest
  /** An outbound `fetch` the bundle made (storage.ts). */
  | OutboundReport
  | StreamGuestMessage;

/** Longest log record kept from a guest. */
export const MAX_LOG_MESSAGE = 16 * 1024;
