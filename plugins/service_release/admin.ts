/**
 * The admin API (`/admin/*`): bearer-token protected JSON routes for releases, lifecycle,
 * rollback, traffic and phased releases (canary). Bodies are size-limited and validated; every error is a JSON body with a
 * code and a message.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import semver from "semver";
import type { Engine } from "../../engine/engine.ts";
import { BUNDLE_ID_PATTERN } from "../../engine/manifest/manifest.ts";
import { NotFoundError } from "../../engine/base/errors.ts";
import { errorResponse } from "./errors.ts";
import { bearerMatches } from "./token.ts";
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

const versionSchema = z.string().max(256).refine((v) => semver.valid(v) === v, {
  message: "must be a semver version",
});
const releaseBody = z.strictObject({ path: z.string().min(1).max(4096) });
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

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
}

async function jsonBody<T>(c: Context, schema: z.ZodType<T>, optional = false): Promise<T> {
  const text = await c.req.text();
  let value: unknown = {};
  if (text.trim() !== "") {
    try {
      value = JSON.parse(text);
    } catch {
      throw new TypeError("Request body is not valid JSON");
    }
  } else if (!optional) {
    throw new TypeError("Request body is required");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new TypeError(`Invalid request body: ${describe(parsed.error)}`);
  return parsed.data;
}

/**
 * Adds the admin routes to a Hono app.
 *
 * @param app The app.
 * @param engine The engine.
 * @param options Token and limits.
 */
export function adminApi(app: Hono, engine: Engine, options: AdminOptions): void {
  const tooLarge = (max: number) => () =>
    errorResponse(413, "TOO_LARGE", `Request body is larger than ${max} bytes`);
  const idParam = (c: Context): string => {
    const id = c.req.param("id") ?? "";
    if (!BUNDLE_ID_PATTERN.test(id)) throw new TypeError(`Invalid bundle id "${id}"`);
    return id;
  };
  const bundleView = async (id: string) => {
    const entry = await engine.registry.get(id);
    let runtime;
    try {
      runtime = engine.bundle(id);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    const live = engine.registry.canaryProgress(id);
    return {
      id,
      state: runtime?.state ?? "RESOLVED",
      active: entry.record.active,
      desired: entry.record.desired,
      ...(entry.record.weights ? { weights: entry.record.weights } : {}),
      ...(entry.record.canary
        ? { canary: { ...entry.record.canary, ...(live ? { live } : {}) } }
        : {}),
      history: entry.record.history,
      releases: entry.releases,
      revisions: runtime?.revisions ?? [],
      ...(runtime?.governance ? { governance: runtime.governance } : {}),
      logsDropped: runtime?.logsDropped ?? 0,
    };
  };

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
    return c.json(await Promise.all(entries.map((e) => bundleView(e.record.id))));
  });

  app.get("/admin/bundles/:id", async (c) => {
    return c.json(await bundleView(idParam(c)));
  });

  app.get("/admin/status", async (c) => {
    // Cluster mode adds every engine and what it runs.
    const cluster = await engine.clusterStatus();
    return c.json(cluster ? { ...engine.status(), cluster } : engine.status());
  });

  app.post(
    "/admin/releases",
    bodyLimit({ maxSize: options.maxArchiveBytes, onError: tooLarge(options.maxArchiveBytes) }),
    async (c) => {
      const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      // `?activate=false` stores and installs the version without moving traffic (for a canary).
      const activateParam = c.req.query("activate");
      if (activateParam !== undefined && activateParam !== "true" && activateParam !== "false") {
        throw new TypeError('Query parameter "activate" must be true or false');
      }
      const activate = activateParam !== "false";
      let result;
      if (type === "application/json") {
        // Checked on the bytes too: a chunked body has no content-length to trust.
        if (
          Number(c.req.header("content-length") ?? "0") > options.maxJsonBytes ||
          (await c.req.arrayBuffer()).byteLength > options.maxJsonBytes
        ) {
          return tooLarge(options.maxJsonBytes)();
        }
        const body = await jsonBody(c, releaseBody);
        result = await engine.registry.release({ path: body.path }, { activate });
      } else if (
        [
          "application/x-tar",
          "application/gzip",
          "application/x-gzip",
          "application/octet-stream",
        ]
          .includes(type)
      ) {
        const archive = new Uint8Array(await c.req.arrayBuffer());
        if (archive.byteLength === 0) {
          throw new TypeError("Request body is empty; send a tar or tar.gz");
        }
        result = await engine.registry.release({ archive }, { activate });
      } else {
        return errorResponse(
          415,
          "UNSUPPORTED_MEDIA_TYPE",
          'Send application/json {"path": "…"} or a tar / tar.gz body (application/x-tar, application/gzip)',
        );
      }
      return c.json(result, result.created ? 201 : 200);
    },
  );

  app.post("/admin/bundles/:id/start", async (c) => {
    const id = idParam(c);
    await engine.registry.start(id);
    return c.json(await bundleView(id));
  });

  app.post("/admin/bundles/:id/stop", async (c) => {
    const id = idParam(c);
    await engine.registry.stop(id);
    return c.json(await bundleView(id));
  });

  app.delete("/admin/bundles/:id", async (c) => {
    const id = idParam(c);
    await engine.registry.delete(id);
    return c.json({ deleted: id });
  });

  app.post("/admin/bundles/:id/rollback", json, async (c) => {
    const id = idParam(c);
    const body = await jsonBody(c, rollbackBody, true);
    const active = await engine.registry.rollback(id, body.version);
    return c.json({ id, active });
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

  app.post("/admin/bundles/:id/canary", json, async (c) => {
    const id = idParam(c);
    const { version, ...options } = await jsonBody(c, canaryBody);
    await engine.registry.canary(id, version, options);
    return c.json(await bundleView(id), 202);
  });

  app.put("/admin/bundles/:id/traffic", json, async (c) => {
    const id = idParam(c);
    const body = await jsonBody(c, trafficBody);
    await engine.registry.setTraffic(id, body.weights);
    return c.json(await bundleView(id));
  });

  logsAdminApi(app, engine, idParam);
  typesAdminApi(app, engine, idParam);
  settingsAdminApi(app, engine, idParam, json);
  metricsAdminApi(app, engine);
}
