/**
 * The admin API's traffic verbs: `POST /admin/bundles/:id/rollback` (to the previous or a named
 * version), `PUT /admin/bundles/:id/traffic` (weights between versions) and
 * `POST /admin/bundles/:id/canary` (a phased release: steps, their length and the error and latency
 * bounds that stop it). Each is durable before it answers.
 *
 * @module
 */
import type { Hono, MiddlewareHandler } from "hono";
import { z } from "zod";
import type { Engine } from "../../engine/engine.ts";
import { idParam, jsonBody, versionSchema } from "./admin_body.ts";
import { bundleView } from "./bundle_view.ts";

const rollbackBody = z.strictObject({ version: versionSchema.optional() });
// The shape only: the bounds are checked once, by the registry (engine/core/weights.ts).
const trafficBody = z.strictObject({ weights: z.record(versionSchema, z.number()) });
const canaryBody = z.strictObject({
  version: versionSchema,
  steps: z.array(z.number().int().min(1).max(100)).min(1).max(20)
    .refine((s) => s.every((w, i) => i === 0 || w > s[i - 1]!), {
      message: "must be strictly increasing",
    }).optional(),
  stepMs: z.number().int().min(10).max(86_400_000).optional(),
  maxErrorRatio: z.number().min(0).max(1).optional(),
  maxLatencyMs: z.number().int().min(1).max(600_000).optional(),
  minCalls: z.number().int().min(0).max(1_000_000).optional(),
});

/**
 * Adds the traffic verbs to a Hono app (behind the admin API's token check).
 *
 * @param app The app.
 * @param engine The engine.
 * @param json The JSON body size limit.
 */
export function trafficAdminApi(app: Hono, engine: Engine, json: MiddlewareHandler): void {
  app.post("/admin/bundles/:id/rollback", json, async (c) => {
    const id = idParam(c);
    const body = await jsonBody(c, rollbackBody, true);
    const active = await engine.registry.rollback(id, body.version);
    return c.json({ id, active });
  });

  app.post("/admin/bundles/:id/canary", json, async (c) => {
    const id = idParam(c);
    const { version, ...options } = await jsonBody(c, canaryBody);
    await engine.registry.canary(id, version, options);
    return c.json(await bundleView(engine, id), 202);
  });

  app.put("/admin/bundles/:id/traffic", json, async (c) => {
    const id = idParam(c);
    const body = await jsonBody(c, trafficBody);
    await engine.registry.setTraffic(id, body.weights);
    return c.json(await bundleView(engine, id));
  });
}
