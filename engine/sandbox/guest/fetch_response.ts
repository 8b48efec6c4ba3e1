/**
 * A fetch handler's `Response`, turned into the `response` message the engine receives: its
 * status, its headers as a list, and its body as text (a string body, or small UTF-8 bytes with a
 * `content-type`), whole bytes, or the start of a stream (`guest_streams.ts`).
 *
 * The message is built only from values checked here (a number, fresh pairs of the strings the
 * platform's `Headers.prototype.forEach` gives, the runtime's own bytes) by object and array literals, which define their properties rather than
 * set them, so no setter a bundle put on a prototype runs and no accessor ends up in it. It is
 * therefore sealed (`clone_check.ts`): the worker tier sends it by structured clone without
 * walking it first.
 *
 * @module
 */
import type { GuestMessage, WireResponse } from "../wire/protocol.ts";
import { type BodyStart, bodyText, startBody, stringText } from "./guest_streams.ts";
import { stringBody } from "./string_body.ts";
import { MAX_SEALED_CHARS, sealMessage } from "./clone_check.ts";

/** Largest HTTP response body a bundle may return, bytes. */
export const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/** A fetch handler's response, as the runtime sends it. */
export interface ResponseHead {
  /** The status. */
  status: number;
  /** The headers, lower-case names, in the platform's order. */
  headers: [string, string][];
  /** What was read of the body (no bytes when it travels as `text` or for an upgrade). */
  start: BodyStart;
  /** Whether the response accepts a WebSocket upgrade. */
  upgrade: boolean;
  /** The whole body as text, when it travels so. */
  text?: string;
  /** Whether the status is a number (the headers always are strings): the message can be sealed. */
  checked: boolean;
}

const apply = Reflect.apply;
const defineProperty = Reflect.defineProperty;
const headersForEach = Headers.prototype.forEach;
/** Characters in the last header list read (names and values). */
let headerChars = 0;

/**
 * A response's headers as a list the runtime owns, in the order iterating them gives (sorted,
 * repeated names combined but `set-cookie`). The platform's own `forEach`, captured before any
 * bundle code, yields only strings whatever the bundle patched, and costs a sixth of iterating;
 * each pair is defined (a null-prototype descriptor), so no setter on `Array.prototype` runs.
 *
 * @throws {TypeError} When `headers` is not a `Headers` object (a patched `response.headers`).
 */
function headerList(headers: Headers): [string, string][] {
  const list: [string, string][] = [];
  let count = 0;
  headerChars = 0;
  apply(headersForEach, headers, [(value: string, name: string) => {
    headerChars += name.length + value.length;
    defineProperty(list, count++, {
      __proto__: null,
      value: [name, value],
      writable: true,
      enumerable: true,
      configurable: true,
    } as PropertyDescriptor);
  }]);
  return list;
}

/**
 * Reads what a response sends.
 *
 * @param response The fetch handler's response.
 * @param upgrade Whether it accepted a WebSocket upgrade (then its body is not read).
 * @returns The head, and the body as text or as what was read of it.
 * @throws {RangeError} When the body is larger than {@linkcode MAX_RESPONSE_BYTES}.
 * @throws {TypeError} For `Response.error()`, whose status HTTP cannot send.
 */
export async function readResponse(response: Response, upgrade: boolean): Promise<ResponseHead> {
  const status = response.status;
  const headers = headerList(response.headers);
  const checked = typeof status === "number" && headerChars <= MAX_SEALED_CHARS;
  if (upgrade) return { status, headers, start: { bytes: null }, upgrade, checked };
  // Only `Response.error()` has a status outside 200–599: the engine would drop the message as
  // malformed and the call would wait for its deadline, so it fails here, at once and by name.
  if (checked && (status < 200 || status > 599)) {
    throw new TypeError(
      `fetch handler returned a Response with status ${status} (Response.error())`,
    );
  }
  const string = stringBody(response);
  const whole = string === undefined ? undefined : await string;
  const text = stringText(whole, headers);
  if (text !== undefined) {
    return { status, headers, start: { bytes: null }, upgrade, text, checked };
  }
  // A string that may not travel as text goes as the bytes its body would have streamed.
  const body = whole === undefined ? response.body : new Response(whole).body;
  const start = await startBody(body, MAX_RESPONSE_BYTES);
  const decoded = start.rest ? undefined : bodyText(start.bytes, headers);
  return decoded === undefined
    ? { status, headers, start, upgrade, checked }
    : { status, headers, start: { bytes: null }, upgrade, text: decoded, checked };
}

/**
 * The `response` message for a fetch call, sealed when its head was checked.
 *
 * @param id The fetch's id.
 * @param head What {@linkcode readResponse} read.
 * @returns The message.
 */
export function responseMessage(id: number, head: ResponseHead): GuestMessage {
  const { status, headers, start, upgrade, text } = head;
  const body = start.bytes;
  const response: WireResponse = text !== undefined
    ? { status, headers, body: null, text }
    : start.rest
    ? { status, headers, body, stream: true }
    : upgrade
    ? { status, headers, body, upgrade: true }
    : { status, headers, body };
  const message: GuestMessage = { type: "response", id, response };
  // The message, its response and 5 fields at most, and each header's pair and two strings.
  if (head.checked) sealMessage(message, 8 + 3 * headers.length);
  return message;
}
