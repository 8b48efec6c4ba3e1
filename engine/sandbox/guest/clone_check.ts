/**
 * Worker tier, guest side: decides whether a message may cross to the engine by `postMessage`
 * (structured clone, deserialized on the engine's main thread before any check can run) or must
 * first be serialized here, on the sandbox's own thread, so the engine can check its size and
 * value count before it decodes it (see `../host/inbox.ts`).
 *
 * A message goes by clone only when a bounded walk proves it small: at most `maxValues` values and
 * {@linkcode MAX_CLONE_BYTES} copied (a string counted by its characters, a byte array by its whole
 * buffer unless transferred: a one-byte view over 300 MiB once crossed as one value), only arrays
 * and plain objects walked (a map, an error or a buffer keep what a clone copies whatever their
 * prototype says, so they are known by brand, and a proxy is refused before a trap could run),
 * only plain data properties (an accessor could answer the walk small and the clone large), no
 * `Map` or `Set` (their iteration can be patched). The walk uses intrinsics captured when this
 * module loads, before any bundle code runs, so a bundle that patches `Object.keys` or
 * `Array.isArray` cannot make it lie.
 *
 * Nothing the walks use is looked up on a prototype the bundle shares: their stack is an object
 * without a prototype, indexed by hand (a patched `Array.prototype.pop` or `push`, or an index
 * setter on `Array.prototype`, once emptied the stack so a reply of a million values passed for one
 * value), keys are read by index, not by `for…of` (a patched array iterator hid them), and a
 * property is data only when its descriptor owns a `value` (a `value` on `Object.prototype` made
 * an accessor pass for one).
 *
 * {@linkcode ValueCap} is the guest side of the engine's per-message value cap, in both tiers: a
 * reply with more values fails its own call with a clear error instead of costing the engine a
 * check and the sandbox its life. It is a courtesy, not the boundary: the engine checks again.
 *
 * @module
 */
import { Serializer } from "node:v8";
import {
  isArrayBuffer,
  isBoxedPrimitive,
  isDataView,
  isDate,
  isMap,
  isNativeError,
  isProxy,
  isRegExp,
  isSet,
} from "node:util/types";

const keys = Object.keys;
const describe = Object.getOwnPropertyDescriptor;
const hasOwn = Object.hasOwn;
const isArray = Array.isArray;
const isView = ArrayBuffer.isView;
const getPrototypeOf = Object.getPrototypeOf;
const MapProto = Map.prototype;
const SetProto = Set.prototype;
const DateProto = Date.prototype;
const ArrayBufferProto = ArrayBuffer.prototype;
const serializerProto = Serializer.prototype;
const { writeHeader, writeValue, releaseBuffer } = serializerProto;
const apply = Reflect.apply;
const min = Math.min;
const setHas = Set.prototype.has;
const ObjectProto = Object.prototype;
const typedArrayBuffer = describe(getPrototypeOf(Uint8Array.prototype), "buffer")!.get!;
const dataViewBuffer = describe(DataView.prototype, "buffer")!.get!;
const arrayBufferBytes = describe(ArrayBuffer.prototype, "byteLength")!.get!;

/**
 * Most bytes a message may make the engine copy when it crosses by structured clone: string
 * characters, plus the whole buffer under every byte array that is not transferred (a clone copies
 * a view's entire buffer). Larger messages are serialized here, and the engine charges their bytes
 * against its per-sandbox budget before it decodes them.
 */
export const MAX_CLONE_BYTES = 1024 * 1024;

// The walk's running byte count and the buffers the message transfers (set per call; the walk runs
// no bundle code, so it is never re-entered).
let walkBytes = 0;
let transferred: readonly unknown[] = [];

/** Bytes a clone would copy for a buffer, or `undefined` when it is not an `ArrayBuffer`. */
function copiedBytes(buffer: unknown): number | undefined {
  if (!isArrayBuffer(buffer)) return undefined;
  for (let i = 0; i < transferred.length; i++) if (transferred[i] === buffer) return 0;
  return apply(arrayBufferBytes, buffer, []) as number;
}

/**
 * A walk's stack, read and written by index only, never through a method: an object without a
 * prototype, so writing a slot never reaches a setter the bundle put on `Array.prototype` or
 * `Object.prototype`.
 */
interface Slots {
  [index: number]: unknown;
}

/** Slots of a small stack. */
const SMALL_STACK = 16;
/** What {@linkcode walkOn} returns when its stack is too small. */
const OVERFLOW = -1;

/**
 * A stack of {@linkcode SMALL_STACK} slots: an array literal, whose slots are its own properties
 * (a literal defines them), so writing one never reaches a setter on a prototype either.
 */
function smallStack(first: unknown): Slots {
  // deno-fmt-ignore
  return [first, undefined, undefined, undefined, undefined, undefined, undefined, undefined,
    undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined];
}

