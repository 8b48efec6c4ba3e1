/**
 * The testing helper a bundle author uses (`@bundlehost/sdk/testing`), in both tiers, on a real
 * engine with real sandboxes: mocked services answer the bundle's `ctx.broker` calls and record
 * them, a throwing mock fails the call as a real bundle's throw does, logs and publishes are
 * captured, `publish` runs the bundle's subscribers, and a manual event clock fires a schedule
 * and a retry.
 *
 * @module
 */
import assert from "node:assert/strict";
import { definePlugin } from "../mod.ts";
import type { IsolationTier } from "../engine/sdk/bundle.ts";
import { ManualClock, type MockCallMeta, testBundle } from "../engine/testing/mod.ts";
import { manifest, writeBundle } from "./_helpers.ts";

const SHOP = `
const seen = [];
let ticks = 0;
let failing = false;
const described = (error) => ({ name: error.name, code: error.code, message: error.message });
export default {
  services: {
    Shop: {
      async buy(input, ctx) {
        console.log("buying", input.sku);
        const { price } = await ctx.broker.get("PriceService").quote({ sku: input.sku });
        ctx.log.warn("price " + price);
        await ctx.events.publish("order.created", { sku: input.sku, price });
        return { sku: input.sku, price };
      },
      async tryBuy(input, ctx) {
        try { return await ctx.broker.get("PriceService").quote({ sku: input.sku }); }
        catch (error) { return described(error); }
      },
      async quoteWithin(input, ctx) {
        try { return await ctx.broker.call("PriceService", "quote", {}, { timeoutMs: input.ms }); }
        catch (error) { return described(error); }
      },
      async stock(_input, ctx) {
        try { return await ctx.broker.get("StockService").check({}); }
        catch (error) { return described(error); }
      },
      onStock(event) {
        if (failing) { failing = false; throw new Error("not yet"); }
        seen.push(event.payload);
        return { ok: true };
      },
      failNext() { failing = true; return failing; },
      seen: () => seen,
      tick() { ticks++; return ticks; },
      ticks: () => ticks,
    },
  },
  hooks: { onStart() { console.info("shop ready"); } },
};`;

const PRICES = `
export default {
  services: {
    PriceService: {
      quote() { throw Object.assign(new RangeError("no price"), { code: "NO_PRICE" }); },
    },
  },
};`;

const MIN = 60_000;

