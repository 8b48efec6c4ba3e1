/**
 * Passive degradation (not found, timeout, error, open circuit → `degradeTo`, no cycles) and
 * active circuit breaking (every Sentinel strategy through CLOSED → OPEN → HALF_OPEN → CLOSED and
 * OPEN again, forced states) with real bundles whose behaviour each call's input controls.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type BreakerEvent,
  BundleCallError,
  BundlehostError,
  type Engine,
  ManualClock,
} from "../mod.ts";
import type { RouteSpec } from "../engine/sdk/bundle.ts";
import { manifest, manualTime, rejects, sharing, testEngine, writeBundle } from "./_helpers.ts";
import { admin, releasePath, rpc } from "./_http.ts";
import { testServer } from "./_server.ts";

/**
 * `{ sleepMs }` makes a call slow (cut short at the deadline), `{ fail: true }` makes it throw,
 * `{ slow: true }` logs "slow call" first (a test on a manual clock then moves time) and takes 100 ms.
 */
const STOCK = `
const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});
export default { services: { Stock: {
  async check(input, ctx) {
    if (input?.slow) {
      ctx.log.info("slow call");
      await sleep(100, ctx.signal);
    }
    if (input?.sleepMs) await sleep(input.sleepMs, ctx.signal);
    if (input?.fail) throw new Error("stock backend down");
    return ctx.bundle.id;
  },
} } };`;

/** Always throws. */
const FAILING =
  `export default { services: { Stock: { check() { throw new Error("always down"); } } } };`;

/** A fallback that always answers. */
const BACKUP = `export default { services: { Stock: { check: (_input, ctx) => ctx.bundle.id } } };`;

const SERVICES = { Stock: "1.0.0" };

/** Calls `Stock.check` and says who served, how it degraded, or which error code it failed with. */
async function check(engine: Engine, input: unknown, route?: RouteSpec) {
  try {
    const outcome = await engine.invoke({
      service: "Stock",
      method: "check",
      input: input,
      ...(route ? { route } : {}),
    });
    return outcome.degraded ? `${outcome.bundle} (${outcome.degraded})` : outcome.bundle;
  } catch (error) {
    return error instanceof BundlehostError ? error.code : String(error);
  }
}

Deno.test("Broker degrades error, timeout and not-found calls to the degradeTo bundle", async () => {
  await using t = await testEngine(sharing({ Stock: ["stock-backup", "stock-main"] }));
  await t.deploy(manifest("stock-backup", { services: SERVICES }), { "mod.ts": BACKUP });
  await t.deploy(
    manifest("stock-main", {
      services: SERVICES,
      ranking: 1,
      degradeTo: "stock-backup",
      governance: { timeoutMs: 150 },
    }),
    { "mod.ts": STOCK },
  );
  assert.equal(await check(t.engine, {}), "stock-main@1.0.0");
  assert.deepEqual(
    await t.engine.invoke({ service: "Stock", method: "check", input: { fail: true } }),
    {
      result: "stock-backup",
      bundle: "stock-backup@1.0.0",
      degraded: "error",
    },
  );
  assert.equal(await check(t.engine, { sleepMs: 10_000 }), "stock-backup@1.0.0 (timeout)");
  await t.engine.runtime.stop("stock-main");
  // Stopped: a route that names it finds it "not found" and its degradation bundle serves; the
  // default route simply picks the other active provider.
  assert.equal(
    await check(t.engine, {}, { type: "ID", pattern: "stock-main" }),
    "stock-backup@1.0.0 (not-found)",
  );
  assert.equal(
    await check(t.engine, {}, { type: "REG", pattern: "-main$" }),
    "stock-backup@1.0.0 (not-found)",
  );
  assert.equal(await check(t.engine, {}), "stock-backup@1.0.0");
  await t.engine.runtime.start("stock-main");
  assert.equal(await check(t.engine, {}), "stock-main@1.0.0");
});

