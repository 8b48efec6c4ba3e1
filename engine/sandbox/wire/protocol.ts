/**
 * The message protocol between the engine (host) and the runtime inside a sandbox (guest). Both
 * isolation tiers speak it: Web Workers by structured clone, child processes by framed
 * `node:v8` serialization (the same clone algorithm), so values cross the boundary identically.
 *
 * Host messages are trusted. Guest messages are not: a bundle shares its realm with the runtime and
 * can post anything, so {@linkcode parseGuestMessage} validates every field and bounds every string.
 *
 * @module
 */
import type { RouteSpec } from "../../sdk/types.ts";
import { MAX_EVENT_PAYLOAD_BYTES, TOPIC_PATTERN } from "../../base/topic.ts";
import { isTraceparent, isTracestate } from "../../base/trace_context.ts";
import {
  type OutboundReport,
  parseOutboundReport,
  parseStorageRequest,
  type StorageRequest,
} from "./storage.ts";

export type * from "./storage.ts";
import {
  parseStreamMessage,
  STREAM_GUEST_TYPES,
  type StreamGuestMessage,
  type StreamHostMessage,
  TEXT_BODY_BYTES,
} from "./streams.ts";

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

/** Longest error message kept from a guest. */
export const MAX_ERROR_MESSAGE = 2048;
/** Longest log record kept from a guest. */
export const MAX_LOG_MESSAGE = 16 * 1024;

const HOOKS = new Set<string>(["onStart", "onStop", "onRefresh", "onRetire"]);
const LEVELS = new Set<string>(["debug", "info", "warn", "error"]);
const NAME = /^[A-Za-z_$][A-Za-z0-9_$.]{0,127}$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const str = (v: unknown, max: number): string | undefined =>
  typeof v === "string" ? (v.length > max ? `${v.slice(0, max)}…` : v) : undefined;

/**
 * Bounds and cleans an error that came from a guest (or is about to be sent by one).
 *
 * @param value Anything: an `Error`, a wire error, or a thrown primitive.
 * @param source Who raised it.
 * @returns A {@linkcode WireError} with bounded fields; never throws, whatever was thrown.
 */
export function toWireError(value: unknown, source: WireError["source"] = "bundle"): WireError {
  try {
    return describeError(value, source);
  } catch {
    // A revoked proxy, a throwing `toString` or a tampered builtin: a call that fails this way
    // must still get an answer, and a fault report must still reach the engine.
    return { name: "Error", message: "The thrown value cannot be described", source };
  }
}

function describeError(value: unknown, source: WireError["source"]): WireError {
  let name = "Error";
  let message = "";
  let code: string | undefined;
  let at: string | undefined;
  if (isObj(value) || value instanceof Error) {
    const v = value as Obj;
    // Each field on its own: a hostile getter loses only its own field.
    const read = (key: string): unknown => {
      try {
        return v[key];
      } catch {
        return undefined;
      }
    };
    const rawName = read("name");
    message = str(read("message"), MAX_ERROR_MESSAGE) ?? "";
    const rawCode = read("code");
    code = typeof rawCode === "string" && rawCode.length <= 64 ? rawCode : undefined;
    if (typeof rawName === "string" && NAME.test(rawName)) name = rawName;
    at = framesOf(read("at")) ?? framesOf(read("stack"));
  } else {
    message = str(String(value), MAX_ERROR_MESSAGE) ?? "";
  }
  const error: WireError = code === undefined
    ? { name, message, source }
    : { name, message, code, source };
  if (at !== undefined) error.at = at;
  return error;
}

/** Most stack frames kept in {@linkcode WireError.at}, and lines of a stack read for them. */
const MAX_FRAMES = 6;
const MAX_STACK_LINES = 64;
const FILE_FRAME = /file:\/\/\/[^\s()]{1,1024}:\d{1,9}:\d{1,9}/;
const DATA_FRAME = /^data::\d{1,9}:\d{1,9}$/;

