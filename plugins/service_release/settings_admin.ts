/**
 * The settings routes of the admin API (README, "Config" and "Secrets"):
 * `GET|PUT /admin/bundles/:id/config` (the merged config; `?history` the kept revisions of the
 * overrides, `?overrides` the overrides alone), `GET /admin/bundles/:id/secrets` (names, never
 * values), `PUT|DELETE /admin/bundles/:id/secrets/:name`. No route ever answers a secret's value.
 *
 * @module
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import type { Engine } from "../../engine/engine.ts";
import type { BundleConfigView } from "../../engine/runtime/bundle_settings.ts";

async function parseJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") throw new TypeError("Request body is required");
  try {
    return JSON.parse(text);
  } catch {
    throw new TypeError("Request body is not valid JSON");
  }
}

function configReply(c: Context, view: BundleConfigView): Response {
  c.header("x-config-revision", String(view.revision));
  if (view.version !== "") c.header("x-bundle-version", view.version);
  c.header("cache-control", "no-store");
  return c.json(view.config);
}

/**
 * Adds the settings routes to a Hono app (behind the admin token middleware).
 *
 * @param app The app.
 * @param engine The engine.
 * @param idParam Reads and checks the `:id` path parameter.
 * @param json The JSON body size limit.
 */
export function settingsAdminApi(
  app: Hono,
  engine: Engine,
  idParam: (c: Context) => string,
  json: MiddlewareHandler,
): void {
  app.get("/admin/bundles/:id/config", async (c) => {
    const id = idParam(c);
    if (c.req.query("history") !== undefined) {
      return c.json({ id, revisions: await engine.settings.configHistory(id) });
    }
    const view = await engine.settings.getConfig(id);
    if (c.req.query("overrides") !== undefined) {
      return c.json(view.overrides, 200, { "x-config-revision": String(view.revision) });
    }
    return configReply(c, view);
  });

  app.put("/admin/bundles/:id/config", json, async (c) => {
    const id = idParam(c);
    return configReply(c, await engine.settings.putConfig(id, await parseJson(c)));
  });

  app.get("/admin/bundles/:id/secrets", async (c) => {
    return c.json(await engine.settings.listSecrets(idParam(c)), 200, {
      "cache-control": "no-store",
    });
  });

  app.put("/admin/bundles/:id/secrets/:name", json, async (c) => {
    const id = idParam(c);
    const body = await parseJson(c);
    if (
      typeof body !== "object" || body === null || Array.isArray(body) ||
      Object.keys(body).some((k) => k !== "value") || !("value" in body)
    ) {
      throw new TypeError('Request body must be {"value": "…"}');
    }
    const name = c.req.param("name") ?? "";
    return c.json(await engine.settings.putSecret(id, name, body.value));
  });

  app.delete("/admin/bundles/:id/secrets/:name", async (c) => {
    const id = idParam(c);
    const name = c.req.param("name") ?? "";
    await engine.settings.deleteSecret(id, name);
    return c.json({ id, deleted: name });
  });
}
