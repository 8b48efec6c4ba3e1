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
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.byteLength;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return concatBytes(chunks);
}
