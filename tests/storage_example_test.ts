/**
 * The example bundle `bundles/visits` in both tiers, through `testBundle`: counts survive in
 * `ctx.kv` with check-and-set under concurrent visits, and its summary is served from `ctx.cache`
 * until its TTL passes on the engine's manual clock.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ManualClock } from "../mod.ts";
import { testBundle } from "../engine/testing/mod.ts";
import { manualTime, ROOT } from "./_helpers.ts";
import { TIERS } from "./_storage.ts";

for (const tier of TIERS) {
  Deno.test(`bundles/visits (${tier} tier) counts in ctx.kv and caches its summary`, async () => {
    const clock = new ManualClock(Date.now());
    await using visits = await testBundle(`${ROOT}/bundles/visits`, {
      tier,
      engine: manualTime(clock),
    });
    const visit = async (path: string) => await (await visits.fetch(path)).json();
    assert.deepEqual(await visit("/home"), { path: "/home", visits: 1 });
    // Concurrent visits: the check-and-set loses none.
    await Promise.all(Array.from({ length: 12 }, () => visit("/home")));
    assert.deepEqual(await visit("/home"), { path: "/home", visits: 14 });
    await visit("/about");

    const first = await visit("/_top");
    assert.equal(first.cached, false);
    assert.deepEqual(first.pages, [{ path: "/home", visits: 14 }, { path: "/about", visits: 1 }]);
    await visit("/about");
    // Within its TTL the summary comes from the cache, stale by one visit.
    const again = await visit("/_top");
    assert.equal(again.cached, true);
    assert.deepEqual(again.pages, first.pages);
    await clock.advance(10_000);
    const fresh = await visit("/_top");
    assert.equal(fresh.cached, false);
    assert.deepEqual(fresh.pages[1], { path: "/about", visits: 2 });

    const removed = await visits.fetch("/home", { method: "DELETE" });
    assert.equal(removed.status, 204);
    assert.deepEqual((await visit("/_top")).pages, [{ path: "/about", visits: 2 }]);
  });
}
