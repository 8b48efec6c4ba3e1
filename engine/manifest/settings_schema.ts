/**
 * The settings fields of `bundle.json`: `config` (a JSON object of defaults) and `secrets` (the
 * names of the secrets the bundle may read), their bounds, and how the operator's overrides are
 * merged over the defaults (a JSON Merge Patch, RFC 7386). The admin API checks overrides with the
 * same bounds, so a value that is refused in one place is refused in the other.
 *
 * @module
 */
import { z } from "zod";

/** A JSON object: what `config` defaults, overrides and `ctx.config` are. */
export type JsonObject = { [key: string]: unknown };

/** Secret names: an upper-case letter, then upper-case letters, digits or `_`; at most 64. */
export const SECRET_NAME_PATTERN: RegExp = /^[A-Z][A-Z0-9_]{0,63}$/;
/** Most secrets a bundle may declare. */
export const MAX_SECRETS = 32;
/** Largest config object (defaults, overrides, or the merged result), bytes of JSON. */
export const MAX_CONFIG_BYTES = 32 * 1024;
/** Deepest nesting of objects and arrays in a config object. */
export const MAX_CONFIG_DEPTH = 8;

const isObject = (v: unknown): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function depthOf(value: unknown, level: number): number {
  if (typeof value !== "object" || value === null) return level;
  let deepest = level + 1;
  if (deepest > MAX_CONFIG_DEPTH) return deepest;
  for (const item of Object.values(value)) deepest = Math.max(deepest, depthOf(item, level + 1));
  return deepest;
}

/**
 * What is wrong with a config object, if anything: not an object, larger than
 * {@linkcode MAX_CONFIG_BYTES} as JSON, or nested deeper than {@linkcode MAX_CONFIG_DEPTH}.
 *
 * @param value A parsed JSON value.
 * @returns The problem in words, or `undefined` when the value is a valid config object.
 *
 * @example Too deep
 * ```ts
 * import { configProblem } from "./settings_schema.ts";
 * console.log(configProblem({ a: { b: 1 } })); // undefined
 * console.log(configProblem([1])); // "must be a JSON object"
 * ```
 */
export function configProblem(value: unknown): string | undefined {
  if (!isObject(value)) return "must be a JSON object";
  const bytes = new TextEncoder().encode(JSON.stringify(value)).byteLength;
  if (bytes > MAX_CONFIG_BYTES) {
    return `is ${bytes} bytes of JSON, more than ${MAX_CONFIG_BYTES}`;
  }
  if (depthOf(value, 0) > MAX_CONFIG_DEPTH) {
    return `is nested deeper than ${MAX_CONFIG_DEPTH} levels`;
  }
  return undefined;
}

/**
 * Merges the operator's overrides over a bundle's defaults as a JSON Merge Patch (RFC 7386):
 * objects merge key by key at every depth, any other value (array, string, number, boolean)
 * replaces the default, and `null` removes the key. Neither argument is changed.
 *
 * @param defaults The manifest's `config`.
 * @param overrides The operator's overrides.
 * @returns A new object.
 *
 * @example A nested key overridden, a sibling kept, a key removed
 * ```ts
 * import { mergeConfig } from "./settings_schema.ts";
 * const merged = mergeConfig({ db: { host: "a", port: 5432 }, debug: true }, { db: { host: "b" }, debug: null });
 * console.log(merged); // { db: { host: "b", port: 5432 } }
 * ```
 */
export function mergeConfig(defaults: JsonObject, overrides: JsonObject): JsonObject {
  const out: JsonObject = structuredClone(defaults);
  for (const [key, value] of Object.entries(overrides)) {
    if (value === null) delete out[key];
    else if (isObject(value)) {
      const base = out[key];
      out[key] = mergeConfig(isObject(base) ? base : {}, value);
    } else out[key] = structuredClone(value);
  }
  return out;
}

/**
 * `config` of `bundle.json`: a bounded JSON object of defaults. Checked as a whole by
 * {@linkcode configProblem}, so a wrong type is named as such ("must be a JSON object").
 */
export const CONFIG_FIELD = z.unknown().superRefine((v, ctx) => {
  const problem = configProblem(v);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
}).meta({ type: "object" }).default({});

/** `secrets` of `bundle.json`: distinct names the bundle may read with `ctx.secrets.get`. */
export const SECRETS_FIELD = z.array(
  z.string().max(64).regex(SECRET_NAME_PATTERN, {
    message: "is not a secret name (upper-case letters, digits and _, starting with a letter)",
  }),
).max(MAX_SECRETS, { message: `declares more than ${MAX_SECRETS} secrets` })
  .refine((v) => new Set(v).size === v.length, { message: "names a secret twice" })
  .default([]);