Deno.test("Broker follows degradeTo links without cycles and reports the first reason", async () => {
  await using t = await testEngine(
    sharing({ Stock: ["chain-a", "chain-b", "chain-c", "loop-x", "loop-y"] }),
  );
  // a → b → c: a times out, b fails, c serves; the reply names the first reason.
  await t.deploy(manifest("chain-c", { services: SERVICES }), { "mod.ts": BACKUP });
  await t.deploy(manifest("chain-b", { services: SERVICES, degradeTo: "chain-c" }), {
    "mod.ts": FAILING,
  });
  await t.deploy(
    manifest("chain-a", {
      services: SERVICES,
      ranking: 9,
      degradeTo: "chain-b",
      governance: { timeoutMs: 100 },
    }),
    { "mod.ts": STOCK },
  );
  assert.equal(await check(t.engine, { sleepMs: 5_000 }), "chain-c@1.0.0 (timeout)");
  // x ⇄ y, both failing: each is tried once, then the last error is thrown.
  const counting = `let calls = 0;
    export default { services: { Stock: {
      check() { calls++; throw new Error("stock backend down"); },
      calls: () => calls,
    } } };`;
  const scaling = { minWorkers: 1, maxWorkers: 1 };
  await t.deploy(
    manifest("loop-x", { services: SERVICES, ranking: 20, degradeTo: "loop-y", scaling }),
    { "mod.ts": counting },
  );
  await t.deploy(manifest("loop-y", { services: SERVICES, degradeTo: "loop-x", scaling }), {
    "mod.ts": counting,
  });
  const error = await rejects(
    () => t.engine.invoke({ service: "Stock", method: "check", input: {} }),
    BundleCallError,
    "stock backend down",
  );
  assert.match(error.message, /loop-y@1\.0\.0/, "the last bundle tried was the fallback");
  const calls = (id: string) =>
    t.engine.call("Stock", "calls", null, { route: { type: "ID", pattern: id } });
  assert.deepEqual([await calls("loop-x"), await calls("loop-y")], [1, 1]);
});

Deno.test("Broker does not degrade to a bundle that lacks the service", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("other", { services: { Other: "1.0.0" } }), {
    "mod.ts": `export default { services: { Other: { check: () => "wrong" } } };`,
  });
  await t.deploy(manifest("lonely", { services: SERVICES, degradeTo: "other" }), {
    "mod.ts": STOCK,
  });
  assert.equal(await check(t.engine, { fail: true }), "BUNDLE_ERROR");
});

Deno.test("Service plane marks degraded replies and answers 502/504/503 without a fallback", async () => {
  await using srv = await testServer(sharing({ Shop: ["fallback", "shop"] }));
  const deploy = async (m: Record<string, unknown>, mod: string) => {
    await srv.engine.runtime.install(await writeBundle(`${srv.root}/src`, m, { "mod.ts": mod }));
    await srv.engine.runtime.start(String(m.id));
  };
  await deploy(
    manifest("fallback", { services: { Shop: "1.0.0" } }),
    BACKUP.replace("Stock", "Shop"),
  );
  await deploy(
    manifest("shop", { services: { Shop: "1.0.0" }, ranking: 1, degradeTo: "fallback" }),
    STOCK.replace("Stock", "Shop"),
  );
  await deploy(manifest("bare", { services: SERVICES, governance: { timeoutMs: 100 } }), STOCK);
  const degraded = await rpc(srv.url, "Shop", "check", { fail: true });
  assert.deepEqual(
    [degraded.status, degraded.headers.get("x-bundle"), degraded.headers.get("x-degraded")],
    [200, "fallback@1.0.0", "error"],
  );
  const plain = await rpc(srv.url, "Shop", "check", {});
  assert.deepEqual([plain.headers.get("x-bundle"), plain.headers.get("x-degraded")], [
    "shop@1.0.0",
    null,
  ]);
  const codes = async (input: unknown) => {
    const reply = await rpc(srv.url, "Stock", "check", input);
    return `${reply.status} ${reply.body.error?.code}`;
  };
  assert.equal(await codes({ fail: true }), "502 BUNDLE_ERROR");
  assert.equal(await codes({ sleepMs: 5_000 }), "504 TIMEOUT");
  await srv.engine.setRules({ bundles: { bare: { breaker: "forceOpen" } } });
  assert.equal(await codes({}), "503 CIRCUIT_OPEN");
  await srv.engine.setRules({ bundles: { shop: { breaker: "forceOpen" } } });
  const open = await rpc(srv.url, "Shop", "check", {});
  assert.equal(open.headers.get("x-degraded"), "circuit-open");
});

