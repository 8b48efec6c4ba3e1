/**
 * What every admin route reads from a request: a JSON body checked against a schema, the `:id`
 * path parameter, and the reply for a body over its limit. Each failure is a `TypeError` naming the
 * problem (the plugin's error reply makes it a 400) or a 413.
 *
 * @module
 */
import type { Context } from "hono";
import { z } from "zod";
import semver from "semver";
import { BUNDLE_ID_PATTERN } from "../../engine/manifest/manifest.ts";
import { errorResponse } from "./errors.ts";

/** A semver version as the admin API accepts it (at most 256 characters). */
export const versionSchema: z.ZodType<string> = z.string().max(256).refine(
  (v) => semver.valid(v) === v,
  { message: "must be a semver version" },
);

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
}

/**
 * Reads a request's JSON body and checks it against a schema.
 *
 * @param c The request's context.
 * @param schema The body's shape.
 * @param optional Whether an empty body stands for `{}`.
 * @returns The checked body.
 * @throws {TypeError} For a body that is missing, not JSON, or not of the schema (each named).
 */
export async function jsonBody<T>(c: Context, schema: z.ZodType<T>, optional = false): Promise<T> {
  const text = await c.req.text();
  let value: unknown = {};
  if (text.trim() !== "") {
    try {
      value = JSON.parse(text);
    } catch {
      throw new TypeError("Request body is not valid JSON");
    }
  } else if (!optional) {
    throw new TypeError("Request body is required");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new TypeError(`Invalid request body: ${describe(parsed.error)}`);
  return parsed.data;
}

/**
 * The `:id` path parameter, checked as a bundle id.
 *
 * @param c The request's context.
 * @returns The id.
 * @throws {TypeError} When it is not a valid bundle id.
 */
export function idParam(c: Context): string {
  const id = c.req.param("id") ?? "";
  if (!BUNDLE_ID_PATTERN.test(id)) throw new TypeError(`Invalid bundle id "${id}"`);
  return id;
}

/**
 * The reply to a body over its limit, as a `bodyLimit` error handler.
 *
 * @param max The limit, bytes.
 * @returns A handler answering 413 `TOO_LARGE`.
 */
export function tooLarge(max: number): () => Response {
  return () => errorResponse(413, "TOO_LARGE", `Request body is larger than ${max} bytes`);
}
