/**
 * The service plane: `POST /rpc/:service/:method`, `POST /events/:topic`, `ANY /b/:bundleId/*`,
 * `GET /healthz`.
 *
 * @module
 */
import type { Hono } from "hono";
import type { Engine } from "../../engine/engine.ts";
import type { RouteSpec } from "../../engine/sdk/types.ts";
import type { CallRequest } from "../../engine/call/request.ts";
import { BundlehostError } from "../../engine/base/errors.ts";
import { readBody } from "../../engine/edge/http.ts";
import { MAX_EVENT_PAYLOAD_BYTES } from "../../engine/base/topic.ts";
import { compileLinearRegExp } from "../../engine/broker/linear_regex.ts";
import { errorResponse } from "./errors.ts";
import { confineResponse, isServiceWorkerScript } from "./origin.ts";
import { bearerMatches } from "./token.ts";

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
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
  const route: RouteSpec = {};
  const id = headers.get("x-route-id");
  const type = headers.get("x-route-type");
  const pattern = headers.get("x-route-pattern");
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
  const mock = headers.get("x-mock");
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
 * policy's `limits.maxTimeoutMs`, so a client can shorten a call but never extend it past the operator's limit.
 *
 * @throws {BundlehostError} `BAD_INPUT` (400) naming the header when it is not a positive integer.
 */
function timeoutHeader(raw: string | undefined): number | undefined {
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
 * @throws {BundlehostError} `TOO_LARGE` (413) or `BAD_INPUT` (400, not JSON).
 */
async function jsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const bytes = await readBody(request, maxBytes);
  const text = bytes === null ? "" : decoder.decode(bytes);
  if (text.trim() === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new BundlehostError("BAD_INPUT", "Request body is not valid JSON");
  }
}

/** Options of the service plane. */
export interface ServicePlaneOptions {
  /** Largest `/rpc` body, bytes. */
  maxRpcBodyBytes: number;
  /**
   * Tokens that may publish with `POST /events` (bearer); empty: anyone may publish. Read at
   * every request (the admin token is loaded at setup).
   */
  publishTokens?: () => string[];
}

/** Whether the request's bearer token is one of `tokens` (each compared in constant time). */
async function mayPublish(header: string | undefined, tokens: string[]): Promise<boolean> {
  const matches = await Promise.all(tokens.map((t) => bearerMatches(header ?? null, t)));
  return matches.some(Boolean);
}

/**
 * Adds the service-plane routes to a Hono app.
 *
 * @param app The app.
 * @param engine The engine.
 * @param options Limits.
 */
export function servicePlane(app: Hono, engine: Engine, options: ServicePlaneOptions): void {
  // Bodies are read with one bounded reader (Hono's bodyLimit middleware halved throughput here).
  app.post(
    "/rpc/:service/:method",
    async (c) => {
      const input = await jsonBody(c.req.raw, options.maxRpcBodyBytes);
      const route = routeFromHeaders(c.req.raw.headers);
      const timeoutMs = timeoutHeader(c.req.header("x-timeout-ms"));
      const traceparent = c.req.header("traceparent");
      const call: CallRequest = {
        service: c.req.param("service"),
        method: c.req.param("method"),
        input,
        // Aborts when the client disconnects: the bundle stops working on an answer nobody reads.
        signal: c.req.raw.signal,
      };
      if (route) call.route = route;
      if (timeoutMs !== undefined) call.timeoutMs = timeoutMs;
      if (traceparent && TRACEPARENT.test(traceparent)) call.traceparent = traceparent;
      const outcome = await engine.invoke(call);
      let body: string;
      try {
        body = JSON.stringify({ result: outcome.result ?? null });
      } catch (error) {
        return errorResponse(
          502,
          "BUNDLE_ERROR",
          `Bundle ${outcome.bundle} returned a result that is not JSON: ${
            (error as Error).message
          }`,
        );
      }
      // A header list, not a Headers object: one less object per call.
      const headers: [string, string][] = [
        ["content-type", "application/json"],
        ["x-bundle", outcome.bundle],
      ];
      if (outcome.degraded) headers.push(["x-degraded", outcome.degraded]);
      return new Response(body, { status: 200, headers });
    },
  );

  // Publishes the JSON body to a topic; 202 once the event is durably stored (README, "Events").
  app.post(
    "/events/:topic",
    async (c) => {
      const tokens = options.publishTokens?.() ?? [];
      if (tokens.length > 0 && !(await mayPublish(c.req.header("authorization"), tokens))) {
        return errorResponse(
          401,
          "UNAUTHORIZED",
          "Publishing requires a bearer token (the publish token or the admin token): missing or wrong",
        );
      }
      const payload = await jsonBody(c.req.raw, MAX_EVENT_PAYLOAD_BYTES);
      const traceparent = c.req.header("traceparent");
      const result = await engine.eventBus.publish(c.req.param("topic"), payload, {
        source: "http",
        ...(traceparent && TRACEPARENT.test(traceparent) ? { traceparent } : {}),
      });
      return c.json(result, 202);
    },
  );

  // Bundle pages share the engine's origin: see origin.ts for how a response is confined.
  app.all("/b/:bundleId/*", async (c) => {
    const id = c.req.param("bundleId");
    if (isServiceWorkerScript(c.req.raw)) {
      return confineResponse(
        errorResponse(403, "FORBIDDEN", "Service workers cannot be installed from /b/ paths"),
        `/b/${id}`,
      );
    }
    const url = new URL(c.req.url);
    const prefix = `/b/${id}`;
    const target = new URL(url.pathname.slice(prefix.length) || "/", url.origin);
    target.search = url.search;
    const headers = new Headers(c.req.raw.headers);
    headers.set("x-forwarded-prefix", prefix);
    const hasBody = c.req.method !== "GET" && c.req.method !== "HEAD";
    const forwarded = new Request(target, {
      method: c.req.method,
      headers,
      body: hasBody ? c.req.raw.body : null,
    });
    const traceparent = c.req.header("traceparent");
    const timeoutMs = timeoutHeader(c.req.header("x-timeout-ms"));
    const response = await engine.fetchBundle(id, forwarded, {
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(traceparent && TRACEPARENT.test(traceparent) ? { traceparent } : {}),
      // Aborts when the client disconnects: the bundle's ctx.signal aborts too.
      signal: c.req.raw.signal,
    });
    return confineResponse(response, prefix);
  });

  app.get("/healthz", (c) => {
    const status = engine.status();
    const active = status.bundles.filter((b) => b.state === "ACTIVE").length;
    return c.json({
      status: "ok",
      version: engine.version,
      uptimeMs: status.uptimeMs,
      bundles: { active, total: status.bundles.length },
    });
  });
}
