/**
 * `GET /admin/metrics/history`: the engine's in-memory call history (calls, errors, p50 and p99
 * per interval, engine-wide and per bundle) for the console's live charts, without Prometheus.
 * `?bundle=<id>` keeps one bundle's series only, `?bundles=0` the engine-wide one only; the reply
 * is bounded by the engine's ring.
 *
 * @module
 */
import type { Hono } from "hono";
import type { Engine } from "../../engine/engine.ts";
import { BUNDLE_ID_PATTERN } from "../../engine/manifest/manifest.ts";

/**
 * Adds `GET /admin/metrics/history`. Register after the admin API so its token check runs first.
 *
 * @param app The app.
 * @param engine The engine.
 */
export function metricsAdminApi(app: Hono, engine: Engine): void {
  app.get("/admin/metrics/history", (c) => {
    const bundle = c.req.query("bundle");
    if (bundle !== undefined && !BUNDLE_ID_PATTERN.test(bundle)) {
      throw new TypeError(`Query parameter "bundle" must be a bundle id`);
    }
    const bundles = c.req.query("bundles");
    if (bundles !== undefined && bundles !== "0" && bundles !== "1") {
      throw new TypeError(`Query parameter "bundles" must be 0 or 1`);
    }
    const history = engine.metricsHistory();
    if (bundles === "0" && bundle === undefined) {
      return c.json({ ...history, samples: history.samples.map((s) => ({ ...s, bundles: {} })) });
    }
    if (bundle === undefined) return c.json(history);
    return c.json({
      ...history,
      samples: history.samples.map((s) => ({
        time: s.time,
        ...(s.bundles[bundle] ?? { calls: 0, errors: 0, p50Ms: null, p99Ms: null }),
        bundles: {},
      })),
    });
  });
}
