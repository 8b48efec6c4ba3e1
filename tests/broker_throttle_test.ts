/**
 * Throttling (QPS and concurrency per bundle and per service, reject or queue), weighted splitting
 * between a bundle and its degradation bundle, and hot replacement of the governance rules.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BundlehostError, createEngine, type Engine, ManualClock } from "../mod.ts";
import {
  FAST,
  manifest,
  manualTime,
  sharing,
  testEngine,
  waitFor,
  writeBundle,
} from "./_helpers.ts";
import { admin, rpc } from "./_http.ts";
import { type TestServer, testServer } from "./_server.ts";

/** `{ sleepMs }` holds the call; `peak` reports (and resets) the most calls held at once. */
const STOCK = `let active = 0, peak = 0;
export default { services: { Stock: {
  async check(input, ctx) {
    active++;
    peak = Math.max(peak, active);
    try {
      if (input?.sleepMs) await new Promise((r) => setTimeout(r, input.sleepMs));
      if (input?.fail) throw new Error("stock backend down");
      return ctx.bundle.id;
    } finally {
      active--;
    }
  },
  peak() {
    const seen = peak;
    peak = active;
    return seen;
  },
} } };`;

const SERVICES = { Stock: "1.0.0" };
/** One instance, so the in-bundle peak counts every call. */
const ONE = { minWorkers: 1, maxWorkers: 1 };

/** A fallback that ignores its input and always answers. */
const BACKUP = `export default { services: { Stock: { check: (_input, ctx) => ctx.bundle.id } } };`;

async function deploy(srv: TestServer, m: Record<string, unknown>, mod = STOCK): Promise<void> {
  await srv.engine.runtime.install(await writeBundle(`${srv.root}/src`, m, { "mod.ts": mod }));
  await srv.engine.runtime.start(String(m.id));
}

/** Fires `n` calls at once; counts outcomes by serving bundle or error code. */
async function burst(engine: Engine, n: number, input: unknown = {}, onSettled = () => {}) {
  const outcomes = await Promise.all(
    Array.from(
      { length: n },
      () =>
        engine.invoke({ service: "Stock", method: "check", input }).then(
          (o) => o.bundle,
          (e) => e instanceof BundlehostError ? e.code : String(e),
        ).finally(onSettled),
    ),
  );
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}

Deno.test("Broker QPS limit answers 429 for every call over the limit within the window", async () => {
  // The window runs on the engine's clock: however slowly the 20 requests arrive, they share it.
  const clock = new ManualClock(Date.now());
  await using srv = await testServer(manualTime(clock));
  await deploy(srv, manifest("limited", { services: SERVICES, governance: { qps: 5 } }));
  const replies = await Promise.all(
    Array.from({ length: 20 }, () => rpc(srv.url, "Stock", "check", {})),
  );
  const statuses = replies.map((r) => r.status).sort();
  assert.deepEqual(statuses, [...Array(5).fill(200), ...Array(15).fill(429)]);
  const throttled = replies.find((r) => r.status === 429)!;
  assert.equal(throttled.body.error?.code, "THROTTLED");
  assert.match(
    throttled.body.error!.message,
    /Throttled: bundle limited is over 5 calls per second/,
  );
  assert.equal(srv.engine.bundle("limited").governance?.qps, 5);
  // Once the one-second window has slid past, the bundle admits calls again.
  assert.equal((await rpc(srv.url, "Stock", "check", {})).status, 429);
  await clock.advance(1_000);
  assert.equal((await rpc(srv.url, "Stock", "check", {})).status, 200);
});

Deno.test("Broker QPS limit with maxQueueingTimeMs paces calls and refuses longer waits", async () => {
  const clock = new ManualClock(Date.now());
  await using t = await testEngine(manualTime(clock));
  // 2 per second = one every 500 ms: the first passes, the second waits 500 ms, a third would
  // wait 1000 ms > 600 ms and is refused.
  await t.deploy(
    manifest("paced", {
      services: SERVICES,
      governance: { qps: 2, maxQueueingTimeMs: 600 },
    }),
    { "mod.ts": STOCK },
  );
  let settled = 0;
  const outcomes = burst(t.engine, 5, {}, () => settled++);
  await waitFor(() => settled === 4, 10_000, "all but the queued call");
  await clock.advance(499);
  assert.equal(settled, 4, "the queued call waits its 500 ms of engine time");
  await clock.advance(1);
  assert.deepEqual(await outcomes, { "paced@1.0.0": 2, THROTTLED: 3 });
});

