/**
 * Phased releases (canary) with real workers: the traffic split of a step, automatic rollback on
 * errors and on latency, promotion, an operator taking over, a restart in the middle, and the
 * admin route and CLI command.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type CanaryEvent, createEngine, type Engine, ManualClock } from "../mod.ts";
import { main as cli } from "../cli.ts";
import { FAST, manifest, manualTime, type TestEngine, testEngine, waitFor } from "./_helpers.ts";
import { admin, type BundleView, rpc } from "./_http.ts";
import { TEST_TOKEN, testServer } from "./_server.ts";

interface Behaviour {
  /** Every n-th call throws. */
  failEvery?: number;
  /** Each call takes this long, ms. */
  delayMs?: number;
}

function shop(version: string, behaviour: Behaviour = {}): Record<string, string> {
  return {
    "mod.ts": `let n = 0;
      export default {
        services: {
          Shop: {
            async price(_input) {
              n++;
              if (${behaviour.failEvery ?? 0} && n % ${behaviour.failEvery ?? 1} === 0) {
                throw new Error("broken pricing");
              }
              await new Promise((r) => setTimeout(r, ${behaviour.delayMs ?? 0}));
              return { version: ${JSON.stringify(version)} };
            },
          },
        },
      };`,
  };
}

/** Releases `shop@version`; `activate: false` stores it without moving traffic. */
async function release(t: TestEngine, version: string, behaviour?: Behaviour, activate = true) {
  const dir = await t.bundle(
    manifest("shop", { version, services: { Shop: "1.0.0" } }),
    shop(version, behaviour),
  );
  return await t.engine.registry.release({ path: dir }, { activate });
}

function canaryEvents(engine: Engine): CanaryEvent[] {
  const seen: CanaryEvent[] = [];
  engine.events.on("canary", (event) => seen.push(event));
  return seen;
}