type Call = "good" | "bad";

/** One strategy's settings and the call sequence that trips it only at its last call. */
interface StrategyCase {
  governance: Record<string, unknown>;
  bad: Record<string, unknown>;
  trip: Call[];
  /** Window counters right after the trip. */
  window: { total: number; errors: number; slow: number };
}

const RETRY_MS = 600;
const CASES: Record<string, StrategyCase> = {
  // 2 of 4 is not above 0.5; 3 of 5 is.
  errorRatio: {
    governance: { strategy: "errorRatio", threshold: 0.5, minRequestAmount: 4, probeNum: 1 },
    bad: { fail: true },
    trip: ["good", "bad", "good", "bad", "bad"],
    window: { total: 5, errors: 3, slow: 0 },
  },
  // Two errors are not above 2 (and too few calls), a third is; two probes must pass.
  errorCount: {
    governance: { strategy: "errorCount", threshold: 2, minRequestAmount: 3, probeNum: 2 },
    bad: { fail: true },
    trip: ["bad", "bad", "good", "bad"],
    window: { total: 4, errors: 3, slow: 0 },
  },
  // Slow means slower than maxRtMs; the slow calls succeed.
  slowRequestRatio: {
    governance: {
      strategy: "slowRequestRatio",
      threshold: 0.5,
      maxRtMs: 150,
      minRequestAmount: 4,
      probeNum: 1,
    },
    bad: { slow: true },
    trip: ["bad", "good", "bad", "good", "bad"],
    window: { total: 5, errors: 0, slow: 3 },
  },
};

