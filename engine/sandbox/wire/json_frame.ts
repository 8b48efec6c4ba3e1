/**
 * JSON payloads for process-tier frames: a cheaper encoding for the small, plain messages of a
 * call. Profiles of the process tier under load showed `node:v8` serialization (a native
 * serializer per message, its buffer, and a deserializer per frame) as a large share of both the
 * engine's and the child's time per call; `JSON.stringify` and `JSON.parse` of the same messages
 * cost several times less.
 *
 * Only values that JSON carries exactly as structured clone would are sent this way, so a message
 * arrives identical in either encoding: strings, booleans, `null`, finite numbers other than `-0`,
 * arrays without holes or extra properties, plain objects, and `Uint8Array`s that span their
 * whole, fixed-length `ArrayBuffer` (sent as raw bytes after the JSON text). Anything else — `Map`,
 * `Date`, `undefined`, a `BigInt`, a shared or cyclic reference, a class instance, a proxy, a
 * getter, more than {@linkcode JSON_MAX_VALUES} values — makes {@linkcode encodeJsonPayload}
 * decline, and the frame falls back to `node:v8`.
 *
 * Payload: `u32 little-endian JSON length · JSON text (UTF-8) · bytes of the Uint8Arrays`; the
 * length's top bit says the text has placeholders (even for empty arrays, which add no bytes). In the
 * text, each `Uint8Array` is the object `{"\u0000bytes":[offset,length]}` into the bytes; an object
 * that really has that key makes the encoder decline.
 *
 * Imports only `node:util/types` and byte helpers, because the child loads them before it has any
 * permission.
 *
 * @module
 */
import { isProxy } from "node:util/types";
import { readUint32, writeUint32 } from "../../base/bytes.ts";

/** The key of a placeholder for a `Uint8Array` in the JSON text. */
const BYTES_KEY = "\u0000bytes";
/** Most values a message sent as JSON may hold; larger ones go through `node:v8`. */
export const JSON_MAX_VALUES = 512;
/** Deepest nesting sent as JSON. */
const MAX_DEPTH = 32;
/** Objects looked up in a list before a Set takes over. */
const SEEN_LIST = 16;
/** The top bit of the length prefix: the text holds `Uint8Array` placeholders. */
const HAS_BYTES = 0x80000000;
/** Bytes before the JSON text: its length. */
export const JSON_PREFIX_BYTES = 4;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const OBJECT_PROTO = Object.prototype;
const ARRAY_PROTO = Array.prototype;
const U8_PROTO = Uint8Array.prototype;

/** What the walk collects: the byte arrays in text order, and how many values it has seen. */
interface Walk {
  bytes: Uint8Array[] | undefined;
  bytesLength: number;
  seen: object[];
  seenSet: Set<object> | undefined;
  values: number;
}

/** The walk's answer for a value JSON would change. */
const NOT_PLAIN: unique symbol = Symbol("not plain");

/**
 * What JSON.stringify should see for `value` when it round-trips through JSON exactly as through
 * structured clone: the value itself, or (along the path to a `Uint8Array`) a copy holding its
 * placeholder; {@linkcode NOT_PLAIN} otherwise.
 */
function plain(value: unknown, walk: Walk, depth: number): unknown {
  if (++walk.values > JSON_MAX_VALUES) return NOT_PLAIN;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0) ? value : NOT_PLAIN;
    case "object":
      break;
    default:
      return NOT_PLAIN;
  }
  if (value === null) return value;
  if (depth > MAX_DEPTH) return NOT_PLAIN;
  // A second reference to the same object is one object after a clone, two after JSON. A call
  // holds a few objects: a short list is cheaper than a Set until it grows.
  const seen = walk.seen;
  if (seen.length < SEEN_LIST) {
    if (seen.includes(value)) return NOT_PLAIN;
    seen.push(value);
  } else {
    const set = walk.seenSet ??= new Set(seen);
    if (set.has(value)) return NOT_PLAIN;
    set.add(value);
  }
  // Structured clone refuses a proxy; JSON would go through its traps.
  if (isProxy(value)) return NOT_PLAIN;
  const proto = Object.getPrototypeOf(value);
  if (proto === ARRAY_PROTO) return plainArray(value as unknown[], walk, depth);
  if (proto === U8_PROTO) return plainBytes(value as Uint8Array, walk);
  if (proto !== OBJECT_PROTO && proto !== null) return NOT_PLAIN;
  return plainRecord(value, walk, depth);
}

