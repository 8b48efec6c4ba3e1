/**
 * Errors as they cross the sandbox boundary: a guest's thrown value becomes a bounded
 * {@linkcode WireError}, whatever it was (a hostile getter, a revoked proxy, a huge stack).
 *
 * @module
 */
import type { WireError } from "./protocol.ts";
import { boundedString, DOTTED_NAME, isObj, type Obj } from "./guards.ts";

/** Longest error message kept from a guest. */
export const MAX_ERROR_MESSAGE = 2048;

/**
 * Bounds and cleans an error that came from a guest (or is about to be sent by one).
 *
 * @param value Anything: an `Error`, a wire error, or a thrown primitive.
 * @param source Who raised it.
 * @returns A {@linkcode WireError} with bounded fields; never throws, whatever was thrown.
 */
export function toWireError(value: unknown, source: WireError["source"] = "bundle"): WireError {
  try {
    return describeError(value, source);
  } catch {
    // A revoked proxy, a throwing `toString` or a tampered builtin: a call that fails this way
    // must still get an answer, and a fault report must still reach the engine.
    return { name: "Error", message: "The thrown value cannot be described", source };
  }
}

function describeError(value: unknown, source: WireError["source"]): WireError {
  let name = "Error";
  let message = "";
  let code: string | undefined;
  let at: string | undefined;
  if (isObj(value) || value instanceof Error) {
    const v = value as Obj;
    // Each field on its own: a hostile getter loses only its own field.
    const read = (key: string): unknown => {
      try {
        return v[key];
      } catch {
        return undefined;
      }
    };
    const rawName = read("name");
    message = boundedString(read("message"), MAX_ERROR_MESSAGE) ?? "";
    const rawCode = read("code");
    code = typeof rawCode === "string" && rawCode.length <= 64 ? rawCode : undefined;
    if (typeof rawName === "string" && DOTTED_NAME.test(rawName)) name = rawName;
    at = framesOf(read("at")) ?? framesOf(read("stack"));
  } else {
    message = boundedString(String(value), MAX_ERROR_MESSAGE) ?? "";
  }
  const error: WireError = code === undefined
    ? { name, message, source }
    : { name, message, code, source };
  if (at !== undefined) error.at = at;
  return error;
}

/** Most stack frames kept in {@linkcode WireError.at}, and lines of a stack read for them. */
const MAX_FRAMES = 6;
const MAX_STACK_LINES = 64;
const FILE_FRAME = /file:\/\/\/[^\s()]{1,1024}:\d{1,9}:\d{1,9}/;
const DATA_FRAME = /^data::\d{1,9}:\d{1,9}$/;

/** A stack line's location in a `data:` module (an inlined entry) as `data::line:col`. */
function dataFrame(line: string): string | undefined {
  const start = line.indexOf("data:");
  if (start < 0) return undefined;
  const end = line.endsWith(")") ? line.length - 1 : line.length;
  const colon = line.lastIndexOf(":", end - 1);
  const lineColon = line.lastIndexOf(":", colon - 1);
  if (lineColon <= start) return undefined;
  const frame = `data::${line.slice(lineColon + 1, colon)}:${line.slice(colon + 1, end)}`;
  return DATA_FRAME.test(frame) ? frame : undefined;
}

/**
 * The first module-file locations of a stack (or an `at` already taken from one), bounded:
 * `file:///…:line:col` or `data::line:col`, separated by spaces.
 */
function framesOf(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const frames: string[] = [];
  let from = 0;
  for (let n = 0; n < MAX_STACK_LINES && frames.length < MAX_FRAMES && from < value.length; n++) {
    let to = value.indexOf("\n", from);
    if (to < 0) to = value.length;
    const line = value.slice(from, to);
    from = to + 1;
    for (const part of line.includes(" ") ? line.split(" ") : [line]) {
      const frame = part.startsWith("data:") || part.startsWith("(data:")
        ? dataFrame(part)
        : part.length <= 2048
        ? FILE_FRAME.exec(part)?.[0]
        : undefined;
      if (frame !== undefined && frames.length < MAX_FRAMES) frames.push(frame);
    }
  }
  return frames.length === 0 ? undefined : frames.join(" ");
}
