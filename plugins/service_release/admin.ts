/**
 * The admin API (`/admin/*`): bearer-token protected JSON routes for releases, lifecycle,
 * rollback, traffic and phased releases (canary), rules, settings, logs, types and metrics. Bodies
 * are size-limited and validated; every error is a JSON body with a code and a message. This module
 * checks the token and serves the bundle list, status, lifecycle verbs and rules; each other group
 * of routes is a module of its own.
 *
 * @module
 */
import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Engine } from "../../engine/engine.ts";
import { errorResponse } from "./errors.ts";
import { bearerMatches } from "./token.ts";
import { idParam, tooLarge } from "./admin_body.ts";
import { bundleView } from "./bundle_view.ts";
import { releasesAdminApi } from "./releases_admin.ts";
import { trafficAdminApi } from "./traffic_admin.ts";
import { logsAdminApi } from "./logs_admin.ts";
import { typesAdminApi } from "./types_admin.ts";
import { settingsAdminApi } from "./settings_admin.ts";
import { metricsAdminApi } from "./metrics_admin.ts";

/** Options of the admin API. */
export interface AdminOptions {
  /** Returns the admin token (loaded at setup). */
  token(): string;
  /** Largest JSON body, bytes. */
  maxJsonBytes: number;
  /** Largest release archive, bytes. */
  maxArchiveBytes: number;
}

/**
 * Adds the admin routes to a Hono app.
 *
 * @param app The app.
 * @param engine The engine.
 * @param options Token and limits.
 */
export function adminApi(app: Hono, engine: Engine, options: AdminOptions): void {
  app.use("/admin/*", async (c, next) => {
    if (!bearerMatches(c.req.header("authorization") ?? null, options.token())) {
      return errorResponse(401, "UNAUTHORIZED", "Missing or wrong bearer token");
    }
    return await next();
  });

  const json = bodyLimit({
    maxSize: options.maxJsonBytes,
    onError: tooLarge(options.maxJsonBytes),
  });

  app.get("/admin/bundles", async (c) => {
    const entries = await engine.registry.list();
    return c.json(await Promise.all(entries.map((e) => bundleView(engine, e.record.id))));
  });

  app.get("/admin/bundles/:id", async (c) => {
    return c.json(await bundleView(engine, idParam(c)));
  });

  app.get("/admin/status", async (c) => {
    // Cluster mode adds every engine and what it runs.
    const cluster = await engine.clusterStatus();
    return c.json(cluster ? { ...engine.status(), cluster } : engine.status());
  });

  releasesAdminApi(app, engine, options);

  app.post("/admin/bundles/:id/start", async (c) => {
    const id = idParam(c);
    await engine.registry.start(id);
    return c.json(await bundleView(engine, id));
  });

  app.post("/admin/bundles/:id/stop", async (c) => {
    const id = idParam(c);
    await engine.registry.stop(id);
    return c.json(await bundleView(engine, id));
  });

  app.delete("/admin/bundles/:id", async (c) => {
    const id = idParam(c);
    await engine.registry.delete(id);
    return c.json({ deleted: id });
  });

  app.get("/admin/rules", (c) => c.json(engine.rules));

  app.put("/admin/rules", json, async (c) => {
    const text = await c.req.text();
    let rules: unknown;
    try {
      rules = JSON.parse(text);
    } catch {
      throw new TypeError("Request body is not valid JSON");
    }
    return c.json(await engine.setRules(rules));
  });

  trafficAdminApi(app, engine, json);
  logsAdminApi(app, engine, idParam);
  typesAdminApi(app, engine, idParam);
  settingsAdminApi(app, engine, idParam, json);
  metricsAdminApi(app, engine);
}
