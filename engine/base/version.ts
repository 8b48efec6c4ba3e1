/**
 * The engine's version, checked against plugins' `engine` ranges. A test keeps it equal to the
 * `version` in deno.json.
 *
 * @module
 */

/** Engine (and SDK) version. */
export const ENGINE_VERSION = "0.1.0";
