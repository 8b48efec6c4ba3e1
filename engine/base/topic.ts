/**
 * Topic names and payload limits of message events, shared by the engine, the protocol parser and
 * the guest runtime (so this module has no imports).
 *
 * @module
 */

/** Topic names: lower-case letters, digits, `.`, `_`, `-`; 1–128 characters. */
export const TOPIC_PATTERN: RegExp = /^[a-z0-9][a-z0-9._-]{0,127}$/;
/** Topics under this prefix belong to the engine (scheduled events); nobody may publish to them. */
export const RESERVED_TOPIC_PREFIX = "bundlehost.";
/** Topic of scheduled events. */
export const SCHEDULE_TOPIC = "bundlehost.schedule";
/**
 * Largest event payload, as UTF-8 JSON, bytes. A Deno KV value holds at most 64 KiB; the rest is
 * left for the event's own fields.
 */
export const MAX_EVENT_PAYLOAD_BYTES: number = 48 * 1024;

/**
 * Checks a topic a publisher or a manifest names.
 *
 * @param topic Anything.
 * @returns Why it is refused, or `undefined` when it is a valid, unreserved topic.
 */
export function topicProblem(topic: unknown): string | undefined {
  if (typeof topic !== "string" || !TOPIC_PATTERN.test(topic)) {
    return `Invalid topic ${
      JSON.stringify(String(topic).slice(0, 140))
    }: use 1-128 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit`;
  }
  if (topic.startsWith(RESERVED_TOPIC_PREFIX)) {
    return `Topic "${topic}" is reserved: topics starting with "${RESERVED_TOPIC_PREFIX}" belong to the engine`;
  }
  return undefined;
}

/**
 * Serializes a payload as JSON within the size limit.
 *
 * @param payload A JSON-compatible value (`undefined` becomes `null`).
 * @returns The JSON text.
 * @throws {TypeError} When the value cannot be serialized as JSON.
 * @throws {RangeError} When the JSON is larger than {@linkcode MAX_EVENT_PAYLOAD_BYTES}.
 */
export function payloadJson(payload: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(payload ?? null);
  } catch (error) {
    throw new TypeError(`Event payload is not JSON: ${(error as Error).message}`);
  }
  if (json === undefined) throw new TypeError("Event payload is not JSON");
  // A UTF-16 unit is at most 3 UTF-8 bytes: only count when the length leaves room for doubt.
  const size = json.length * 3 <= MAX_EVENT_PAYLOAD_BYTES
    ? json.length
    : new TextEncoder().encode(json).byteLength;
  if (size > MAX_EVENT_PAYLOAD_BYTES) {
    throw new RangeError(
      `Event payload is larger than ${MAX_EVENT_PAYLOAD_BYTES} bytes as JSON`,
    );
  }
  return json;
}