/** A temporary folder with the shop bundle (and a real prices bundle that always throws). */
async function folders() {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-testing-helper-" });
  const shop = await writeBundle(
    root,
    manifest("shop", {
      services: { Shop: "1.0.0" },
      subscribe: { "stock.changed": "Shop.onStock" },
      schedule: { "*/5 * * * *": "Shop.tick" },
      scaling: { minWorkers: 1, maxWorkers: 1 },
    }),
    { "mod.ts": SHOP },
  );
  const prices = await writeBundle(
    root,
    manifest("prices", { services: { PriceService: "1.0.0" } }),
    { "mod.ts": PRICES },
  );
  return {
    shop,
    prices,
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

for (const tier of ["worker", "process"] as IsolationTier[]) {
  Deno.test(`testBundle mocks the services a ${tier}-tier bundle calls and captures its output`, async () => {
    await using dirs = await folders();
    const seen: string[] = [];
    const probe = definePlugin({
      name: "probe",
      wrapCall: async (call, next) => {
        const outcome = await next(call);
        // The shop's schedule may fire on the real clock meanwhile.
        if (call.method !== "tick") {
          seen.push(`${call.service}.${call.method} -> ${outcome.bundle}`);
        }
        return outcome;
      },
    });
    const metas: MockCallMeta[] = [];
    await using t = await testBundle(dirs.shop, {
      tier,
      engine: { plugins: [probe] },
      mocks: {
        PriceService: {
          quote: (input: { sku: string }, meta) => {
            metas.push(meta);
            return { price: input.sku.length * 10 };
          },
        },
      },
    });
    assert.equal(t.engine.bundle("shop").revisions[0]?.isolation, tier);
    assert.deepEqual(await t.call("Shop", "buy", { sku: "tea" }), { sku: "tea", price: 30 });
    assert.deepEqual(await t.call("Shop", "buy", { sku: "coffee" }), { sku: "coffee", price: 60 });

    const calls = t.mockCalls("PriceService", "quote");
    assert.deepEqual(calls.map((c) => [c.input, c.hops, c.result]), [
      [{ sku: "tea" }, 1, { price: 30 }],
      [{ sku: "coffee" }, 1, { price: 60 }],
    ]);
    assert.deepEqual(t.mockCalls("PriceService", "other"), []);
    assert.ok(metas.every((m) => m.service === "PriceService" && m.deadline > Date.now()));
    // Plugins around the call path see the mock as the bundle that served.
    assert.deepEqual(seen, [
      "PriceService.quote -> mock:PriceService@0.0.0",
      "Shop.buy -> shop@1.0.0",
      "PriceService.quote -> mock:PriceService@0.0.0",
      "Shop.buy -> shop@1.0.0",
    ]);

    assert.deepEqual(t.logs.map((r) => `${r.level} ${r.bundle}@${r.version} ${r.message}`), [
      "info shop@1.0.0 shop ready",
      "info shop@1.0.0 buying tea",
      "warn shop@1.0.0 price 30",
      "info shop@1.0.0 buying coffee",
      "warn shop@1.0.0 price 60",
    ]);
    assert.deepEqual(t.published.map((e) => [e.topic, e.payload, e.bundle, e.deliveries]), [
      ["order.created", { sku: "tea", price: 30 }, "shop@1.0.0", 0],
      ["order.created", { sku: "coffee", price: 60 }, "shop@1.0.0", 0],
    ]);

    // A service neither mocked nor released fails as in production.
    assert.deepEqual(await t.call("Shop", "stock"), {
      name: "NotFoundError",
      code: "NOT_FOUND",
      message: "No active bundle provides service StockService",
    });
  });

  Deno.test(`testBundle: a throwing mock fails a ${tier}-tier bundle's call as a real bundle does`, async () => {
    await using dirs = await folders();
    const fail = () => {
      throw Object.assign(new RangeError("no price"), { code: "NO_PRICE" });
    };
    let mocked: unknown;
    {
      await using t = await testBundle(dirs.shop, {
        tier,
        mocks: { PriceService: { quote: fail } },
      });
      mocked = await t.call("Shop", "tryBuy", { sku: "tea" });
      const [call] = t.mockCalls("PriceService");
      assert.ok(call?.error instanceof Error && call.result === undefined);
      // A method the mock lacks is NOT_FOUND, naming what it has.
      await assert.rejects(
        t.call("PriceService", "list"),
        /Mock of PriceService has no method "list" \(it has: quote\)/,
      );
    }
    await using real = await testBundle(dirs.shop, { tier, with: [dirs.prices] });
    const fromBundle = await real.call("Shop", "tryBuy", { sku: "tea" });
    assert.deepEqual(mocked, {
      name: "BundleCallError",
      code: "BUNDLE_ERROR",
      message: "Bundle mock:PriceService@0.0.0 failed: RangeError: no price",
    });
    assert.deepEqual(fromBundle, {
      name: "BundleCallError",
      code: "BUNDLE_ERROR",
      message: "Bundle prices@1.0.0 failed: RangeError: no price",
    });
  });
}

Deno.test("testBundle publish runs the bundle's subscriber and reports the delivery", async () => {
  await using dirs = await folders();
  await using t = await testBundle(dirs.shop, { tier: "worker" });
  const report = await t.publish("stock.changed", { sku: "tea", left: 3 });
  assert.deepEqual(report.deliveries, [
    { bundle: "shop", handler: "Shop.onStock", outcome: "delivered" },
  ]);
  assert.deepEqual(await t.call("Shop", "seen"), [{ sku: "tea", left: 3 }]);
  // The test's own publishes are not the bundle's.
  assert.deepEqual(t.published, []);
  assert.deepEqual((await t.publish("nobody.listens")).deliveries, []);
  assert.throws(() => t.clock, /runs on the system clock: pass \{ clock: "manual" \}/);
  await assert.rejects(t.advance(1), TypeError);
  await assert.rejects(
    testBundle(dirs.shop, { clock: "Manual" as "manual" }),
    /Unknown clock "Manual": use "system", "manual" or a ManualClock/,
  );
});

Deno.test("testBundle on a manual clock fires a schedule and a retry when the test moves time", async () => {
  await using dirs = await folders();
  // A clock of the test's own starts when the test says: 2 minutes past midnight.
  const start = Date.UTC(2030, 0, 1, 0, 2);
  const clock = new ManualClock(start);
  await using t = await testBundle(dirs.shop, { tier: "process", clock });
  assert.equal(t.clock, clock);
  await t.settle();
  assert.equal(await t.call("Shop", "ticks"), 0);
  // The schedule fires at 00:05, not a millisecond before; real time barely moves.
  await t.advance(3 * MIN - 1);
  assert.equal(await t.call("Shop", "ticks"), 0);
  await t.advance(1);
  assert.equal(await t.call("Shop", "ticks"), 1);
  await t.advance(10 * MIN);
  assert.equal(await t.call("Shop", "ticks"), 3);
  assert.equal(t.clock.now(), start + 13 * MIN);

  // A failed delivery waits for its backoff on the same clock.
  await t.call("Shop", "failNext");
  const [first] = (await t.publish("stock.changed", { sku: "tea" })).deliveries;
  assert.equal(first?.outcome, "retry");
  assert.match(first?.error ?? "", /not yet/);
  assert.deepEqual(await t.call("Shop", "seen"), []);
  await t.advance(first!.delayMs! - 1);
  assert.deepEqual(await t.call("Shop", "seen"), []);
  await t.advance(1);
  assert.deepEqual(await t.call("Shop", "seen"), [{ sku: "tea" }]);
  await assert.rejects(t.advance(-1), RangeError);
});

Deno.test("testBundle: a mock that never answers is bounded by the call's deadline and signal", async () => {
  await using dirs = await folders();
  const never = () => new Promise<never>(() => {});
  await using t = await testBundle(dirs.shop, {
    tier: "worker",
    mocks: { PriceService: { quote: never } },
  });
  await assert.rejects(
    t.call("PriceService", "quote", {}, { timeoutMs: 100 }),
    (e: Error) =>
      e.name === "CallTimeoutError" && /mock:PriceService@0\.0\.0 timed out/.test(e.message),
  );
  const controller = new AbortController();
  const cancelled = t.call("PriceService", "quote", {}, { signal: controller.signal });
  controller.abort();
  await assert.rejects(cancelled, (e: Error) => e.name === "CallCancelledError");
  // From inside the bundle, the timeout reaches the bundle as the engine's error.
  const fromBundle = await t.call("Shop", "quoteWithin", { ms: 100 });
  assert.equal((fromBundle as { code: string }).code, "TIMEOUT");
  assert.deepEqual(t.mockCalls("PriceService").map((c) => (c.error as Error).name), [
    "CallTimeoutError",
    "CallCancelledError",
    "CallTimeoutError",
  ]);
});