function plainRecord(record: object, walk: Walk, depth: number): unknown {
  const keys = Object.keys(record);
  // A copy only on the way to a placeholder; no prototype, so "__proto__" stays a plain key.
  let copy: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (key === BYTES_KEY) return NOT_PLAIN;
    const item = plainProperty(record, key, walk, depth);
    if (item === NOT_PLAIN) return NOT_PLAIN;
    if (copy === undefined && item !== (record as Record<string, unknown>)[key]) {
      copy = Object.create(null) as Record<string, unknown>;
      for (let k = 0; k < i; k++) copy[keys[k]!] = (record as Record<string, unknown>)[keys[k]!];
    }
    if (copy !== undefined) copy[key] = item;
  }
  return copy ?? record;
}

/**
 * What an own property holds, when it is data holding a plain value. An accessor is left to
 * structured clone, which runs it once (JSON.stringify would run it a second time).
 */
function plainProperty(owner: object, key: string, walk: Walk, depth: number): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(owner, key);
  if (descriptor === undefined || descriptor.get || descriptor.set) return NOT_PLAIN;
  return plain(descriptor.value, walk, depth + 1);
}

function plainArray(array: unknown[], walk: Walk, depth: number): unknown {
  // Keys list indices in order, then other properties: as many keys as elements, the last one
  // the last index, means no hole and no extra property (both survive a clone, not JSON).
  const length = array.length;
  if (length > JSON_MAX_VALUES) return NOT_PLAIN;
  if (length > 0) {
    const keys = Object.keys(array);
    if (keys.length !== length || keys[length - 1] !== String(length - 1)) return NOT_PLAIN;
  } else if (Object.keys(array).length !== 0) return NOT_PLAIN;
  let copy: unknown[] | undefined;
  for (let i = 0; i < length; i++) {
    const item = plainProperty(array, String(i), walk, depth);
    if (item === NOT_PLAIN) return NOT_PLAIN;
    if (copy === undefined && item !== array[i]) copy = array.slice(0, i);
    copy?.push(item);
  }
  return copy ?? array;
}

function plainBytes(bytes: Uint8Array, walk: Walk): unknown {
  const buffer = bytes.buffer;
  // A clone keeps the whole buffer and the view's offset; only a view of all of it is sent raw.
  if (!(buffer instanceof ArrayBuffer) || buffer.resizable) return NOT_PLAIN;
  if (bytes.byteOffset !== 0 || bytes.byteLength !== buffer.byteLength) return NOT_PLAIN;
  (walk.bytes ??= []).push(bytes);
  const place = { [BYTES_KEY]: [walk.bytesLength, bytes.byteLength] };
  walk.bytesLength += bytes.byteLength;
  return place;
}

/** A message encoded as a JSON payload, ready to be written into a frame. */
export interface JsonPayload {
  /** The JSON text. */
  text: string;
  /** The `Uint8Array`s, in the order their placeholders were numbered. */
  bytes: readonly Uint8Array[];
  /** Their total size, bytes. */
  bytesLength: number;
}

/**
 * Encodes a message as JSON when that carries it exactly; declines otherwise.
 *
 * @param value A protocol message.
 * @returns The text and raw byte arrays, or undefined when the message needs `node:v8`.
 *
 * @example A call goes as JSON, a `Map` does not
 * ```ts
 * import { encodeJsonPayload } from "./json_frame.ts";
 * console.log(encodeJsonPayload({ type: "call", id: 1, input: { a: [1, 2] } })?.text);
 * console.log(encodeJsonPayload({ type: "reply", id: 1, ok: true, value: new Map() })); // undefined
 * ```
 */
