/**
 * Byte helpers shared by the engine and the sandbox runtime.
 *
 * @module
 */

/**
 * Joins byte chunks into one array.
 *
 * @param chunks The chunks, in order.
 * @returns A new array holding all of them (the only chunk itself, copied, when there is one).
 */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const chunk of chunks) size += chunk.byteLength;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * Reads a byte stream to the end, refusing more than `maxBytes`: it never buffers past the limit,
 * and the stream is cancelled when the limit is hit.
 *
 * A finished stream's reader is left to the garbage collector rather than released: releasing a
 * reader builds an error object for the (settled) closed promise, which was most of the cost of
 * reading a small body.
 *
 * @param stream The stream.
 * @param maxBytes Largest total accepted.
 * @param tooLarge Builds the error thrown past the limit.
 * @returns All bytes.
 */
export async function readLimited(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<Uint8Array<ArrayBuffer>> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) return concatBytes(chunks);
    size += value.byteLength;
    if (size > maxBytes) {
      reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
}

/**
 * Writes a u32, little-endian (no `DataView` per call: frames need one per message).
 *
 * @param target Where.
 * @param offset Where its first byte goes.
 * @param value The number.
 */
export function writeUint32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value & 0xff;
  target[offset + 1] = (value >>> 8) & 0xff;
  target[offset + 2] = (value >>> 16) & 0xff;
  target[offset + 3] = value >>> 24;
}

/**
 * Reads a u32, little-endian.
 *
 * @param source Where.
 * @param offset Where its first byte is.
 * @returns The number.
 */
export function readUint32(source: Uint8Array, offset: number): number {
  return (source[offset]! | (source[offset + 1]! << 8) | (source[offset + 2]! << 16)) +
    source[offset + 3]! * 0x1000000;
}

/**
 * Lower-case hexadecimal of bytes (a digest, for instance).
 *
 * @param bytes The bytes.
 * @returns Two characters per byte.
 */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return Array.from(view, (b) => b.toString(16).padStart(2, "0")).join("");
}
