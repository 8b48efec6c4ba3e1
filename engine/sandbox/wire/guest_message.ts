/**
 * Validation of what a guest sends. A bundle shares its realm with the runtime and can post
 * anything, so every field is checked and every string bounded before the engine reads it.
 *
 * @module
 */
import { MAX_EVENT_PAYLOAD_BYTES, TOPIC_PATTERN } from "../../base/topic.ts";
import { isTraceparent, isTracestate } from "../../base/trace_context.ts";
import type { RouteSpec } from "../../sdk/types.ts";
import { boundedString, DOTTED_NAME, isId, isObj, type Obj } from "./guards.ts";
import {
  type GuestMessage,
  type HookName,
  type LogLevel,
  MAX_LOG_MESSAGE,
  type WireResponse,
} from "./protocol.ts";
import { parseOutboundReport, parseStorageRequest } from "./storage.ts";
import { parseStreamMessage, STREAM_GUEST_TYPES, TEXT_BODY_BYTES } from "./streams.ts";
import { toWireError } from "./wire_error.ts";

const HOOKS = new Set<string>(["onStart", "onStop", "onRefresh", "onRetire"]);
const LEVELS = new Set<string>(["debug", "info", "warn", "error"]);

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

function parseReady(raw: Obj): GuestMessage | undefined {
  if (!isObj(raw.services) || typeof raw.fetch !== "boolean" || !Array.isArray(raw.hooks)) {
    return undefined;
  }
  const services: Record<string, string[]> = Object.create(null);
  for (const [name, methods] of Object.entries(raw.services)) {
    if (!DOTTED_NAME.test(name) || !Array.isArray(methods) || methods.length > 256) {
      return undefined;
    }
    if (!methods.every((m) => typeof m === "string" && DOTTED_NAME.test(m))) return undefined;
    services[name] = methods as string[];
  }
  const hooks = raw.hooks.filter((h): h is HookName => typeof h === "string" && HOOKS.has(h));
  return { type: "ready", services, fetch: raw.fetch, hooks };
}

function parseReply(raw: Obj): GuestMessage | undefined {
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
}

function parsePong(raw: Obj): GuestMessage | undefined {
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

function parseLog(raw: Obj): GuestMessage | undefined {
  const message = boundedString(raw.message, MAX_LOG_MESSAGE);
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

function parseBrokerCall(raw: Obj): GuestMessage | undefined {
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

function parsePublish(raw: Obj): GuestMessage | undefined {
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

function parseFatal(raw: Obj): GuestMessage | undefined {
  const reason = boundedString(raw.reason, 512);
  if (reason === undefined) return undefined;
  return raw.error === undefined
    ? { type: "fatal", reason }
    : { type: "fatal", reason, error: toWireError(raw.error) };
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
    case "reply":
      return parseReply(raw);
    case "response": {
      const response = wireResponse(raw.response);
      if (!isId(raw.id) || !response) return undefined;
      return { type: "response", id: raw.id, response };
    }
    case "ready":
      return parseReady(raw);
    case "init-failed":
      return { type: "init-failed", error: toWireError(raw.error) };
    case "pong":
      return parsePong(raw);
    case "log":
      return parseLog(raw);
    case "broker-call":
      return parseBrokerCall(raw);
    case "publish":
      return parsePublish(raw);
    case "kv":
    case "cache":
      return parseStorageRequest(raw);
    case "outbound":
      return parseOutboundReport(raw);
    case "fatal":
      return parseFatal(raw);
    default:
      return typeof raw.type === "string" && STREAM_GUEST_TYPES.has(raw.type)
        ? parseStreamMessage(raw, (error) => toWireError(error))
        : undefined;
  }
}
