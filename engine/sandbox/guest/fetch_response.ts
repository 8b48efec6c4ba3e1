/**
 * A fetch handler's `Response`, turned into the `response` message the engine receives: its
 * status, its headers as a list, and its body as text (a string body, or small UTF-8 bytes with a
 * `content-type`), whole bytes, or the start of a stream (`guest_streams.ts`).
 *
 * The message is built only from values checked here (a number, fresh pairs of strings, the
 * runtime's own bytes) by object and array literals, which define their properties rather than
 * set them, so no setter a bundle put on a prototype runs and no accessor ends up in it. It is
 * therefore sealed (`clone_check.ts`): the worker tier sends it by structured clone without
 * walking it first.
 *
 * @module
 */
import type { GuestMessage, WireResponse } from "../wire/protocol.ts";
import { type BodyStart, bodyText, startBody, stringText } from "./guest_streams.ts";
import { stringBody } from "./string_body.ts";
import { sealMessage } from "./clone_check.ts";

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
  /** Whether the status and every header were plain (so the message can be sealed). */
  checked: boolean;
}

/**
 * A response's headers as a list the runtime owns: a fresh pair per header when each is a pair of
 * strings (the iteration is the bundle's to patch), else as the iteration gave them.
 */
function headerList(headers: Headers): { list: [string, string][]; checked: boolean } {
  // An array spread defines its elements: no setter runs, and each is an own data property.
  const list = [...headers] as unknown[];
  for (let i = 0; i < list.length; i++) {
    const entry = list[i] as { 0?: unknown; 1?: unknown } | null;
    const name = entry?.[0];
    const value = entry?.[1];
    if (typeof name !== "string" || typeof value !== "string") {
      return { list: list as [string, string][], checked: false };
    }
    list[i] = [name, value];
  }
  return { list: list as [string, string][], checked: true };
}

/**
 * Reads what a response sends.
 *
 * @param response The fetch handler's response.
 * @param upgrade Whether it accepted a WebSocket upgrade (then its body is not read).
 * @returns The head, and the body as text or as what was read of it.
 * @throws {RangeError} When the body is larger than {@linkcode MAX_RESPONSE_BYTES}.
 */
export async function readResponse(response: Response, upgrade: boolean): Promise<ResponseHead> {
  const status = response.status;
  const { list: headers, checked: plain } = headerList(response.headers);
  const checked = plain && typeof status === "number";
  if (upgrade) return { status, headers, start: { bytes: null }, upgrade, checked };
  const string = stringBody(response);
  // Only the platform holds a `Response.json` body: read whole (it is there at once), then sent
  // as text, or as the bytes it would have streamed.
  const read = string !== undefined && typeof string !== "string";
  const whole = read ? await string : string;
  const text = stringText(whole, headers);
  if (text !== undefined) {
    return { status, headers, start: { bytes: null }, upgrade, text, checked };
  }
  const body = read ? new Response(whole).body : response.body;
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
