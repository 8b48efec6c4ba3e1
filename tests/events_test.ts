/**
 * Message events end to end: publish over HTTP and from a bundle (`ctx.events`), fan-out to every
 * subscribing bundle exactly once when nothing fails, retries with backoff driven by a manual
 * clock, dead letters and their replay through the admin API, trace context, bounded loops.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type DeliveryEvent, type Engine, ManualClock } from "../mod.ts";
import { manifest, sharing, testEngine, writeBundle } from "./_helpers.ts";
import { TEST_TOKEN, testServer } from "./_server.ts";
import { main as cli } from "../cli.ts";
import { admin } from "./_http.ts";
import { drained, ONE_INSTANCE, PUBLISHER_MODULE, recorderModule, type Seen } from "./_events.ts";

const TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

function subscriber(id: string, subscribe: Record<string, unknown>, service = "Orders") {
  return manifest(id, { services: { [service]: "1.0.0" }, subscribe, scaling: ONE_INSTANCE });
}

/** Installs and starts a bundle on a test server's engine. */
async function deployOn(
  s: { engine: Engine; root: string },
  m: Record<string, unknown>,
  files: Record<string, string>,
): Promise<void> {
  await s.engine.runtime.install(await writeBundle(`${s.root}/src`, m, files));
  await s.engine.runtime.start(String(m.id));
}

Deno.test("EventBus delivers each event once to every subscriber, from HTTP and from bundles", async () => {
  // Two subscribers of one topic, with one service name: the operator grants both.
  await using s = await testServer(sharing(
    { Orders: ["sub-a", "sub-b", "sub-c"] },
    { "order.created": ["sub-a", "sub-b"] },
  ));
  const { engine } = s;
  const deploy = (m: Record<string, unknown>, files: Record<string, string>) =>
    deployOn(s, m, files);
  await deploy(subscriber("sub-a", { "order.created": "Orders.handle" }), {
    "mod.ts": recorderModule("Orders"),
  });
  await deploy(subscriber("sub-b", { "order.created": { handler: "Orders.handle" } }), {
    "mod.ts": recorderModule("Orders"),
  });
  await deploy(subscriber("sub-c", { "order.cancelled": "Orders.handle" }), {
    "mod.ts": recorderModule("Orders"),
  });
  await deploy(manifest("pub", { services: { Publisher: "1.0.0" } }), {
    "mod.ts": PUBLISHER_MODULE,
  });
  const outcomes: DeliveryEvent[] = [];
  engine.events.on("delivery", (e) => outcomes.push(e));

  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const response = await s.request("/events/order.created", {
      method: "POST",
      body: JSON.stringify({ n: i, via: "http" }),
    });
    assert.equal(response.status, 202);
    const body = await response.json() as { id: string; deliveries: number };
    assert.equal(body.deliveries, 2);
    ids.push(body.id);
  }
  for (let i = 5; i < 10; i++) {
    const result = await engine.call("Publisher", "emit", {
      topic: "order.created",
      payload: { n: i, via: "bundle" },
    }) as { id: string; deliveries: number };
    assert.equal(result.deliveries, 2);
    ids.push(result.id);
  }
  assert.equal(new Set(ids).size, 10);
  await drained(engine);

  for (const id of ["sub-a", "sub-b"]) {
    const seen = await engine.call("Orders", "seen", null, {
      route: { type: "ID", pattern: id },
    }) as Seen[];
    assert.deepEqual(seen.map((e) => e.id).sort(), [...ids].sort(), `${id} saw each event once`);
    for (const e of seen) {
      assert.equal(e.topic, "order.created");
      assert.equal(e.attempt, 1);
      const n = (e.payload as { n: number }).n;
      assert.deepEqual(e.payload, { n, via: n < 5 ? "http" : "bundle" });
    }
  }
  const other = await engine.call("Orders", "seen", null, {
    route: { type: "ID", pattern: "sub-c" },
  });
  assert.deepEqual(other, []);
  assert.equal(outcomes.length, 20);
  assert.ok(outcomes.every((e) => e.outcome === "delivered"));
  const stats = await engine.eventBus.stats();
  assert.deepEqual([stats.events, stats.pending, stats.deadLetters, stats.delivered], [
    0,
    0,
    0,
    20,
  ]);

  // A stopped bundle subscribes to nothing: new events are not fanned out to it.
  await engine.runtime.stop("sub-b");
  const after = await engine.eventBus.publish("order.created", { n: 99 });
  assert.equal(after.deliveries, 1);
  await drained(engine);
});

