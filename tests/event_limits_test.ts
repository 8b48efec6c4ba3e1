/**
 * Limits of the event bus over real HTTP and real bundles (README, "Events"): publish rate limits
 * per topic and per bundle, the store's byte budget (507 while releases go on), dead letters that
 * expire and are capped (driven by a manual clock), and the publish token on `POST /events`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ManualClock } from "../mod.ts";
import { manifest, writeBundle } from "./_helpers.ts";
import { TEST_TOKEN, testServer } from "./_server.ts";
import { ONE_INSTANCE, PUBLISHER_MODULE } from "./_events.ts";

const FAILING = `export default {
  services: { Sink: { handle() { throw new Error("never delivered"); } } },
};`;

function sink(id: string, topic: string, maxAttempts = 5) {
  return manifest(id, {
    services: { Sink: "1.0.0" },
    subscribe: { [topic]: { handler: "Sink.handle", maxAttempts } },
    scaling: ONE_INSTANCE,
  });
}

Deno.test("POST /events answers 429 naming the topic over its rate, and again 202 once it refills", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using s = await testServer({ events: { clock, topicRate: 3, pollMs: 60_000 } });
  const post = (topic: string) =>
    s.request(`/events/${topic}`, { method: "POST", body: "{}" }).then(async (r) => ({
      status: r.status,
      body: await r.json() as { error?: { code: string; message: string } },
    }));
  const statuses = [];
  for (let i = 0; i < 5; i++) statuses.push((await post("busy.topic")).status);
  assert.deepEqual(statuses, [202, 202, 202, 429, 429]);
  const refused = await post("busy.topic");
  assert.equal(refused.body.error?.code, "THROTTLED");
  assert.match(refused.body.error!.message, /"busy\.topic".*rate limit of 3 events\/s/);
  assert.equal((await post("quiet.topic")).status, 202, "another topic has its own limit");
  await clock.advance(1_000);
  assert.equal((await post("busy.topic")).status, 202);
  const stats = await s.engine.eventBus.stats();
  assert.equal(stats.throttled, 3);
});

Deno.test("ctx.events.publish is refused over the bundle's publish rate with an error naming it", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using s = await testServer({ events: { clock, bundlePublishRate: 2, pollMs: 60_000 } });
  await s.engine.runtime.install(
    await writeBundle(`${s.root}/src`, manifest("chatty", { services: { Publisher: "1.0.0" } }), {
      "mod.ts": PUBLISHER_MODULE,
    }),
  );
  await s.engine.runtime.start("chatty");
  const results = [];
  for (let i = 0; i < 3; i++) {
    results.push(
      await s.engine.call("Publisher", "tryEmit", { topic: `t${i}`, payload: i }) as {
        error?: string;
      },
    );
  }
  assert.equal(results[0]!.error, undefined);
  assert.equal(results[1]!.error, undefined);
  assert.match(results[2]!.error!, /bundle "chatty" is over its publish rate limit of 2/);
});

Deno.test("POST /events answers 507 naming the budget when the event store is full, and releases go on", async () => {
  await using s = await testServer({
    events: { maxStoreBytes: 100_000, backoffMs: 3_600_000, maxBackoffMs: 3_600_000 },
  });
  await s.engine.runtime.install(
    await writeBundle(`${s.root}/src`, sink("sink", "fill"), { "mod.ts": FAILING }),
  );
  await s.engine.runtime.start("sink");
  const payload = JSON.stringify({ pad: "x".repeat(20_000) });
  const statuses: number[] = [];
  let refusal = "";
  for (let i = 0; i < 20 && !statuses.includes(507); i++) {
    const r = await s.request("/events/fill", { method: "POST", body: payload });
    statuses.push(r.status);
    const body = await r.json() as { error?: { code: string; message: string } };
    if (r.status === 507) {
      assert.equal(body.error?.code, "STORE_FULL");
      refusal = body.error!.message;
    }
  }
  assert.deepEqual(statuses.slice(0, 4), [202, 202, 202, 202]);
  assert.equal(statuses.at(-1), 507, `statuses ${statuses}`);
  assert.match(refusal, /budget \(events\.maxStoreBytes\)/);
  const stats = await s.engine.eventBus.stats();
  assert.ok(stats.storeBytes <= 100_000, `${stats.storeBytes} bytes held`);
  assert.equal(stats.storeFull, 1);
  // The registry is another database: a release is stored and served while the store is full.
  const dir = await writeBundle(
    `${s.root}/later`,
    manifest("later", {
      services: { Later: "1.0.0" },
    }),
    { "mod.ts": `export default { services: { Later: { hi: () => "hi" } } };` },
  );
  const release = await s.request("/admin/releases", {
    method: "POST",
    admin: true,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ path: dir }),
  });
  assert.equal(release.status, 201, await release.text());
  assert.equal(await s.engine.call("Later", "hi", null), "hi");
});

Deno.test("EventBus drops dead letters beyond the cap per subscriber and after their TTL", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using s = await testServer({
    events: {
      clock,
      pollMs: 60_000,
      maxDeadLettersPerSubscriber: 2,
      deadLetterTtlMs: 3_600_000,
      deadLetterSweepMs: 60_000,
    },
  });
  const { engine } = s;
  const settle = () => engine.eventBus.idle();
  await engine.runtime.install(
    await writeBundle(`${s.root}/src`, sink("sink", "doomed", 1), {
      "mod.ts": FAILING,
    }),
  );
  await engine.runtime.start("sink");
  for (let i = 0; i < 4; i++) {
    await engine.eventBus.publish("doomed", { n: i });
    await clock.advance(1_000, settle); // Each dies a second after the one before.
  }
  assert.equal((await engine.eventBus.stats()).deadLetters, 4);
  await clock.advance(60_000, settle);
  let stats = await engine.eventBus.stats();
  assert.equal(stats.deadLetters, 2, "the cap keeps the newest two");
  assert.equal(stats.deadLettersDropped, 2);
  const kept = await engine.eventBus.deadLetters();
  assert.deepEqual(kept.map((l) => (l.payload as { n: number }).n).sort(), [2, 3]);
  await clock.advance(3_600_000, settle);
  stats = await engine.eventBus.stats();
  assert.equal(stats.deadLetters, 0, "expired after the TTL");
  assert.equal(stats.events, 0, "their events went with them");
  assert.equal(stats.deadLettersDropped, 4);
});

Deno.test("POST /events requires the publish token or the admin token when one is set", async () => {
  const publishToken = "publish-token-0123456789";
  await using s = await testServer({}, { publishToken });
  const post = (authorization?: string) =>
    s.request("/events/guarded", {
      method: "POST",
      body: "{}",
      headers: authorization ? { authorization } : {},
    }).then(async (r) => ({ status: r.status, body: await r.json() }));
  const anonymous = await post();
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.body.error.message, /requires a bearer token/);
  assert.equal((await post("Bearer wrong-token-0123456789")).status, 401);
  assert.equal((await post(`Bearer ${publishToken}`)).status, 202);
  assert.equal((await post(`Bearer ${TEST_TOKEN}`)).status, 202);
});

Deno.test("POST /events stays open by default and requirePublishToken alone asks for the admin token", async () => {
  {
    await using open = await testServer();
    const r = await open.request("/events/open", { method: "POST", body: "{}" });
    assert.equal(r.status, 202);
    await r.body?.cancel();
  }
  await using s = await testServer({}, { requirePublishToken: true });
  const anonymous = await s.request("/events/closed", { method: "POST", body: "{}" });
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
  const admin = await s.request("/events/closed", { method: "POST", body: "{}", admin: true });
  assert.equal(admin.status, 202);
  await admin.body?.cancel();
});