Deno.test("Broker concurrency limit rejects or queues calls beyond maxConcurrency", async () => {
  await using srv = await testServer();
  await deploy(
    srv,
    manifest("narrow", { services: SERVICES, scaling: ONE, governance: { maxConcurrency: 2 } }),
  );
  const held = Promise.all(
    Array.from({ length: 2 }, () => rpc(srv.url, "Stock", "check", { sleepMs: 400 })),
  );
  await waitFor(() => srv.engine.bundle("narrow").governance?.concurrency?.active === 2);
  assert.deepEqual(srv.engine.bundle("narrow").governance?.concurrency, { active: 2, max: 2 });
  const refused = await Promise.all(
    Array.from({ length: 4 }, () => rpc(srv.url, "Stock", "check", {})),
  );
  assert.deepEqual(refused.map((r) => r.status), [429, 429, 429, 429]);
  assert.deepEqual((await held).map((r) => r.status), [200, 200]);
  assert.equal(srv.engine.bundle("narrow").governance?.concurrency?.active, 0);

  assert.equal(await srv.engine.call("Stock", "peak", null), 2);

  // With a queue, every call is served, one at a time.
  await srv.engine.setRules({
    bundles: { narrow: { maxConcurrency: 1, maxQueueingTimeMs: 10_000 } },
  });
  assert.deepEqual(await burst(srv.engine, 6, { sleepMs: 30 }), { "narrow@1.0.0": 6 });
  assert.equal(await srv.engine.call("Stock", "peak", null), 1, "never two calls at once");
});

Deno.test("Broker service limits from rules apply across every provider", async () => {
  // On a manual clock the ten calls fall in one QPS window however slowly they are sent.
  const clock = new ManualClock(Date.now());
  await using t = await testEngine({
    ...sharing({ Stock: ["svc-a", "svc-b"] }),
    ...manualTime(clock),
  });
  for (const id of ["svc-a", "svc-b"]) {
    await t.deploy(manifest(id, { services: SERVICES }), { "mod.ts": STOCK });
  }
  await t.engine.setRules({ services: { Stock: { qps: 3 } } });
  const viaBoth = await Promise.all(
    Array.from(
      { length: 10 },
      (_, i) =>
        t.engine.invoke({
          service: "Stock",
          method: "check",
          input: {},
          route: { type: "ID", pattern: i % 2 ? "svc-a" : "svc-b" },
        }).then(() => "ok", (e) => e.code),
    ),
  );
  assert.equal(viaBoth.filter((o) => o === "ok").length, 3);
  assert.equal(viaBoth.filter((o) => o === "THROTTLED").length, 7);
  await t.engine.setRules({ services: { Stock: { maxConcurrency: 1 } } });
  assert.deepEqual(await burst(t.engine, 3, { sleepMs: 200 }), { "svc-a@1.0.0": 1, THROTTLED: 2 });
});

