/**
 * Guards for values that arrive from a guest: checked before any field is trusted.
 *
 * @module
 */

/** A plain record as a message arrives. */
export type Obj = Record<string, unknown>;

/**
 * Whether a value is an object and not an array.
 *
 * @param v The value.
 * @returns Whether it is a record.
 */
export const isObj = (v: unknown): v is Obj =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Whether a value is a message or stream id: a non-negative safe integer.
 *
 * @param v The value.
 * @returns Whether it is an id.
 */
export const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * A string cut to `max` characters (with an ellipsis when cut); anything else is `undefined`.
 *
 * @param v The value.
 * @param max Longest kept.
 * @returns The string, bounded.
 */
export const boundedString = (v: unknown, max: number): string | undefined =>
  typeof v === "string" ? (v.length > max ? `${v.slice(0, max)}…` : v) : undefined;

/** A service, method or error name: an identifier, dots allowed, at most 128 characters. */
export const DOTTED_NAME = /^[A-Za-z_$][A-Za-z0-9_$.]{0,127}$/;
