/**
 * Counts the values in a `node:v8` serialization (V8's structured-clone wire format) without
 * decoding it: one linear pass over tags, which skips string and buffer contents in one step and
 * stops as soon as the count passes the cap. Its cost is bounded by the cap, not by the payload,
 * so the engine can check a sandbox's large message on its main thread before decoding it (the
 * decode costs time and memory per value: 7M tiny objects take seconds and gigabytes).
 *
 * The format is a stream in which containers are delimited by begin and end tags, so no stack is
 * needed: every tag where a value may start counts one value. A tag this scanner does not know is
 * a refusal, never a guess.
 *
 * @module
 */

/** What a scan found. */
export type ScanResult = { ok: true; values: number } | { ok: false; reason: string };

const END_TAGS = new Map<number, number>([
  [0x7b, 1], // '{' end of object: property count
  [0x24, 2], // '$' end of dense array: property count, length
  [0x40, 2], // '@' end of sparse array: property count, length
  [0x3a, 1], // ':' end of map: entry count
  [0x2c, 1], // ',' end of set: entry count
]);

class Reader {
  pos: number;
  constructor(readonly bytes: Uint8Array, start: number) {
    this.pos = start;
  }
  byte(): number {
    if (this.pos >= this.bytes.byteLength) throw new RangeError("truncated");
    return this.bytes[this.pos++]!;
  }
  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      const b = this.byte();
      if (shift < 53) value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
    throw new RangeError("varint too long");
  }
  skip(n: number): void {
    if (n > this.bytes.byteLength - this.pos) throw new RangeError("truncated");
    this.pos += n;
  }
  /** A tagged string (`"`, `c` or `S`), as regexps and errors hold them. */
  string(): void {
    const tag = this.byte();
    if (tag !== 0x22 && tag !== 0x63 && tag !== 0x53) throw new RangeError("string expected");
    this.skip(this.varint());
  }
}

/** Skips the payload of a value tag; returns false for a tag this scanner does not know. */
function skipValue(r: Reader, tag: number): boolean {
  switch (tag) {
    case 0x5f: // '_' undefined
    case 0x30: // '0' null
    case 0x54: // 'T' true
    case 0x46: // 'F' false
    case 0x2d: // '-' hole
    case 0x79: // 'y' true object
    case 0x78: // 'x' false object
    case 0x6f: // 'o' begin object
    case 0x3b: // ';' begin map
    case 0x27: // "'" begin set
      return true;
    case 0x49: // 'I' int32 (zigzag)
    case 0x55: // 'U' uint32
    case 0x5e: // '^' back reference
    case 0x41: // 'A' begin dense array: length
    case 0x61: // 'a' begin sparse array: length
      r.varint();
      return true;
    case 0x4e: // 'N' double
    case 0x44: // 'D' date
    case 0x6e: // 'n' number object
      r.skip(8);
      return true;
    case 0x5a: // 'Z' bigint
    case 0x7a: // 'z' bigint object
      r.skip(Math.floor(r.varint() / 2));
      return true;
    case 0x22: // '"' one-byte string
    case 0x63: // 'c' two-byte string
    case 0x53: // 'S' UTF-8 string
      r.skip(r.varint());
      return true;
    case 0x73: // 's' string object
      r.string();
      return true;
    case 0x52: // 'R' regexp: pattern, flags
      r.string();
      r.varint();
      return true;
    case 0x42: // 'B' array buffer, maybe followed by a view
      r.skip(r.varint());
      if (r.bytes[r.pos] === 0x56) { // 'V' view: subtag, offset, length, flags
        r.skip(2);
        r.varint();
        r.varint();
        r.varint();
      }
      return true;
    case 0x5c: // '\' host object (Node's typed arrays): type, byte length, bytes
      r.varint();
      r.skip(r.varint());
      return true;
    case 0x72: // 'r' error: sub-tags until '.'
      return skipError(r);
    default:
      return false;
  }
}

function skipError(r: Reader): boolean {
  for (;;) {
    const sub = r.byte();
    if (sub === 0x2e) return true; // '.' end
    if (sub === 0x6d || sub === 0x73) r.string(); // 'm' message, 's' stack
    else if (!"EFRSTU".includes(String.fromCharCode(sub))) return false; // prototype tags
  }
}

/**
 * Counts the values of a serialization, up to `max`.
 *
 * @param payload A `node:v8` serialization with its header.
 * @param max Most values allowed.
 * @returns The count, or why the payload is refused (over the cap, malformed, unknown tag).
 *
 * @example
 * ```ts
 * import { serialize } from "node:v8";
 * import { countSerializedValues } from "./value_scan.ts";
 * countSerializedValues(serialize({ a: [1, 2] }), 100); // { ok: true, values: 5 }
 * ```
 */
export function countSerializedValues(payload: Uint8Array, max: number): ScanResult {
  const r = new Reader(payload, 0);
  let values = 0;
  try {
    if (r.byte() !== 0xff) return { ok: false, reason: "the message has no serialization header" };
    r.varint(); // format version
    while (r.pos < payload.byteLength) {
      const tag = r.byte();
      if (tag === 0) continue; // padding
      const ends = END_TAGS.get(tag);
      if (ends !== undefined) {
        for (let i = 0; i < ends; i++) r.varint();
        continue;
      }
      if (++values > max) {
        return {
          ok: false,
          reason: `a message of ${payload.byteLength} bytes holds more than ${max} values`,
        };
      }
      if (!skipValue(r, tag)) {
        return { ok: false, reason: `the message uses serialization tag 0x${tag.toString(16)}` };
      }
    }
  } catch (error) {
    return { ok: false, reason: `the message is malformed: ${(error as Error).message}` };
  }
  return { ok: true, values };
}
