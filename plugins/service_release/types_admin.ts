/**
 * `GET /admin/bundles/:id/types[?version=]`: the contract a bundle publishes (its `bundle.json`
 * `types` file, README "Typed calls between bundles") of the active or a released version, as
 * plain text with `x-bundle: id@version`. A caller writes it into its own folder and imports its
 * interfaces for `ctx.broker.get<T>()`.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import semver from "semver";
import type { Engine } from "../../engine/engine.ts";
import { NotFoundError } from "../../engine/base/errors.ts";
import { readContract } from "../../engine/release/types_file.ts";

/**
 * Adds the contract route to a Hono app (behind the admin token middleware).
 *
 * @param app The app.
 * @param engine The engine.
 * @param idParam Reads and checks the `:id` path parameter.
 */
export function typesAdminApi(app: Hono, engine: Engine, idParam: (c: Context) => string): void {
  app.get("/admin/bundles/:id/types", async (c) => {
    const id = idParam(c);
    const asked = c.req.query("version");
    if (asked !== undefined && (asked.length > 256 || semver.valid(asked) !== asked)) {
      throw new TypeError('Query parameter "version" must be a semver version');
    }
    const entry = await engine.registry.get(id);
    const version = asked ?? entry.record.active;
    if (!entry.releases.some((r) => r.version === version)) {
      throw new NotFoundError(`Bundle ${id} has no released version "${version}"`);
    }
    const contract = await readContract(engine.registry.releaseDir(id, version));
    if (!contract) {
      throw new NotFoundError(
        `Bundle ${id}@${version} publishes no types: its bundle.json has no "types" field`,
      );
    }
    return c.body(contract.text, 200, {
      "content-type": "text/plain; charset=utf-8",
      "x-bundle": `${id}@${version}`,
      "cache-control": "no-store",
    });
  });
}
