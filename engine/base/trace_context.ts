/**
 * W3C Trace Context (`traceparent`, `tracestate`), parsed and written by the engine itself.
 *
 * The engine reads a request's trace context at its edge and carries it with the call into the
 * sandbox and on to every call the bundle makes. It parses the headers here rather than trusting
 * Deno's HTTP instrumentation, which matches header names case-sensitively, takes the first of two
 * `traceparent` headers, and drops `tracestate` and the random-trace-id flag (README, "Traces").
 *
 * Rules (W3C Trace Context, level 2 for the flags):
 * - `traceparent`: version `00` is exactly 55 characters; a higher version (not `ff`) is read from
 *   its first 55 characters when they are followed by nothing or `-`. Hex is lowercase, neither id
 *   is all zeros, surrounding spaces and tabs are ignored. Anything else is no context, and a
 *   trace that continues is written back as version `00` with only the sampled and random bits.
 * - `tracestate` is read only beside a valid `traceparent`: repeated headers are joined in order,
 *   empty members are skipped, at most 32 members, keys and values per the grammar; one bad member
 *   drops the whole header. Duplicate keys keep the first. Written without spaces, at most
 *   {@linkcode MAX_TRACESTATE} characters (members over 128 characters go first, then from the end).
 *
 * @module
 */

/** A call's trace context, as the engine carries it. */
export interface TraceContext {
  /** A version-`00` `traceparent`, e.g. `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`. */
  traceparent: string;
  /** The vendors' `tracestate`, normalised (`k=v,k2=v2`); absent when empty or invalid. */
  tracestate?: string;
}

/** Longest `tracestate` the engine propagates (the W3C minimum every vendor should carry). */
export const MAX_TRACESTATE = 512;
/** Longest raw `tracestate` the engine reads (32 members of the longest legal size, plus spacing). */
const MAX_RAW_TRACESTATE = 32 * 514 + 1024;
const MAX_MEMBERS = 32;
const LONG_MEMBER = 128;

/** `traceparent` flags the engine propagates: sampled (`01`) and random trace id (`02`). */
const KNOWN_FLAGS = 0x03;
/** The sampled flag. */
export const SAMPLED = 0x01;
/** The level-2 random-trace-id flag. */
export const RANDOM = 0x02;

const VERSION_00 = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
const FUTURE = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
const KEY = /^[a-z0-9][a-z0-9_\-*/@]{0,255}$/;
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * Whether a value is a canonical version-`00` `traceparent` (what the engine writes and carries).
 *
 * @param value Anything.
 * @returns `true` for a well-formed version-`00` value.
 */
export function isTraceparent(value: unknown): value is string {
  return typeof value === "string" && value.length === 55 && VERSION_00.test(value);
}

/**
 * Reads a `traceparent` header value.
 *
 * @param raw The header's value (`Headers.get` joins repeated headers with `", "`, which is
 *   invalid, so two headers are no context).
 * @returns The value as version `00` with only the known flags, or `undefined` when invalid.
 */
export function parseTraceparent(raw: string | null | undefined): string | undefined {
  if (raw === null || raw === undefined || raw.length > 4096) return undefined;
  const value = raw.replace(/^[ \t]+|[ \t]+$/g, "");
  if (value.length < 55) return undefined;
  if (value.startsWith("00")) {
    if (value.length !== 55 || !VERSION_00.test(value)) return undefined;
  } else if (value.length > 55 && value[55] !== "-") return undefined;
  const head = value.slice(0, 55);
  if (!FUTURE.test(head)) return undefined;
  const flags = parseInt(head.slice(53), 16) & KNOWN_FLAGS;
  return `00-${head.slice(3, 52)}-0${flags}`;
}

/**
 * Reads a `tracestate` header value.
 *
 * @param raw The header's value (repeated headers joined with commas, as `Headers.get` does).
 * @returns The normalised list, or `undefined` when empty or invalid.
 */
export function parseTracestate(raw: string | null | undefined): string | undefined {
  if (raw === null || raw === undefined || raw.length > MAX_RAW_TRACESTATE) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const part of raw.split(",")) {
    const member = part.replace(/^[ \t]+|[ \t]+$/g, "");
    if (member === "") continue;
    const eq = member.indexOf("=");
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    if (!KEY.test(key) || !VALUE.test(member.slice(eq + 1))) return undefined;
    if (keys.has(key)) continue;
    keys.add(key);
    members.push(member);
    if (members.length > MAX_MEMBERS) return undefined;
  }
  return members.length === 0 ? undefined : truncated(members);
}

/** Fits the list into {@linkcode MAX_TRACESTATE}: long members first, then from the end. */
function truncated(members: string[]): string {
  let length = members.reduce((sum, m) => sum + m.length, members.length - 1);
  if (length <= MAX_TRACESTATE) return members.join(",");
  let kept = members;
  if (kept.some((m) => m.length > LONG_MEMBER)) {
    kept = kept.filter((m) => m.length <= LONG_MEMBER);
    length = kept.reduce((sum, m) => sum + m.length, kept.length - 1);
  }
  while (kept.length > 0 && length > MAX_TRACESTATE) {
    const last = kept.pop()!;
    length -= last.length + (kept.length > 0 ? 1 : 0);
  }
  return kept.join(",");
}

/**
 * Reads a request's trace context; header names are case-insensitive (as `Headers` are).
 *
 * @param headers The request's headers.
 * @returns The context, or `undefined` when `traceparent` is missing, repeated or invalid.
 */
export function readTraceContext(headers: Headers): TraceContext | undefined {
  const traceparent = parseTraceparent(headers.get("traceparent"));
  if (traceparent === undefined) return undefined;
  const tracestate = parseTracestate(headers.get("tracestate"));
  return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
}

/**
 * Whether a value is a `tracestate` the engine would carry: normalised and within bounds.
 *
 * @param value Anything (e.g. what a sandbox posted).
 * @returns `true` when parsing it gives it back unchanged.
 */
export function isTracestate(value: unknown): value is string {
  return typeof value === "string" && value.length <= MAX_TRACESTATE &&
    parseTracestate(value) === value;
}

/**
 * The trace id of a canonical `traceparent`.
 *
 * @param traceparent A version-`00` value.
 * @returns 32 hex digits.
 */
export function traceIdOf(traceparent: string): string {
  return traceparent.slice(3, 35);
}

/**
 * The flags of a canonical `traceparent`.
 *
 * @param traceparent A version-`00` value.
 * @returns The flags byte.
 */
export function flagsOf(traceparent: string): number {
  return parseInt(traceparent.slice(53, 55), 16);
}

/**
 * Writes a `traceparent` (only the known flags).
 *
 * @param traceId 32 hex digits.
 * @param spanId 16 hex digits.
 * @param flags The flags byte.
 * @returns A version-`00` value.
 */
export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-0${flags & KNOWN_FLAGS}`;
}