Deno.test("Broker splits degradeWeight percent of 10,000 calls to the degradation bundle (±5%)", async () => {
  await using t = await testEngine(sharing({ Stock: ["split-main", "split-backup"] }));
  await t.deploy(manifest("split-backup", { services: SERVICES }), { "mod.ts": STOCK });
  await t.deploy(
    manifest("split-main", {
      services: SERVICES,
      ranking: 1,
      degradeTo: "split-backup",
      governance: { degradeWeight: 30 },
    }),
    { "mod.ts": STOCK },
  );
  const total = 10_000;
  const counts: Record<string, number> = {};
  for (let sent = 0; sent < total; sent += 250) {
    const batch = await Promise.all(
      Array.from(
        { length: 250 },
        () => t.engine.invoke({ service: "Stock", method: "check", input: {} }),
      ),
    );
    for (const o of batch) {
      const key = `${o.bundle} ${o.degraded ?? "-"}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
  }
  const weighted = counts["split-backup@1.0.0 weighted"] ?? 0;
  assert.deepEqual(Object.keys(counts).sort(), [
    "split-backup@1.0.0 weighted",
    "split-main@1.0.0 -",
  ]);
  assert.equal(weighted + counts["split-main@1.0.0 -"]!, total);
  // ±5% of the calls: 2,500–3,500 (the binomial standard deviation is about 46).
  assert.ok(Math.abs(weighted - 0.3 * total) <= 0.05 * total, `${weighted} of ${total}`);

  // The weight is a rule like any other: replaced at run time.
  await t.engine.setRules({ bundles: { "split-main": { degradeWeight: 100 } } });
  assert.deepEqual(await burst(t.engine, 20), { "split-backup@1.0.0": 20 });
  await t.engine.setRules({ bundles: { "split-main": { degradeWeight: 0 } } });
  assert.deepEqual(await burst(t.engine, 20), { "split-main@1.0.0": 20 });
});

Deno.test("Admin API replaces governance rules at run time and refuses an invalid document whole", async () => {
  await using srv = await testServer(sharing({ Stock: ["rules-a", "rules-b", "rules-mock"] }));
  await deploy(srv, manifest("rules-a", { services: SERVICES, ranking: 1, degradeTo: "rules-b" }));
  await deploy(srv, manifest("rules-b", { services: SERVICES }), BACKUP);
  await deploy(srv, manifest("rules-mock", { services: SERVICES, mock: true }), BACKUP);
  const served = async (input: unknown = {}, headers: Record<string, string> = {}) => {
    const reply = await rpc(srv.url, "Stock", "check", input, headers);
    const degraded = reply.headers.get("x-degraded");
    return reply.status === 200
      ? `${reply.body.result}${degraded ? ` (${degraded})` : ""}`
      : `${reply.status}`;
  };
  assert.deepEqual((await admin(srv.url, "GET", "/admin/rules")).body, {
    bundles: {},
    services: {},
  });
  assert.equal(await served(), "rules-a");
  assert.equal(await served({ fail: true }), "rules-b (error)", "the manifest's degradeTo");

  const rules = {
    services: { Stock: { route: { type: "REG", pattern: "-b$" } } },
    bundles: { "rules-a": { qps: 1, degradeTo: null } },
  };
  const put = await admin(srv.url, "PUT", "/admin/rules", rules);
  assert.equal(put.status, 200);
  assert.deepEqual(put.body, rules);
  assert.equal(await served(), "rules-b", "the rule's route replaced the default one");
  const idA = { "x-route-id": "rules-a" };
  assert.equal(await served({ fail: true }, idA), "502", "degradeTo: null removed the fallback");
  assert.equal(await served({}, idA), "429", "the rule's qps replaced the manifest's none");

  const invalid = await admin(srv.url, "PUT", "/admin/rules", {
    services: { Stock: { route: { type: "REG", pattern: "([" }, mock: "force" } },
    bundles: { "rules-b": { strategy: "errorRatio", threshold: 3, colour: "red" } },
  });
  assert.equal(invalid.status, 400);
  assert.equal(invalid.body.error?.code, "BAD_INPUT");
  const message = invalid.body.error!.message;
  assert.match(message, /bundles\.rules-b\.threshold/);
  assert.match(message, /bundles\.rules-b\.colour: is not a known field/);
  assert.deepEqual((await admin(srv.url, "GET", "/admin/rules")).body, rules, "nothing applied");
  const badRoute = await admin(srv.url, "PUT", "/admin/rules", {
    services: { Stock: { route: { type: "REG", pattern: "([" }, mock: "force" } },
  });
  assert.equal(badRoute.status, 400);
  assert.match(
    badRoute.body.error!.message,
    /services\.Stock\.route\.pattern: .*regular expression/,
  );
  assert.equal(await served(), "rules-b", "the old rules stay in force");

  assert.equal(
    (await admin(srv.url, "PUT", "/admin/rules", { services: { Stock: { mock: "force" } } }))
      .status,
    200,
  );
  assert.equal(await served(), "rules-mock (mock)");
  assert.equal(
    (await srv.request("/admin/rules", { method: "PUT", body: "{}" })).status,
    401,
  );
  assert.equal((await admin(srv.url, "PUT", "/admin/rules", {})).status, 200);
  assert.equal(await served(), "rules-a", "back to the manifests");
});

Deno.test("Engine keeps governance rules across a restart", async () => {
  await using t = await testEngine();
  const rules = { bundles: { x: { qps: 7, breaker: "forceOpen" as const } }, services: {} };
  await t.engine.setRules(rules);
  await t.engine.close();
  await using again = await createEngine({ ...FAST, dataDir: t.engine.dataDir });
  assert.deepEqual(again.rules, rules);
});