function newStack(first: unknown): Slots {
  const stack = { __proto__: null } as unknown as Slots;
  stack[0] = first;
  return stack;
}

/** Marker of a message the guest serialized itself: `{ [ENCODED]: true, payload }`. */
export const ENCODED = "bundlehost:encoded";

/** A message serialized on the guest's thread. */
export interface EncodedMessage {
  /** Always true. */
  [ENCODED]: true;
  /** `node:v8` serialization of the message. */
  payload: Uint8Array<ArrayBuffer>;
}

const weakMapGet = WeakMap.prototype.get;
const weakMapSet = WeakMap.prototype.set;
/**
 * Most values a message may hold to cross by structured clone; larger ones are serialized by the
 * sandbox. Decoding 50k tiny values costs the engine about 20 ms at most; a reply of 4,000
 * two-field rows (12k values) went 35 % slower through the serialized path, hence not lower.
 */
export const MAX_CLONE_VALUES = 50_000;

/**
 * Most characters of strings a sealed message may hold (a string reply, a response's header
 * names and values): they are copied into the engine uncounted, so anything longer (a bundle may
 * build a string of any length) goes through the walk, which counts it against the byte cap.
 */
export const MAX_SEALED_CHARS = 64 * 1024;

/** Messages the runtime built itself, with how many values each holds at most. */
const sealed = new WeakMap<object, number>();

/**
 * Notes a message the runtime built itself from values it checked: plain objects and arrays made
 * by literals, holding strings, numbers, booleans, null and byte arrays of its own, none of them
 * reachable by the bundle. The walk then counts it as `values` without visiting it, once when it
 * is sent and again in its batch (the walk was the guest's largest cost per `/b/` call after
 * building the request).
 *
 * @param message The message.
 * @param values How many values it holds, at most.
 */
export function sealMessage(message: object, values: number): void {
  apply(weakMapSet, sealed, [message, values]);
}

function sealedValues(value: unknown): number | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  return apply(weakMapGet, sealed, [value]) as number | undefined;
}

/**
 * Whether `message` (a message, or a batch of them) can be sent by structured clone at a bounded
 * cost to the receiver.
 *
 * @param message What to send.
 * @param maxValues Most values a cloned message may hold.
 * @returns True when the walk proved it small and plain.
 */
export function clonesCheaply(
  message: unknown,
  maxValues: number,
  transfer: readonly unknown[] = [],
): boolean {
  const known = sealedValues(message);
  if (known !== undefined) return known <= maxValues;
  walkBytes = 0;
  transferred = transfer;
  try {
    return walksCheaply(message, maxValues) && walkBytes <= MAX_CLONE_BYTES;
  } finally {
    transferred = [];
  }
}

function walksCheaply(message: unknown, maxValues: number): boolean {
  // A batch (messages are objects, never arrays): the array is checked like any, its sealed
  // messages are counted without being visited.
  if (!isArray(message)) return walk(message, maxValues) <= maxValues;
  const own = keys(message);
  if (own.length !== message.length || own.length >= maxValues) return false;
  let count = 1;
  for (let i = 0; i < own.length; i++) {
    const descriptor = describe(message, own[i] as string);
    if (!descriptor || !hasOwn(descriptor, "value")) return false;
    count += sealedValues(descriptor.value) ?? walk(descriptor.value, maxValues - count);
    if (count > maxValues) return false;
  }
  return true;
}

/** Values in `message`, or more than `maxValues` when over it or not plain data. */
function walk(message: unknown, maxValues: number): number {
  // Most messages are small: their walk fits a 16-slot array literal, cheaper to make than an
  // object without a prototype; a larger one is walked again on one of those.
  const small = walkOn(smallStack(message), SMALL_STACK, maxValues);
  return small === OVERFLOW ? walkOn(newStack(message), Infinity, maxValues) : small;
}