Deno.test("POST /events validates topic, JSON and size; the event admin routes need the token", async () => {
  await using s = await testServer();
  const post = (topic: string, body: string) =>
    s.request(`/events/${topic}`, { method: "POST", body });
  const codes = async (
    response: Response,
  ) => [response.status, ((await response.json()) as { error?: { code: string } }).error?.code];
  assert.deepEqual(await codes(await post("Bad_Topic", "{}")), [400, "BAD_INPUT"]);
  assert.deepEqual(await codes(await post("bundlehost.schedule", "{}")), [400, "BAD_INPUT"]);
  assert.deepEqual(await codes(await post("order.created", "{nope")), [400, "BAD_INPUT"]);
  const big = JSON.stringify({ data: "x".repeat(60_000) });
  assert.deepEqual(await codes(await post("order.created", big)), [413, "TOO_LARGE"]);
  const ok = await post("nobody.listens", "");
  assert.equal(ok.status, 202);
  assert.equal(((await ok.json()) as { deliveries: number }).deliveries, 0);

  for (
    const [method, path] of [
      ["GET", "/admin/events/stats"],
      ["GET", "/admin/events/dead-letters"],
      ["POST", "/admin/events/dead-letters/0-0000000000000000~0/replay"],
      ["DELETE", "/admin/events/dead-letters/0-0000000000000000~0"],
    ] as const
  ) {
    assert.equal((await s.request(path, { method })).status, 401, `${method} ${path}`);
    await (await s.request(path, { method })).body?.cancel();
  }
  assert.equal((await admin(s.url, "GET", "/admin/events/dead-letters/bad id")).status, 400);
  assert.equal(
    (await admin(s.url, "GET", "/admin/events/dead-letters/0-0000000000000000~0")).status,
    404,
  );
  assert.equal((await admin(s.url, "GET", "/admin/events/dead-letters?limit=0")).status, 400);
});

Deno.test("EventBus retries a failing subscriber with backoff, dead-letters it, and replay delivers", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using s = await testServer({
    events: { clock, backoffMs: 1_000, maxBackoffMs: 60_000, pollMs: 60_000 },
  });
  const { engine } = s;
  const settle = () => engine.eventBus.idle();
  await deployOn(
    s,
    subscriber("flaky", { "order.created": { handler: "Orders.handle", maxAttempts: 3 } }),
    { "mod.ts": recorderModule("Orders") },
  );
  const flaky = { route: { type: "ID" as const, pattern: "flaky" } };
  await engine.call("Orders", "setFailing", true, flaky);
  const outcomes: DeliveryEvent[] = [];
  engine.events.on("delivery", (e) => outcomes.push(e));

  const { id } = await engine.eventBus.publish("order.created", { sku: "tea" });
  await clock.advance(0, settle);
  assert.deepEqual(outcomes.map((e) => [e.outcome, e.delivery.attempts]), [["retry", 1]]);
  const first = outcomes[0]!.delayMs!;
  assert.ok(first >= 500 && first <= 1_000, `first backoff ${first} ms is 1 s with jitter`);
  assert.equal(outcomes[0]!.delivery.nextAttemptAt, clock.now() + first);
  assert.match(outcomes[0]!.error!, /boom on attempt 1/);

  // Not a millisecond early.
  await clock.advance(first - 1, settle);
  assert.equal(outcomes.length, 1);
  await clock.advance(1, settle);
  assert.deepEqual(outcomes.map((e) => e.outcome), ["retry", "retry"]);
  const second = outcomes[1]!.delayMs!;
  assert.ok(second >= 1_000 && second <= 2_000, `second backoff ${second} ms is 2 s with jitter`);
  await clock.advance(second, settle);
  assert.deepEqual(outcomes.map((e) => e.outcome), ["retry", "retry", "dead"]);
  assert.deepEqual(await engine.call("Orders", "tries", null, flaky), [1, 2, 3]);

  const letters = await admin<Record<string, unknown>[]>(
    s.url,
    "GET",
    "/admin/events/dead-letters",
  );
  assert.equal(letters.status, 200);
  assert.equal(letters.body.length, 1);
  const letter = letters.body[0]!;
  assert.equal(letter.eventId, id);
  assert.deepEqual([letter.bundle, letter.handler, letter.attempts], ["flaky", "Orders.handle", 3]);
  assert.deepEqual(letter.payload, { sku: "tea" });
  assert.match(String(letter.error), /BUNDLE_ERROR: .*boom on attempt 3/);
  const stats = await admin<Record<string, number>>(s.url, "GET", "/admin/events/stats");
  assert.deepEqual([stats.body.deadLetters, stats.body.pending, stats.body.events], [1, 0, 1]);

  // Nothing happens to a dead letter by itself.
  await clock.advance(3_600_000, settle);
  assert.equal(outcomes.length, 3);

  await engine.call("Orders", "setFailing", false, flaky);
  const options = ["--url", s.url, "--token", TEST_TOKEN, "--json"];
  assert.equal(await cli(["events", "dead-letters", ...options]), 0);
  assert.equal(await cli(["events", "replay", ...options]), 2, "replay needs an id");
  assert.equal(await cli(["events", "replay", String(letter.id), ...options]), 0);
  await clock.advance(0, settle);
  assert.equal(outcomes.at(-1)?.outcome, "delivered");
  const seen = await engine.call("Orders", "seen", null, flaky) as Seen[];
  assert.deepEqual(seen.map((e) => [e.id, e.attempt]), [[id, 1]]);
  const end = await engine.eventBus.stats();
  assert.deepEqual([end.deadLetters, end.pending, end.events], [0, 0, 0]);
  assert.equal(
    (await admin(s.url, "POST", `/admin/events/dead-letters/${letter.id}/replay`)).status,
    404,
  );
});