for (const [strategy, c] of Object.entries(CASES)) {
  Deno.test(`Broker breaker (${strategy}) goes CLOSED → OPEN → HALF_OPEN → OPEN → HALF_OPEN → CLOSED → OPEN`, async () => {
    // The breaker's windows, response times and retry timeout run on the engine's clock: the
    // test moves it, so a loaded machine cannot make the breaker half-open early.
    const clock = new ManualClock(Date.now());
    await using t = await testEngine(manualTime(clock));
    const id = `breaker-${strategy.toLowerCase()}`;
    await t.deploy(
      manifest(id, {
        services: SERVICES,
        governance: { ...c.governance, statIntervalMs: 10_000, retryTimeoutMs: RETRY_MS },
      }),
      { "mod.ts": STOCK },
    );
    const events: string[] = [];
    t.engine.events.on("breakerchange", (e: BreakerEvent) => {
      if (e.bundle === id) events.push(`${e.from}>${e.to}`);
    });
    const state = () => t.engine.bundle(id).governance?.breaker?.state;
    // A slow call takes 300 ms of engine time: the clock moves once the bundle has it.
    t.engine.events.on("log", (e) => {
      if (e.bundle === id && e.message === "slow call") void clock.advance(300);
    });
    const call = (kind: Call) => check(t.engine, kind === "bad" ? c.bad : {});
    const probeNum = c.governance.probeNum as number;
    const waitRetry = async () => {
      await clock.advance(RETRY_MS - 1);
      assert.equal(await call("good"), "CIRCUIT_OPEN", "still OPEN just before retryTimeoutMs");
      await clock.advance(1);
    };
    const trip = async () => {
      const states: (string | undefined)[] = [];
      for (const kind of c.trip) {
        await call(kind);
        states.push(state());
      }
      assert.deepEqual(states, [...c.trip.slice(1).map(() => "CLOSED"), "OPEN"]);
    };

    await trip();
    assert.deepEqual(t.engine.bundle(id).governance?.breaker?.window, c.window);
    assert.equal(await call("good"), "CIRCUIT_OPEN", "OPEN refuses calls");
    await waitRetry();
    // A bad probe opens the breaker again.
    assert.notEqual(await call("bad"), "CIRCUIT_OPEN", "the probe is admitted");
    assert.equal(state(), "OPEN");
    assert.equal(await call("good"), "CIRCUIT_OPEN");
    await waitRetry();
    for (let i = 1; i < probeNum; i++) {
      assert.equal(await call("good"), `${id}@1.0.0`);
      assert.equal(state(), "HALF_OPEN", "not closed before every probe passed");
    }
    assert.equal(await call("good"), `${id}@1.0.0`);
    assert.equal(state(), "CLOSED");
    assert.deepEqual(t.engine.bundle(id).governance?.breaker?.window, {
      total: 0,
      errors: 0,
      slow: 0,
    });
    await trip();
    assert.deepEqual(events, [
      "CLOSED>OPEN",
      "OPEN>HALF_OPEN",
      "HALF_OPEN>OPEN",
      "OPEN>HALF_OPEN",
      "HALF_OPEN>CLOSED",
      "CLOSED>OPEN",
    ]);
  });
}

Deno.test("Broker breaker obeys forced states from rules and shows them at once", async () => {
  await using srv = await testServer();
  const m = manifest("forced", {
    services: SERVICES,
    governance: { strategy: "errorCount", threshold: 1, minRequestAmount: 1 },
  });
  const released = await releasePath(
    srv.url,
    await writeBundle(`${srv.root}/src`, m, { "mod.ts": STOCK }),
  );
  assert.equal(released.status, 201);
  const events: string[] = [];
  srv.engine.events.on("breakerchange", (e) => events.push(`${e.bundle}:${e.from}>${e.to}`));
  const put = (rules: unknown) => admin(srv.url, "PUT", "/admin/rules", rules);
  const state = async () => {
    const view = await admin<{ governance?: { breaker?: { state: string } } }>(
      srv.url,
      "GET",
      "/admin/bundles/forced",
    );
    return view.body.governance?.breaker?.state;
  };
  const code = async (input: unknown) => (await rpc(srv.url, "Stock", "check", input)).status;

  // Forced before the bundle's first call: status and events show it without waiting for traffic.
  assert.equal((await put({ bundles: { forced: { breaker: "forceOpen" } } })).status, 200);
  assert.equal(await state(), "FORCED_OPEN");
  assert.equal(await code({}), 503);
  assert.equal((await put({ bundles: { forced: { breaker: "forceClosed" } } })).status, 200);
  assert.equal(await state(), "FORCED_CLOSED");
  for (let i = 0; i < 5; i++) assert.equal(await code({ fail: true }), 502, "never opens");
  assert.equal(await state(), "FORCED_CLOSED");
  assert.equal((await put({ bundles: { forced: { breaker: "auto" } } })).status, 200);
  assert.equal(await state(), "CLOSED");
  assert.equal(await code({ fail: true }), 502);
  assert.equal(await code({ fail: true }), 502);
  assert.equal(await state(), "OPEN");
  assert.equal(await code({}), 503);
  assert.deepEqual(events, [
    "forced:CLOSED>FORCED_OPEN",
    "forced:FORCED_OPEN>FORCED_CLOSED",
    "forced:FORCED_CLOSED>CLOSED",
    "forced:CLOSED>OPEN",
  ]);
});