/** A stack line's location in a `data:` module (an inlined entry) as `data::line:col`. */
function dataFrame(line: string): string | undefined {
  const start = line.indexOf("data:");
  if (start < 0) return undefined;
  const end = line.endsWith(")") ? line.length - 1 : line.length;
  const colon = line.lastIndexOf(":", end - 1);
  const lineColon = line.lastIndexOf(":", colon - 1);
  if (lineColon <= start) return undefined;
  const frame = `data::${line.slice(lineColon + 1, colon)}:${line.slice(colon + 1, end)}`;
  return DATA_FRAME.test(frame) ? frame : undefined;
}

/**
 * The first module-file locations of a stack (or an `at` already taken from one), bounded:
 * `file:///…:line:col` or `data::line:col`, separated by spaces.
 */
function framesOf(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const frames: string[] = [];
  let from = 0;
  for (let n = 0; n < MAX_STACK_LINES && frames.length < MAX_FRAMES && from < value.length; n++) {
    let to = value.indexOf("\n", from);
    if (to < 0) to = value.length;
    const line = value.slice(from, to);
    from = to + 1;
    for (const part of line.includes(" ") ? line.split(" ") : [line]) {
      const frame = part.startsWith("data:") || part.startsWith("(data:")
        ? dataFrame(part)
        : part.length <= 2048
        ? FILE_FRAME.exec(part)?.[0]
        : undefined;
      if (frame !== undefined && frames.length < MAX_FRAMES) frames.push(frame);
    }
  }
  return frames.length === 0 ? undefined : frames.join(" ");
}

/** Whether a text body is at most {@linkcode TEXT_BODY_BYTES} in UTF-8 (a unit is 1–3 bytes). */
function textFits(text: string): boolean {
  if (text.length > TEXT_BODY_BYTES) return false;
  if (text.length * 3 <= TEXT_BODY_BYTES) return true;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A surrogate pair is 4 bytes for 2 units; a lone surrogate becomes U+FFFD, 3 bytes.
    bytes += unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 1;
        i++;
      }
    }
  }
  return bytes <= TEXT_BODY_BYTES;
}

function wireResponse(v: unknown): WireResponse | undefined {
  if (!isObj(v)) return undefined;
  const status = v.status;
  if (!Number.isInteger(status) || (status as number) < 200 || (status as number) > 599) {
    return undefined;
  }
  if (!Array.isArray(v.headers) || v.headers.length > 256) return undefined;
  const headers: [string, string][] = [];
  for (const pair of v.headers) {
    if (!Array.isArray(pair) || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
      return undefined;
    }
    headers.push([pair[0], pair[1]]);
  }
  const body = v.body;
  if (body !== null && !(body instanceof Uint8Array)) return undefined;
  const response: WireResponse = {
    status: status as number,
    headers,
    body: body as Uint8Array<ArrayBuffer> | null,
  };
  if (v.stream === true) response.stream = true;
  if (v.upgrade === true) response.upgrade = true;
  if (v.text !== undefined) {
    // Only a whole body travels as text.
    if (typeof v.text !== "string" || body !== null || response.stream || response.upgrade) {
      return undefined;
    }
    // The guest runtime keeps to this bound; a hostile guest's message is refused here.
    if (!textFits(v.text)) return undefined;
    response.text = v.text;
  }
  return response;
}

/**
 * Validates a message from a guest. Anything malformed yields `undefined`: the caller counts it as
 * a protocol violation and drops it.
 *
 * @param raw The received value.
 * @returns The typed message, or `undefined`.
 */
