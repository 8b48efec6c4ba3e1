/**
 * What a call over HTTP carries besides its body: the route headers (`x-route-id`,
 * `x-route-type` + `x-route-pattern`, `x-route-params`, `x-mock`), `x-timeout-ms`, and the
 * bounded JSON body reader. Shared by `/rpc`, `/b/` and `/events`; the trace context
 * (`traceparent`, `tracestate`) is read by the engine's own W3C parser.
 *
 * @module
 */
import type { RouteSpec } from "../../engine/sdk/types.ts";
import { BundlehostError } from "../../engine/base/errors.ts";
import { readBody } from "../../engine/edge/http.ts";
import { compileLinearRegExp } from "../../engine/broker/linear_regex.ts";

const MAX_HEADER = 4096;

/** Reads a JSON object header; with `lists`, a value may also be an array (a RULE any-of). */
function jsonHeader(
  headers: Headers,
  name: string,
  lists = false,
): Record<string, string | string[]> | undefined {
  const raw = headers.get(name);
  if (raw === null) return undefined;
  if (raw.length > MAX_HEADER) throw new TypeError(`Header ${name} is longer than ${MAX_HEADER}`);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new TypeError(`Header ${name} must be a JSON object`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Header ${name} must be a JSON object`);
  }
  const out: Record<string, string | string[]> = {};
  const scalar = (v: unknown) => typeof v !== "object" || v === null;
  for (const [k, v] of Object.entries(value)) {
    if (lists && Array.isArray(v) && v.every(scalar)) out[k] = v.map(String);
    else if (scalar(v)) out[k] = String(v);
    else {
      throw new TypeError(
        `Header ${name}: value of "${k}" must be a string, number or boolean${
          lists ? ", or an array of them" : ""
        }`,
      );
    }
  }
  return out;
}

/**
 * Reads the route from the contract's headers (`x-route-id`, `x-route-type` + `x-route-pattern`,
 * `x-route-params`, `x-mock`).
 *
 * @param headers Request headers.
 * @returns The route, or `undefined` for the default route.
 * @throws {TypeError} For malformed route headers.
 */
export function routeFromHeaders(headers: Headers): RouteSpec | undefined {
  const id = headers.get("x-route-id");
  const type = headers.get("x-route-type");
  const pattern = headers.get("x-route-pattern");
  const paramsHeader = headers.get("x-route-params");
  const mock = headers.get("x-mock");
  // Most calls name no route: nothing is built for them (this runs on every /rpc call).
  if (id === null && type === null && pattern === null && paramsHeader === null && mock === null) {
    return undefined;
  }
  const route: RouteSpec = {};
  if (id !== null) {
    route.type = "ID";
    route.pattern = id;
  } else if (type !== null || pattern !== null) {
    if (type !== "ID" && type !== "REG" && type !== "RULE") {
      throw new TypeError('Header x-route-type must be "ID", "REG" or "RULE"');
    }
    if (pattern === null || pattern.length > MAX_HEADER) {
      throw new TypeError(
        "Header x-route-pattern is required with x-route-type (at most 4096 characters)",
      );
    }
    if (type === "REG") {
      try {
        // Compiled (and cached) here so the 400 names the header; the broker reuses the result.
        compileLinearRegExp(pattern);
      } catch (error) {
        throw new TypeError(`Header x-route-pattern: ${(error as Error).message}`);
      }
    }
    route.type = type;
    route.pattern = type === "RULE" ? jsonHeader(headers, "x-route-pattern", true) : pattern;
  }
  const params = jsonHeader(headers, "x-route-params") as Record<string, string> | undefined;
  if (params) route.params = params;
  if (mock !== null) {
    if (mock !== "force" && mock !== "fail") {
      throw new TypeError('Header x-mock must be "force" or "fail"');
    }
    route.mock = mock;
  }
  return Object.keys(route).length === 0 ? undefined : route;
}

const decoder = new TextDecoder();

/**
 * Reads `x-timeout-ms`: a positive integer of milliseconds. The engine clamps it to its
 * policy's `limits.maxTimeoutMs`, so a client can shorten a call but never extend it past the
 * operator's limit.
 *
 * @param raw The header's value, if sent.
 * @returns Milliseconds, or `undefined` when the header is absent.
 * @throws {BundlehostError} `BAD_INPUT` (400) naming the header when it is not a positive integer.
 */
export function timeoutHeader(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^[1-9][0-9]{0,31}$/.test(raw.trim())) {
    const shown = raw.length > 40 ? `${raw.slice(0, 40)}…` : raw;
    throw new BundlehostError(
      "BAD_INPUT",
      `Header x-timeout-ms must be a positive integer of milliseconds, got "${shown}"`,
    );
  }
  return Number(raw.trim());
}

/**
 * Reads a JSON body within `maxBytes`; an empty body is `null`.
 *
 * @param request The request.
 * @param maxBytes Largest body accepted.
 * @returns The parsed body.
 * @throws {BundlehostError} `TOO_LARGE` (413) or `BAD_INPUT` (400, not JSON).
 */
export async function jsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const bytes = await readBody(request, maxBytes);
  const text = bytes === null ? "" : decoder.decode(bytes);
  if (text.trim() === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new BundlehostError("BAD_INPUT", "Request body is not valid JSON");
  }
}