export function encodeJsonPayload(value: unknown): JsonPayload | undefined {
  const walk: Walk = { bytes: undefined, bytesLength: 0, seen: [], seenSet: undefined, values: 0 };
  let substitute: unknown;
  try {
    substitute = plain(value, walk, 0);
  } catch {
    // A proxy's trap or a getter threw: structured clone gets to report it.
    return undefined;
  }
  if (substitute === NOT_PLAIN) return undefined;
  return {
    text: JSON.stringify(substitute),
    bytes: walk.bytes ?? [],
    bytesLength: walk.bytesLength,
  };
}

/**
 * Bytes a JSON payload takes once written, at least and at most: UTF-8 takes one to three bytes
 * per UTF-16 unit.
 *
 * @param payload The encoded message.
 * @returns The bounds, bytes.
 */
export function jsonPayloadBounds(payload: JsonPayload): { min: number; max: number } {
  const fixed = JSON_PREFIX_BYTES + payload.bytesLength;
  return { min: fixed + payload.text.length, max: fixed + payload.text.length * 3 };
}

/**
 * Writes a JSON payload at `offset` of `target`, which must have the largest of {@linkcode jsonPayloadBounds}
 * bytes free there.
 *
 * @param payload The encoded message.
 * @param target Where to write.
 * @param offset Where the payload starts.
 * @returns The payload's length, bytes.
 */
export function writeJsonPayload(payload: JsonPayload, target: Uint8Array, offset: number): number {
  const textStart = offset + JSON_PREFIX_BYTES;
  const written = encoder.encodeInto(payload.text, target.subarray(textStart)).written;
  writeUint32(target, offset, payload.bytes.length > 0 ? (written | HAS_BYTES) >>> 0 : written);
  let end = textStart + written;
  for (const bytes of payload.bytes) {
    target.set(bytes, end);
    end += bytes.byteLength;
  }
  return end - offset;
}

/**
 * Decodes a JSON payload (possibly from an untrusted sender: every placeholder is checked).
 *
 * @param payload The bytes after the frame header.
 * @returns The message.
 * @throws {TypeError} When the payload is malformed; `SyntaxError` when the text is not JSON.
 */
export function decodeJsonPayload(payload: Uint8Array): unknown {
  if (payload.byteLength < JSON_PREFIX_BYTES) throw new TypeError("JSON payload without length");
  const prefix = readUint32(payload, 0);
  const length = prefix & ~HAS_BYTES;
  const textEnd = JSON_PREFIX_BYTES + length;
  if (textEnd > payload.byteLength) throw new TypeError("JSON text overruns its payload");
  const value: unknown = JSON.parse(decoder.decode(payload.subarray(JSON_PREFIX_BYTES, textEnd)));
  if ((prefix & HAS_BYTES) === 0) {
    if (textEnd !== payload.byteLength) {
      throw new TypeError("Bytes after a JSON text without placeholders");
    }
    return value;
  }
  return restoreBytes(value, payload.subarray(textEnd), 0);
}

/** Replaces placeholders with copies of their bytes (a fresh buffer each, as a clone makes). */
function restoreBytes(value: unknown, bytes: Uint8Array, depth: number): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (depth > MAX_DEPTH) throw new TypeError("JSON payload nested too deeply");
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = restoreBytes(value[i], bytes, depth + 1);
    return value;
  }
  const record = value as Record<string, unknown>;
  const place = record[BYTES_KEY];
  if (place !== undefined) {
    if (!Array.isArray(place) || place.length !== 2) throw new TypeError("Bad bytes placeholder");
    const [start, length] = place as unknown[];
    if (
      !Number.isSafeInteger(start) || !Number.isSafeInteger(length) || (start as number) < 0 ||
      (length as number) < 0 || (start as number) + (length as number) > bytes.byteLength
    ) throw new TypeError("Bytes placeholder out of range");
    return bytes.slice(start as number, (start as number) + (length as number));
  }
  for (const key of Object.keys(record)) {
    const item = record[key];
    if (typeof item !== "object" || item === null) continue;
    // defineProperty, not assignment: a "__proto__" key is an own data property here.
    Object.defineProperty(record, key, {
      value: restoreBytes(item, bytes, depth + 1),
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }
  return record;
}
