/**
 * `POST /admin/releases`: stores, vets, installs and (unless `?activate=false`) activates a
 * version, from a folder on the engine's machine (`application/json` `{"path": "…"}`) or from an
 * uploaded tar or tar.gz. The reply is `201` for a new version, `200` for one already stored.
 *
 * @module
 */
import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import type { Engine } from "../../engine/engine.ts";
import { errorResponse } from "./errors.ts";
import { jsonBody, tooLarge } from "./admin_body.ts";

const releaseBody = z.strictObject({ path: z.string().min(1).max(4096) });

/** Media types of an uploaded release archive. */
const ARCHIVE_TYPES = [
  "application/x-tar",
  "application/gzip",
  "application/x-gzip",
  "application/octet-stream",
];

/** Limits of the releases route. */
export interface ReleaseLimits {
  /** Largest JSON body, bytes. */
  maxJsonBytes: number;
  /** Largest release archive, bytes. */
  maxArchiveBytes: number;
}

/**
 * Adds `POST /admin/releases` to a Hono app (behind the admin API's token check).
 *
 * @param app The app.
 * @param engine The engine.
 * @param limits Body limits.
 */
export function releasesAdminApi(app: Hono, engine: Engine, limits: ReleaseLimits): void {
  const { maxJsonBytes, maxArchiveBytes } = limits;
  app.post(
    "/admin/releases",
    bodyLimit({ maxSize: maxArchiveBytes, onError: tooLarge(maxArchiveBytes) }),
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
          Number(c.req.header("content-length") ?? "0") > maxJsonBytes ||
          (await c.req.arrayBuffer()).byteLength > maxJsonBytes
        ) {
          return tooLarge(maxJsonBytes)();
        }
        const body = await jsonBody(c, releaseBody);
        result = await engine.registry.release({ path: body.path }, { activate });
      } else if (ARCHIVE_TYPES.includes(type)) {
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
}
