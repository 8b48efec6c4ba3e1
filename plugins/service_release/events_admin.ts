/**
 * Admin routes of the event bus (README, "Events"): dead letters (list, show, replay, delete) and
 * stats. They sit under `/admin/`, behind the admin API's bearer token.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import type { Engine } from "../../engine/engine.ts";

/** Dead letter (delivery) ids: `<event id>~<n>`. */
const LETTER_ID = /^[0-9a-z]{1,16}-[0-9a-f]{16}~[0-9]{1,4}$/;

function letterId(c: Context): string {
  const id = c.req.param("id") ?? "";
  if (!LETTER_ID.test(id)) throw new TypeError(`Invalid dead letter id "${id.slice(0, 64)}"`);
  return id;
}

/**
 * Adds `GET /admin/events/stats`, `GET /admin/events/dead-letters[/:id]`,
 * `POST /admin/events/dead-letters/:id/replay` and `DELETE /admin/events/dead-letters/:id`.
 * Register after the admin API so its token check runs first.
 *
 * @param app The app.
 * @param engine The engine.
 */
export function eventsAdminApi(app: Hono, engine: Engine): void {
  app.get("/admin/events/stats", async (c) => {
    return c.json(await engine.eventBus.stats());
  });

  app.get("/admin/events/dead-letters", async (c) => {
    const limitParam = c.req.query("limit");
    const after = c.req.query("after");
    if (limitParam !== undefined && !/^[1-9][0-9]{0,3}$/.test(limitParam)) {
      throw new TypeError('Query parameter "limit" must be an integer from 1 to 1000');
    }
    if (after !== undefined && !LETTER_ID.test(after)) {
      throw new TypeError('Query parameter "after" must be a dead letter id');
    }
    const limit = limitParam === undefined ? 100 : Math.min(Number(limitParam), 1000);
    return c.json(await engine.eventBus.deadLetters({ limit, ...(after ? { after } : {}) }));
  });

  app.get("/admin/events/dead-letters/:id", async (c) => {
    return c.json(await engine.eventBus.deadLetter(letterId(c)));
  });

  app.post("/admin/events/dead-letters/:id/replay", async (c) => {
    const delivery = await engine.eventBus.replay(letterId(c));
    return c.json({ replayed: delivery.id, delivery }, 202);
  });

  app.delete("/admin/events/dead-letters/:id", async (c) => {
    const id = letterId(c);
    await engine.eventBus.deleteDeadLetter(id);
    return c.json({ deleted: id });
  });
}