/** {@linkcode walk} on a given stack, or {@linkcode OVERFLOW} when it needs more slots. */
function walkOn(stack: Slots, capacity: number, maxValues: number): number {
  const over = maxValues + 1;
  let size = 1;
  let count = 0;
  while (size > 0) {
    if (++count > maxValues) return over;
    const value = stack[--size];
    stack[size] = undefined;
    if (typeof value === "string") {
      walkBytes += value.length;
      if (walkBytes > MAX_CLONE_BYTES) return over;
      continue;
    }
    if (typeof value !== "object" || value === null) continue;
    // Brand checks, not prototypes (a bundle can give a buffer, a map or a proxy any prototype),
    // and a proxy is refused before anything could run its traps.
    if (isProxy(value)) return over;
    if (isView(value)) {
      const buffer = apply(isDataView(value) ? dataViewBuffer : typedArrayBuffer, value, []);
      const bytes = copiedBytes(buffer);
      if (bytes === undefined) return over; // A view over shared memory.
      walkBytes += bytes;
      if (walkBytes > MAX_CLONE_BYTES) return over;
      continue;
    }
    const bytes = copiedBytes(value);
    if (bytes !== undefined) {
      walkBytes += bytes;
      if (walkBytes > MAX_CLONE_BYTES) return over;
      continue;
    }
    if (isDate(value)) continue;
    // Only arrays and plain objects are walked: a clone copies what a map, a set, an error, a boxed
    // string or a regular expression holds whatever their keys say.
    const proto = getPrototypeOf(value);
    if (!isArray(value) && proto !== ObjectProto && proto !== null) return over;
    if (
      isMap(value) || isSet(value) || isNativeError(value) || isRegExp(value) ||
      isBoxedPrimitive(value)
    ) return over;
    // The length first: listing the keys of a huge array is itself slow.
    if (isArray(value) && count + (value as unknown[]).length > maxValues) return over;
    const own = keys(value);
    if (isArray(value) && own.length !== (value as unknown[]).length) return over;
    if (count + own.length > maxValues) return over;
    if (size + own.length > capacity) return OVERFLOW;
    for (let i = 0; i < own.length; i++) {
      const descriptor = describe(value, own[i] as string);
      if (!descriptor || !hasOwn(descriptor, "value")) return over;
      stack[size++] = descriptor.value;
    }
  }
  return count;
}

/**
 * Serializes a message on this thread.
 *
 * @param message What to send.
 * @returns The encoded message, whose payload buffer can be transferred.
 * @throws {DOMException} `DataCloneError` when the value cannot be cloned.
 */
export function encodeMessage(message: unknown): EncodedMessage {
  try {
    const serializer = new Serializer();
    apply(writeHeader, serializer, []);
    apply(writeValue, serializer, [message]);
    const payload = apply(releaseBuffer, serializer, []) as Uint8Array<ArrayBuffer>;
    return { [ENCODED]: true, payload };
  } catch (error) {
    throw new DOMException((error as Error).message, "DataCloneError");
  }
}

/**
 * Whether a received value is an {@linkcode EncodedMessage}.
 *
 * @param value What arrived.
 * @returns True for an encoded message.
 */
export function isEncoded(value: unknown): value is EncodedMessage {
  return typeof value === "object" && value !== null &&
    (value as Record<string, unknown>)[ENCODED] === true &&
    (value as { payload?: unknown }).payload instanceof Uint8Array;
}

/**
 * Counts the values of a message, stopping once over `max`.
 *
 * @param message What to send.
 * @param max Most values of interest.
 * @returns The count, or `max + 1` when there are more.
 */
export function countValues(message: unknown, max: number): number {
  const stack = newStack(message);
  let size = 1;
  let count = 0;
  while (size > 0 && count <= max) {
    const value = stack[--size];
    stack[size] = undefined;
    count++;
    if (typeof value !== "object" || value === null || isView(value)) continue;
    const proto = getPrototypeOf(value);
    if (proto === DateProto || proto === ArrayBufferProto) continue;
    if (proto === MapProto || proto === SetProto) {
      count += (value as Map<unknown, unknown>).size;
      for (const entry of value as Iterable<unknown>) {
        stack[size++] = entry;
      }
      continue;
    }
    if (isArray(value)) {
      // By index, and not past the cap: listing the keys of a huge array is itself slow.
      const length = (value as unknown[]).length;
      if (count + length > max) return max + 1;
      for (let i = 0; i < length; i++) {
        stack[size++] = (value as unknown[])[i];
      }
      continue;
    }
    const own = keys(value);
    for (let i = 0; i < own.length; i++) {
      stack[size++] = describe(value, own[i] as string)?.value;
    }
  }
  return min(count, max + 1);
}

/** Messages that may be large; the others are small by construction. */
const DATA_TYPES: ReadonlySet<unknown> = new Set(["reply", "response", "broker-call", "publish"]);

/** The guest side of the engine's per-message value cap. */
export class ValueCap {
  /** Most values per message; the engine sends its own cap with `init`. */
  max = 100_000;

  /**
   * Learns the engine's cap from its `init` message.
   *
   * @param message A host message.
   */
  learn(message: unknown): void {
    const m = message as { type?: unknown; maxMessageValues?: unknown };
    if (m?.type === "init" && Number.isSafeInteger(m.maxMessageValues)) {
      this.max = m.maxMessageValues as number;
    }
  }

  /**
   * Why a message may not be sent, or undefined when it may.
   *
   * @param message A guest message.
   * @returns The refusal, for the message's own caller.
   */
  refuse(message: unknown): RangeError | undefined {
    const type = (message as { type?: unknown })?.type;
    if (!apply(setHas, DATA_TYPES, [type]) || countValues(message, this.max) <= this.max) {
      return undefined;
    }
    return new RangeError(
      `The ${type} holds more than ${this.max} values, the engine's cap per message`,
    );
  }
}
