/**
 * Example bundle using the engine's storage, with no permissions at all: every page visit is
 * counted in `ctx.kv` (durable, the bundle's own Deno KV namespace, updated with a check-and-set
 * so concurrent instances never lose a count), and the summary of the busiest pages is kept in
 * `ctx.cache` for ten seconds (shared by the bundle's instances).
 *
 * - `GET /b/visits/<any path>` counts a visit to that path and returns its count.
 * - `GET /b/visits/_top` returns the busiest pages (from the cache when fresh).
 * - `DELETE /b/visits/<path>` forgets a page.
 *
 * @module
 */
import { type BundleContext, defineBundle } from "@bundlehost/sdk/bundle";

/** How long the summary is cached, ms. */
const SUMMARY_TTL_MS = 10_000;

interface Summary {
  pages: { path: string; visits: number }[];
  computedAt: string;
}

/**
 * Adds one visit to a page: when another visit wrote first, it reads again and retries after a
 * short random pause (each round, at least one of the competing writers wins).
 */
async function count(ctx: BundleContext, path: string): Promise<number> {
  const key = ["visits", path];
  for (let attempt = 0; attempt < 64; attempt++) {
    const current = await ctx.kv.get<number>(key);
    const next = (current.value ?? 0) + 1;
    const written = await ctx.kv.set(key, next, { versionstamp: current.versionstamp });
    if (written.ok) return next;
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 4 * (1 + attempt)));
  }
  throw new Error(`Too much contention counting ${path}`);
}

/** The ten busiest pages, read page by page from the namespace. */
async function summarize(ctx: BundleContext): Promise<Summary> {
  const pages: Summary["pages"] = [];
  let cursor: string | undefined;
  do {
    const page = await ctx.kv.list<number>({ prefix: ["visits"] }, {
      limit: 500,
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const entry of page.entries) {
      pages.push({ path: String(entry.key[1]), visits: entry.value });
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  pages.sort((a, b) => b.visits - a.visits || a.path.localeCompare(b.path));
  return { pages: pages.slice(0, 10), computedAt: new Date().toISOString() };
}

export default defineBundle({
  async fetch(request, ctx) {
    const path = new URL(request.url).pathname;
    if (path === "/_top") {
      const cached = await ctx.cache.get<Summary>("summary");
      if (cached !== undefined) return Response.json({ ...cached, cached: true });
      const summary = await summarize(ctx);
      await ctx.cache.set("summary", summary, { ttlMs: SUMMARY_TTL_MS });
      return Response.json({ ...summary, cached: false });
    }
    if (request.method === "DELETE") {
      await ctx.kv.delete(["visits", path]);
      await ctx.cache.delete("summary");
      return new Response(null, { status: 204 });
    }
    return Response.json({ path, visits: await count(ctx, path) });
  },
});
