/**
 * One mapping from engine error codes to HTTP statuses and JSON error bodies, used by every route.
 *
 * @module
 */
import {
  BundleCallError,
  BundlehostError,
  type ErrorCode,
  ManifestError,
} from "../../engine/base/errors.ts";

/** HTTP status for each engine error code. */
export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  BAD_INPUT: 400,
  BAD_MANIFEST: 400,
  RELEASE_REFUSED: 422,
  NOT_FOUND: 404,
  BAD_STATE: 409,
  CONFLICT: 409,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
  BUNDLE_ERROR: 502,
  BUNDLE_CRASHED: 502,
  THROTTLED: 429,
  CIRCUIT_OPEN: 503,
  HOP_LIMIT: 508,
  PLUGIN: 500,
  INTERNAL: 500,
  TOO_LARGE: 413,
  CANCELLED: 499,
  BODY_TIMEOUT: 408,
  STORE_FULL: 507,
  FORBIDDEN: 403,
};

/** JSON body of every error reply. */
export interface ErrorBody {
  /** The error. */
  error: {
    /** Stable code, e.g. `"NOT_FOUND"`. */
    code: string;
    /** What went wrong, for people. */
    message: string;
    /** Offending manifest field, for `BAD_MANIFEST`. */
    field?: string;
    /** What the bundle threw, for `BUNDLE_ERROR`. */
    bundle?: { name: string; code?: string };
    /** Where in the bundle it was thrown, relative to its folder (`mod.ts:3:9`), when known. */
    at?: string;
  };
}

/**
 * Builds the JSON error reply for anything thrown.
 *
 * @param error What was thrown.
 * @param onInternal Called with errors that are not the caller's fault (to log them).
 * @returns Status and body.
 */
export function errorReply(
  error: unknown,
  onInternal?: (error: unknown) => void,
): { status: number; body: ErrorBody } {
  if (error instanceof BundlehostError) {
    const body: ErrorBody = { error: { code: error.code, message: error.message } };
    if (error instanceof ManifestError) body.error.field = error.field;
    if (error instanceof BundleCallError) {
      body.error.bundle = error.remote.code === undefined
        ? { name: error.remote.name }
        : { name: error.remote.name, code: error.remote.code };
      if (error.at !== undefined) body.error.at = error.at;
    }
    const status = STATUS_BY_CODE[error.code] ?? 500;
    if (status >= 500 && error.code === "INTERNAL") onInternal?.(error);
    return { status, body };
  }
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) {
    return { status: 400, body: { error: { code: "BAD_INPUT", message: error.message } } };
  }
  onInternal?.(error);
  return {
    status: 500,
    body: { error: { code: "INTERNAL", message: "Internal error; see the engine log" } },
  };
}

/**
 * A JSON error response.
 *
 * @param status HTTP status.
 * @param code Stable code.
 * @param message Message.
 * @returns The response.
 */
export function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } } satisfies ErrorBody, { status });
}