export function parseGuestMessage(raw: unknown): GuestMessage | undefined {
  if (!isObj(raw)) return undefined;
  switch (raw.type) {
    case "ready": {
      if (!isObj(raw.services) || typeof raw.fetch !== "boolean" || !Array.isArray(raw.hooks)) {
        return undefined;
      }
      const services: Record<string, string[]> = Object.create(null);
      for (const [name, methods] of Object.entries(raw.services)) {
        if (!NAME.test(name) || !Array.isArray(methods) || methods.length > 256) return undefined;
        if (!methods.every((m) => typeof m === "string" && NAME.test(m))) return undefined;
        services[name] = methods as string[];
      }
      const hooks = raw.hooks.filter((h): h is HookName => typeof h === "string" && HOOKS.has(h));
      return { type: "ready", services, fetch: raw.fetch, hooks };
    }
    case "init-failed":
      return { type: "init-failed", error: toWireError(raw.error) };
    case "reply":
      if (!isId(raw.id) || typeof raw.ok !== "boolean") return undefined;
      if (raw.ok) {
        if (typeof raw.stream !== "string") {
          return { type: "reply", id: raw.id, ok: true, value: raw.value };
        }
        if (!(raw.value instanceof Uint8Array) || raw.stream.length > 128) return undefined;
        return { type: "reply", id: raw.id, ok: true, value: raw.value, stream: raw.stream };
      }
      return {
        type: "reply",
        id: raw.id,
        ok: false,
        error: toWireError(
          raw.error,
          isObj(raw.error) && raw.error.source === "runtime" ? "runtime" : "bundle",
        ),
      };
    case "response": {
      const response = wireResponse(raw.response);
      if (!isId(raw.id) || !response) return undefined;
      return { type: "response", id: raw.id, response };
    }
    case "pong": {
      if (!isId(raw.id) || !isObj(raw.memory)) return undefined;
      const n = (v: unknown) => (Number.isFinite(v) && (v as number) >= 0 ? (v as number) : 0);
      return {
        type: "pong",
        id: raw.id,
        memory: {
          rss: n(raw.memory.rss),
          heapUsed: n(raw.memory.heapUsed),
          heapTotal: n(raw.memory.heapTotal),
        },
      };
    }
    case "log": {
      const message = str(raw.message, MAX_LOG_MESSAGE);
      if (typeof raw.level !== "string" || !LEVELS.has(raw.level) || message === undefined) {
        return undefined;
      }
      const msg: GuestMessage = { type: "log", level: raw.level as LogLevel, message };
      if (isId(raw.callId)) msg.callId = raw.callId;
      if (isTraceparent(raw.traceparent)) msg.traceparent = raw.traceparent;
      if (Number.isSafeInteger(raw.dropped) && (raw.dropped as number) > 0) {
        msg.dropped = raw.dropped as number;
      }
      return msg;
    }
    case "broker-call": {
      if (!isId(raw.id) || typeof raw.service !== "string" || typeof raw.method !== "string") {
        return undefined;
      }
      if (raw.service.length > 256 || raw.method.length > 128) return undefined;
      const msg: GuestMessage = {
        type: "broker-call",
        id: raw.id,
        service: raw.service,
        method: raw.method,
        input: raw.input,
      };
      if (isId(raw.callId)) msg.callId = raw.callId;
      if (isObj(raw.route)) msg.route = raw.route as RouteSpec;
      if (Number.isFinite(raw.timeoutMs) && (raw.timeoutMs as number) > 0) {
        msg.timeoutMs = raw.timeoutMs as number;
      }
      if (isTraceparent(raw.traceparent)) {
        msg.traceparent = raw.traceparent;
        if (isTracestate(raw.tracestate)) msg.tracestate = raw.tracestate;
      }
      return msg;
    }
    case "publish": {
      // The payload travels as JSON text, so its size is bounded before anything parses it.
      if (!isId(raw.id) || typeof raw.topic !== "string" || !TOPIC_PATTERN.test(raw.topic)) {
        return undefined;
      }
      if (typeof raw.data !== "string" || raw.data.length > MAX_EVENT_PAYLOAD_BYTES) {
        return undefined;
      }
      const msg: GuestMessage = { type: "publish", id: raw.id, topic: raw.topic, data: raw.data };
      if (isId(raw.callId)) msg.callId = raw.callId;
      if (isTraceparent(raw.traceparent)) {
        msg.traceparent = raw.traceparent;
        if (isTracestate(raw.tracestate)) msg.tracestate = raw.tracestate;
      }
      return msg;
    }
    case "kv":
    case "cache":
      return parseStorageRequest(raw);
    case "outbound":
      return parseOutboundReport(raw);
    case "fatal": {
      const reason = str(raw.reason, 512);
      if (reason === undefined) return undefined;
      return raw.error === undefined
        ? { type: "fatal", reason }
        : { type: "fatal", reason, error: toWireError(raw.error) };
    }
    default:
      return typeof raw.type === "string" && STREAM_GUEST_TYPES.has(raw.type)
        ? parseStreamMessage(raw, (error) => toWireError(error))
        : undefined;
  }
}
