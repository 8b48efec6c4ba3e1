/**
 * The service plane: `POST /rpc/:service/:method`, `POST /events/:topic`, `ANY /b/:bundleId/*`,
 * `GET /healthz`.
 *
 * @module
 */
import type { Hono } from "hono";
import type { Engine } from "../../engine/engine.ts";
import { MAX_EVENT_PAYLOAD_BYTES } from "../../engine/base/topic.ts";
import { errorResponse } from "./errors.ts";
import { readTraceContext } from "../../engine/base/trace_context.ts";
import { jsonBody } from "./call_headers.ts";
import type { RpcHandler } from "./rpc.ts";
import type { BundlePageHandler } from "./bundle_page.ts";
import { bearerMatches } from "./token.ts";

/** Options of the service plane. */
export interface ServicePlaneOptions {
  /** The `/rpc` handler (the plugin also calls it without the router). */
  rpc: RpcHandler;
  /** The `/b/:bundleId/*` handler (the plugin also calls it without the router). */
  bundlePage: BundlePageHandler;
  /**
   * Tokens that may publish with `POST /events` (bearer); empty: anyone may publish. Read at
   * every request (the admin token is loaded at setup).
   */
  publishTokens?: () => string[];
}

/** Whether the request's bearer token is one of `tokens` (each compared in constant time). */
function mayPublish(header: string | undefined, tokens: string[]): boolean {
  // Every token is compared (no early exit), so timing does not tell which one matched.
  const matches = tokens.map((t) => bearerMatches(header ?? null, t));
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
  // The plugin answers /rpc before the router too; this route serves the same handler.
  app.post(
    "/rpc/:service/:method",
    (c) => options.rpc(c.req.raw, c.req.param("service"), c.req.param("method")),
  );

  // Publishes the JSON body to a topic; 202 once the event is durably stored (README, "Events").
  app.post(
    "/events/:topic",
    async (c) => {
      const tokens = options.publishTokens?.() ?? [];
      if (tokens.length > 0 && !mayPublish(c.req.header("authorization"), tokens)) {
        return errorResponse(
          401,
          "UNAUTHORIZED",
          "Publishing requires a bearer token (the publish token or the admin token): missing or wrong",
        );
      }
      const payload = await jsonBody(c.req.raw, MAX_EVENT_PAYLOAD_BYTES);
      const result = await engine.eventBus.publish(c.req.param("topic"), payload, {
        source: "http",
        ...readTraceContext(c.req.raw.headers),
      });
      return c.json(result, 202);
    },
  );

  // Bundle pages: the plugin answers plain paths before the router too (bundle_page.ts).
  app.all("/b/:bundleId/*", (c) => options.bundlePage(c.req.raw, c.req.param("bundleId")));

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