/** Calls `Shop.price` from `n` callers until stopped; records who served, and failures. */
function load(engine: Engine, n = 4) {
  let running = true;
  const served: { at: number; bundle: string }[] = [];
  const failures: { at: number; error: unknown }[] = [];
  const callers = Array.from({ length: n }, async () => {
    while (running) {
      const at = performance.now();
      try {
        served.push({
          at,
          bundle: (await engine.invoke({ service: "Shop", method: "price", input: null })).bundle,
        });
      } catch (error) {
        failures.push({ at, error });
        // A call that fails without I/O (engine closed) must not spin the event loop.
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  });
  return {
    served,
    failures,
    async stop() {
      running = false;
      await Promise.all(callers);
    },
  };
}

Deno.test("Registry.canary splits traffic by the step weight within ±5 percentage points", async () => {
  await using t = await testEngine({ rollbackWarmMs: 60_000 });
  const events = canaryEvents(t.engine);
  await release(t, "1.0.0");
  const staged = await release(t, "2.0.0", {}, false);
  assert.deepEqual([staged.created, staged.state], [true, "RESOLVED"]);
  assert.equal((await t.engine.registry.get("shop")).record.active, "1.0.0");

  await t.engine.registry.canary("shop", "2.0.0", {
    steps: [30, 100],
    stepMs: 60_000,
    minCalls: 1_000_000,
  });
  await waitFor(() => events.some((e) => e.phase === "step"), 5_000, "the first step");
  assert.deepEqual((await t.engine.registry.get("shop")).record.weights, {
    "2.0.0": 30,
    "1.0.0": 70,
  });
  const counts = { "shop@1.0.0": 0, "shop@2.0.0": 0 } as Record<string, number>;
  const calls = 2_000;
  for (let batch = 0; batch < calls / 25; batch++) {
    const outcomes = await Promise.all(
      Array.from(
        { length: 25 },
        () => t.engine.invoke({ service: "Shop", method: "price", input: null }),
      ),
    );
    for (const outcome of outcomes) counts[outcome.bundle]! += 1;
  }
  // Expected 600 of 2000 (σ ≈ 20.5): ±5 points is ±100 calls, about five σ.
  const share = counts["shop@2.0.0"]! / calls;
  assert.ok(Math.abs(share - 0.3) <= 0.05, JSON.stringify(counts));
  assert.equal(t.engine.registry.canaryProgress("shop")?.calls, counts["shop@2.0.0"]);

  // The operator takes over: a rollback aborts the release and goes back to the stable version.
  assert.equal(await t.engine.registry.rollback("shop"), "1.0.0");
  const { record } = await t.engine.registry.get("shop");
  assert.deepEqual([record.active, record.weights, record.canary?.status], [
    "1.0.0",
    undefined,
    "aborted",
  ]);
  assert.equal(events.at(-1)?.phase, "aborted");
  assert.equal(t.engine.runtime.stateOf("shop", "2.0.0"), "RESOLVED");
  assert.equal(
    (await t.engine.invoke({ service: "Shop", method: "price", input: null })).bundle,
    "shop@1.0.0",
  );
});

for (
  const [title, behaviour, thresholds, reason] of [
    ["error ratio", { failEvery: 2 }, { maxErrorRatio: 0.1 }, /error ratio 0\.\d+ above 0\.1/],
    ["p99 latency", { delayMs: 60 }, { maxLatencyMs: 20 }, /p99 latency \d+\.\d ms above 20 ms/],
  ] as const
) {
  Deno.test(`Registry.canary rolls back by itself when the new version's ${title} crosses the threshold`, async () => {
    await using t = await testEngine({ rollbackWarmMs: 60_000 });
    const events = canaryEvents(t.engine);
    await release(t, "1.0.0");
    await release(t, "2.0.0", behaviour, false);
    const traffic = load(t.engine);
    await t.engine.registry.canary("shop", "2.0.0", {
      steps: [50, 100],
      stepMs: 60_000,
      minCalls: 10,
      ...thresholds,
    });
    await waitFor(() => events.some((e) => e.phase === "rolled-back"), 20_000, "the rollback");
    const rolledBack = performance.now();
    const event = events.find((e) => e.phase === "rolled-back")!;
    assert.match(event.reason ?? "", reason);
    assert.ok(event.analysis && event.analysis.calls >= 10, JSON.stringify(event.analysis));
    await new Promise((r) => setTimeout(r, 200));
    await traffic.stop();

    const { record } = await t.engine.registry.get("shop");
    assert.deepEqual([record.active, record.weights], ["1.0.0", undefined]);
    assert.equal(record.canary?.status, "rolled-back");
    assert.match(record.canary?.reason ?? "", reason);
    assert.ok(traffic.served.some((s) => s.bundle === "shop@2.0.0"), "the canary got traffic");
    const late = traffic.served.filter((s) => s.at > rolledBack);
    assert.ok(late.length > 0 && late.every((s) => s.bundle === "shop@1.0.0"));
    assert.ok(traffic.failures.every((f) => f.at < rolledBack), "no failure after the rollback");
    await waitFor(
      () => t.engine.runtime.stateOf("shop", "2.0.0") === "RESOLVED",
      5_000,
      "2.0.0 stopped",
    );
  });
}

Deno.test("Registry.canary promotes a healthy version step by step and keeps the old one warm", async () => {
  // Steps last a minute of the engine's clock, which moves once a step has had its calls: a slow
  // machine cannot leave a step short of minCalls (it would be held, then rolled back). Calls are
  // made one at a time, so none is in flight while the clock moves (its latency would be a minute).
  const clock = new ManualClock(Date.now());
  await using t = await testEngine({ ...manualTime(clock), rollbackWarmMs: 60_000 });
  const events = canaryEvents(t.engine);
  await release(t, "1.0.0");
  await release(t, "2.0.0", {}, false);
  await t.engine.registry.canary("shop", "2.0.0", {
    steps: [25, 50, 100],
    stepMs: 60_000,
    minCalls: 5,
  });
  const failures: unknown[] = [];
  const served = new Set<string>();
  for (const weight of [25, 50]) {
    await waitFor(() => events.some((e) => e.phase === "step" && e.weight === weight), 5_000);
    for (let i = 0; i < 2_000 && (t.engine.registry.canaryProgress("shop")?.calls ?? 0) < 5; i++) {
      await t.engine.invoke({ service: "Shop", method: "price", input: null }).then(
        (o) => served.add(o.bundle),
        (e) => {
          failures.push(e);
        },
      );
    }
    await clock.advance(59_999);
    assert.equal(events.at(-1)?.weight, weight, "a step lasts stepMs");
    await clock.advance(1);
  }
  await waitFor(() => events.some((e) => e.phase === "promoted"), 20_000, "the promotion");
  assert.deepEqual([...served].sort(), ["shop@1.0.0", "shop@2.0.0"]);
  assert.deepEqual(events.map((e) => [e.phase, e.weight]), [["step", 25], ["step", 50], [
    "promoted",
    100,
  ]]);
  assert.deepEqual(failures, []);
  const { record } = await t.engine.registry.get("shop");
  assert.deepEqual([record.active, record.weights, record.canary?.status], [
    "2.0.0",
    undefined,
    "promoted",
  ]);
  assert.deepEqual(record.history, ["1.0.0", "2.0.0"]);
  assert.equal(
    (await t.engine.invoke({ service: "Shop", method: "price", input: null })).bundle,
    "shop@2.0.0",
  );
  const old = t.engine.bundle("shop").revisions.find((r) => r.version === "1.0.0")!;
  assert.deepEqual([old.state, old.scaling?.standby], ["ACTIVE", true]);
});

Deno.test("Registry.restore rolls back a phased release interrupted by a restart", async () => {
  await using t = await testEngine({ rollbackWarmMs: 0 });
  const events = canaryEvents(t.engine);
  await release(t, "1.0.0");
  await release(t, "2.0.0", {}, false);
  await t.engine.registry.canary("shop", "2.0.0", { steps: [40, 100], stepMs: 60_000 });
  await waitFor(() => events.some((e) => e.phase === "step"), 5_000, "the first step");
  assert.equal((await t.engine.registry.get("shop")).record.weights?.["2.0.0"], 40);
  await t.engine.close();

  await using restarted = await createEngine({ ...FAST, dataDir: `${t.root}/.bundlehost` });
  const { record } = await restarted.registry.get("shop");
  assert.deepEqual([record.active, record.weights, record.canary?.status], [
    "1.0.0",
    undefined,
    "rolled-back",
  ]);
  assert.match(record.canary?.reason ?? "", /restarted/);
  assert.equal(
    restarted.runtime.stateOf("shop", "2.0.0"),
    undefined,
    "2.0.0 is not even installed",
  );
  for (let i = 0; i < 20; i++) {
    assert.equal(
      (await restarted.invoke({ service: "Shop", method: "price", input: null })).bundle,
      "shop@1.0.0",
    );
  }
});

Deno.test("Admin API and CLI run a phased release: validation, progress, promotion", async () => {
  // The step lasts 2 s of the engine's clock, which moves only once the step was seen running.
  const clock = new ManualClock(Date.now());
  await using srv = await testServer({ ...manualTime(clock), rollbackWarmMs: 60_000 });
  const write = async (version: string) => {
    const dir = `${srv.root}/src/shop-${version}`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/bundle.json`,
      JSON.stringify(manifest("shop", { version, services: { Shop: "1.0.0" } })),
    );
    await Deno.writeTextFile(`${dir}/mod.ts`, shop(version)["mod.ts"]!);
    return dir;
  };
  const release = (path: string, query = "") =>
    admin(srv.url, "POST", `/admin/releases${query}`, { path });
  assert.equal((await release(await write("1.0.0"))).status, 201);
  const staged = await release(await write("2.0.0"), "?activate=false");
  assert.deepEqual([staged.status, staged.body.state], [201, "RESOLVED"]);
  assert.equal((await release(await write("3.0.0"), "?activate=maybe")).status, 400);
  const canary = (body: unknown) =>
    admin<BundleView>(srv.url, "POST", "/admin/bundles/shop/canary", body);
  for (
    const [body, status] of [
      [{ version: "two" }, 400],
      [{ version: "2.0.0", steps: [50, 10] }, 400],
      [{ version: "2.0.0", maxErrorRatio: 2 }, 400],
      [{ version: "2.0.0", nope: 1 }, 400],
      [{ version: "9.9.9" }, 404],
      [{ version: "1.0.0" }, 409],
    ] as const
  ) {
    assert.equal((await canary(body)).status, status, JSON.stringify(body));
  }

  const code = await cli([
    "canary",
    "shop",
    "2.0.0",
    "--steps",
    "50,100",
    "--step-ms",
    "2000",
    "--min-calls",
    "3",
    "--url",
    srv.url,
    "--token",
    TEST_TOKEN,
    "--json",
  ]);
  assert.equal(code, 0);
  type View = BundleView & {
    canary?: { status: string; weight: number; live?: { calls: number } };
  };
  const view = async () => (await admin<View>(srv.url, "GET", "/admin/bundles/shop")).body;
  await waitFor(async () => (await view()).canary?.weight === 50, 5_000, "the 50% step");
  // The split is random: call until one call reached 2.0.0 (5 calls miss it 1 time in 32).
  let during = await view();
  for (let i = 0; i < 200 && !((during.canary?.live?.calls ?? 0) > 0); i++) {
    assert.equal((await rpc(srv.url, "Shop", "price")).status, 200);
    during = await view();
  }
  assert.equal(during.canary?.status, "running");
  assert.ok((during.canary?.live?.calls ?? 0) > 0, JSON.stringify(during.canary));
  assert.equal(
    await cli(["canary", "shop", "2.0.0", "--steps", "x", "--url", srv.url, "--token", TEST_TOKEN]),
    2,
  );
  // Traffic goes on until the step has minCalls (3) on 2.0.0; then the step is judged.
  for (let i = 0; i < 400 && (during.canary?.live?.calls ?? 0) < 3; i++) {
    assert.equal((await rpc(srv.url, "Shop", "price")).status, 200);
    during = await view();
  }
  await clock.advance(2_000);
  await waitFor(async () => (await view()).canary?.status === "promoted", 15_000, "promotion");
  const after = await view();
  assert.equal(after.active, "2.0.0");
  assert.equal((await rpc(srv.url, "Shop", "price")).headers.get("x-bundle"), "shop@2.0.0");
});