Deno.test("EventBus delivers in the publisher's trace and bounds event loops with the hop limit", async () => {
  await using t = await testEngine({ maxHops: 3, events: { backoffMs: 10 } });
  await t.deploy(manifest("pub", { services: { Publisher: "1.0.0" } }), {
    "mod.ts": PUBLISHER_MODULE,
  });
  await t.deploy(subscriber("sub", { "order.created": "Orders.handle" }), {
    "mod.ts": recorderModule("Orders"),
  });
  // Every event on "loop" publishes the next one: a loop the hop limit must end.
  await t.deploy(
    manifest("looper", {
      services: { Loop: "1.0.0" },
      isolation: "process", // ctx.events from a child process too
      subscribe: { loop: { handler: "Loop.again", maxAttempts: 1 } },
    }),
    {
      "mod.ts": `export default { services: { Loop: {
        again: (event, ctx) => ctx.events.publish("loop", { n: event.payload.n + 1 }) } } };`,
    },
  );
  await t.engine.call("Publisher", "emit", { topic: "order.created", payload: 1 }, {
    traceparent: TRACE,
    tracestate: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
  });
  await t.engine.eventBus.publish("loop", { n: 0 });
  await drained(t.engine);
  const seen = await t.engine.call("Orders", "seen", null) as Seen[];
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.trace?.slice(3, 35), TRACE.slice(3, 35), "same trace as the publisher");
  assert.equal(seen[0]!.state, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", "and its tracestate");

  const letters = await t.engine.eventBus.deadLetters();
  assert.equal(letters.length, 1);
  assert.equal(letters[0]!.topic, "loop");
  assert.match(letters[0]!.error, /HOP_LIMIT/);
  // From outside hop 0; each republish adds one; the publish beyond maxHops is refused.
  assert.deepEqual(letters[0]!.payload, { n: 3 });

  const refused = await t.engine.call("Publisher", "tryEmit", { topic: "Bad", payload: 1 });
  assert.match(JSON.stringify(refused), /TypeError: Invalid topic/);
  const tooBig = await t.engine.call("Publisher", "tryEmit", {
    topic: "ok",
    payload: "x".repeat(50_000),
  });
  assert.match(JSON.stringify(tooBig), /RangeError: Event payload is larger than 49152 bytes/);
});

Deno.test("EventBus keeps retrying a stopped subscriber's deliveries until it runs again", async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  await using t = await testEngine({ events: { clock, backoffMs: 1_000, pollMs: 60_000 } });
  const settle = () => t.engine.eventBus.idle();
  await t.deploy(subscriber("sleepy", { "order.created": "Orders.handle" }), {
    "mod.ts": recorderModule("Orders"),
  });
  const outcomes: DeliveryEvent[] = [];
  t.engine.events.on("delivery", (e) => outcomes.push(e));
  const { id } = await t.engine.eventBus.publish("order.created", { n: 1 });
  await t.engine.runtime.stop("sleepy");
  await clock.advance(0, settle);
  assert.deepEqual(outcomes.map((e) => e.outcome), ["retry"]);
  assert.match(outcomes[0]!.error!, /NOT_FOUND/);
  await t.engine.runtime.start("sleepy");
  await clock.advance(outcomes[0]!.delayMs!, settle);
  assert.deepEqual(outcomes.map((e) => e.outcome), ["retry", "delivered"]);
  const seen = await t.engine.call("Orders", "seen", null) as Seen[];
  assert.deepEqual(seen.map((e) => [e.id, e.attempt]), [[id, 2]]);
});
