/**
 * `GET /admin/bundles/:id/logs` through real HTTP on loopback, with real sandboxes in both tiers:
 * recent records with the trace id of a traced call, live following over server-sent events,
 * resuming with `Last-Event-ID`, and the bounds a hostile client meets (follower caps, a follower
 * that never reads, the ring's size), plus 404/400/401 and the end of a stream on delete and stop.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type BundleLogRecord, ManualClock } from "../mod.ts";
import { LogEvent } from "../engine/core/lifecycle.ts";
import type { IsolationTier } from "../engine/sdk/types.ts";
import { manifest, manualTime, waitFor, writeBundle } from "./_helpers.ts";
import { admin, releasePath, rpc } from "./_http.ts";
import { startEngineProcess, TEST_TOKEN, type TestServer, testServer } from "./_server.ts";
import { readSse, type SseReader } from "./_sse.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

const sayer = (service: string) =>
  `export default {
  services: {
    ${service}: {
      say(input) {
        console.log("said " + input.word);
        if (input.warn) console.warn("warned " + input.word);
        return input.word;
      },
    },
  },
};`;

type Logs = { records: BundleLogRecord[] };

/** Releases a bundle whose service (`Sayer`, or one named after a second bundle's id) logs. */
async function releaseSayer(srv: TestServer, id = "sayer"): Promise<void> {
  const service = id === "sayer" ? "Sayer" : `Sayer${id[0]!.toUpperCase()}${id.slice(1)}`;
  const dir = await writeBundle(
    `${srv.root}/src`,
    manifest(id, { services: { [service]: "1.0.0" } }),
    {
      "mod.ts": sayer(service),
    },
  );
  const reply = await releasePath(srv.url, dir);
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
}

function follow(srv: TestServer, query: string, init: RequestInit = {}): Promise<Response> {
  return srv.request(`/admin/bundles/${query}`, { admin: true, ...init });
}

/** A log event as a bundle's sandbox produces it (after the log budget). */
function bundleLog(bundle: string, message: string, level: LogEvent["level"] = "info"): LogEvent {
  return new LogEvent({ bundle, version: "1.0.0", instanceId: "i-1", level, message });
}

const messages = (reader: SseReader) => reader.data<BundleLogRecord>("log").map((r) => r.message);

for (const tier of ["worker", "process"] as IsolationTier[]) {
  Deno.test(`Logs API answers recent records with the call's trace id and follows new ones (${tier} tier)`, async () => {
    await using srv = await testServer({ isolation: tier });
    await releaseSayer(srv);
    const said = await rpc(srv.url, "Sayer", "say", { word: "alpha", warn: true }, {
      traceparent: TRACEPARENT,
    });
    assert.equal(said.status, 200, JSON.stringify(said.body));
    let logs: Logs = { records: [] };
    await waitFor(
      async () => {
        logs = (await admin<Logs>(srv.url, "GET", "/admin/bundles/sayer/logs")).body;
        return logs.records.some((r) => r.message === "warned alpha");
      },
      20_000,
      "the bundle's log records",
    );
    const said1 = logs.records.find((r) => r.message === "said alpha")!;
    const warned = logs.records.find((r) => r.message === "warned alpha")!;
    assert.equal(said1.level, "info");
    assert.equal(warned.level, "warn");
    assert.ok(said1.seq < warned.seq, "oldest first");
    for (const record of [said1, warned]) {
      assert.equal(record.bundle, "sayer");
      assert.equal(record.version, "1.0.0");
      assert.equal(record.traceId, TRACE_ID);
      assert.ok(record.instanceId.length > 0);
      assert.ok(!Number.isNaN(Date.parse(record.time)));
    }
    const onlyWarn = await admin<Logs>(srv.url, "GET", "/admin/bundles/sayer/logs?level=warn");
    assert.deepEqual(onlyWarn.body.records.map((r) => r.message), ["warned alpha"]);
    const last = await admin<Logs>(srv.url, "GET", "/admin/bundles/sayer/logs?limit=1");
    assert.deepEqual(last.body.records.map((r) => r.message), ["warned alpha"]);

    // Following: the recent records first, then a new, untraced call's records as they come.
    const controller = new AbortController();
    const response = await follow(srv, "sayer/logs?follow=1", { signal: controller.signal });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
    const reader = readSse(response);
    await waitFor(() => messages(reader).includes("warned alpha"), 10_000, "the replayed records");
    await rpc(srv.url, "Sayer", "say", { word: "beta" });
    await waitFor(() => messages(reader).includes("said beta"), 20_000, "the live record");
    const beta = reader.data<BundleLogRecord>("log").find((r) => r.message === "said beta")!;
    assert.equal(beta.traceId === TRACE_ID, false, "an untraced call's record has no such trace");
    const betaEvent = reader.events.find((e) => e.data.includes("said beta"))!;
    assert.equal(betaEvent.id, String(beta.seq));
    controller.abort();
    await reader.closed;
    await waitFor(() => srv.engine.logFollowers === 0, 10_000, "the follower to close");
  });
}

Deno.test("Logs API resumes a follow from Last-Event-ID, and says when records left the buffer first", async () => {
  await using srv = await testServer({ logs: { records: 5 } });
  await releaseSayer(srv);
  for (let i = 1; i <= 3; i++) srv.engine.events.dispatchEvent(bundleLog("sayer", `line ${i}`));
  const first = await admin<Logs>(srv.url, "GET", "/admin/bundles/sayer/logs");
  const seqOf = (m: string) => first.body.records.find((r) => r.message === m)!.seq;

  const controller = new AbortController();
  const resumed = readSse(
    await follow(srv, "sayer/logs?follow=1", {
      signal: controller.signal,
      headers: { "last-event-id": String(seqOf("line 1")) },
    }),
  );
  await waitFor(() => messages(resumed).includes("line 3"), 10_000, "the resumed records");
  assert.deepEqual(messages(resumed).filter((m) => m.startsWith("line")), ["line 2", "line 3"]);
  assert.deepEqual(resumed.data("dropped"), []);
  controller.abort();

  // Ten more records: the ring keeps five, so a resume from "line 1" has a gap it names.
  for (let i = 4; i <= 13; i++) srv.engine.events.dispatchEvent(bundleLog("sayer", `line ${i}`));
  const kept = await admin<Logs>(srv.url, "GET", "/admin/bundles/sayer/logs");
  assert.deepEqual(
    kept.body.records.map((r) => r.message),
    [9, 10, 11, 12, 13].map((i) => `line ${i}`),
  );
  const late = new AbortController();
  const gap = readSse(
    await follow(srv, `sayer/logs?follow=1`, {
      signal: late.signal,
      headers: { "last-event-id": String(seqOf("line 1")) },
    }),
  );
  await waitFor(() => messages(gap).includes("line 13"), 10_000, "the records after the gap");
  const [dropped] = gap.data<{ dropped: number; reason: string }>("dropped");
  assert.equal(dropped?.reason, "evicted");
  assert.equal(dropped?.dropped, kept.body.records[0]!.seq - seqOf("line 1") - 1);
  assert.ok(gap.comments.some((c) => c.includes("left the buffer")));
  late.abort();
  // ?tail=0: only what comes next.
  const fresh = new AbortController();
  const next = readSse(await follow(srv, "sayer/logs?follow=1&tail=0", { signal: fresh.signal }));
  await waitFor(() => next.comments.includes("following"), 10_000, "the stream to open");
  srv.engine.events.dispatchEvent(bundleLog("sayer", "line 14"));
  await waitFor(() => messages(next).includes("line 14"), 10_000, "the next record");
  assert.deepEqual(messages(next).filter((m) => m.startsWith("line")), ["line 14"]);
  fresh.abort();
  await Promise.all([resumed.closed, gap.closed, next.closed]);
});

Deno.test("Logs API caps followers per bundle and in total with a 503 naming the cap", async () => {
  await using srv = await testServer({ logs: { followersPerBundle: 2, followers: 3 } });
  await releaseSayer(srv, "one");
  await releaseSayer(srv, "two");
  const open: AbortController[] = [];
  const start = async (id: string) => {
    const controller = new AbortController();
    const response = await follow(srv, `${id}/logs?follow=1`, { signal: controller.signal });
    if (response.status === 200) {
      open.push(controller);
      readSse(response);
    }
    return response;
  };
  assert.equal((await start("one")).status, 200);
  assert.equal((await start("one")).status, 200);
  const perBundle = await start("one");
  assert.equal(perBundle.status, 503);
  const perBundleBody = await perBundle.json();
  assert.match(perBundleBody.error.message, /bundle "one": it has its most log followers \(2\)/);
  assert.equal((await start("two")).status, 200);
  const total = await start("two");
  assert.equal(total.status, 503);
  assert.match((await total.json()).error.message, /the engine has its most log followers \(3\)/);
  // A follower that goes away frees its place.
  open.shift()!.abort();
  await waitFor(() => srv.engine.logFollowers === 2, 10_000, "the closed follower to be forgotten");
  assert.equal((await start("one")).status, 200);
  for (const controller of open) controller.abort();
  await waitFor(() => srv.engine.logFollowers === 0, 10_000, "every follower to close");
});

Deno.test("Logs API drops, counts and reports records for a follower that does not read", async () => {
  await using srv = await testServer({ logs: { followerQueue: 4 } });
  await releaseSayer(srv);
  const controller = new AbortController();
  const response = await follow(srv, "sayer/logs?follow=1&tail=0", { signal: controller.signal });
  assert.equal(response.status, 200);
  // The client has read nothing yet: a burst of 100 records meets a full queue.
  for (let i = 1; i <= 100; i++) srv.engine.events.dispatchEvent(bundleLog("sayer", `burst ${i}`));
  const reader = readSse(response);
  await waitFor(() => reader.data("dropped").length > 0, 10_000, "the dropped notice");
  const delivered = messages(reader).filter((m) => m.startsWith("burst"));
  const [notice] = reader.data<{ dropped: number; reason: string; totalDropped: number }>(
    "dropped",
  );
  assert.equal(notice!.reason, "slow");
  assert.ok(delivered.length <= 5, `at most the queue and one in hand, got ${delivered.length}`);
  assert.equal(delivered.length + notice!.dropped, 100);
  assert.equal(notice!.totalDropped, notice!.dropped);
  assert.ok(reader.comments.some((c) => c.includes("read too slowly")));
  // The gap sits after what was delivered; the next record follows it.
  srv.engine.events.dispatchEvent(bundleLog("sayer", "after the gap"));
  await waitFor(() => messages(reader).includes("after the gap"), 10_000, "the next record");
  const kinds = reader.events.map((e) => e.event);
  assert.equal(kinds.indexOf("dropped"), delivered.length);
  controller.abort();
  await reader.closed;
});

Deno.test("Logs API ends a follow when the bundle is deleted and when the engine stops", async () => {
  await using srv = await testServer();
  await releaseSayer(srv, "gone");
  await releaseSayer(srv, "kept");
  const gone = readSse(await follow(srv, "gone/logs?follow=1"));
  const kept = readSse(await follow(srv, "kept/logs?follow=1"));
  await waitFor(() => gone.comments.includes("following"), 10_000, "the stream to open");
  assert.equal((await admin(srv.url, "DELETE", "/admin/bundles/gone")).status, 200);
  await gone.closed;
  assert.deepEqual(gone.data("end"), [{ reason: 'bundle "gone" was deleted' }]);
  assert.equal(kept.done(), false);
  const after = await admin(srv.url, "GET", "/admin/bundles/gone/logs");
  assert.equal(after.status, 404);
  await srv.engine.close();
  await kept.closed;
  assert.deepEqual(kept.data("end"), [{ reason: "the engine is stopping" }]);
});

Deno.test("Logs API sends a heartbeat comment after 15 s of quiet, on the engine's clock", async () => {
  const clock = new ManualClock(Date.now());
  await using srv = await testServer(manualTime(clock));
  await releaseSayer(srv);
  const controller = new AbortController();
  const reader = readSse(
    await follow(srv, "sayer/logs?follow=1&tail=0", { signal: controller.signal }),
  );
  await waitFor(() => reader.comments.includes("following"), 10_000, "the stream to open");
  await clock.advance(14_000);
  assert.equal(reader.comments.includes("heartbeat"), false);
  await waitFor(
    async () => {
      await clock.advance(1_000);
      return reader.comments.includes("heartbeat");
    },
    10_000,
    "a heartbeat",
  );
  assert.deepEqual(reader.events, []);
  controller.abort();
  await reader.closed;
});

Deno.test("Logs API answers 404 naming an unknown bundle, 400 naming a bad query value, 401 without a token", async () => {
  await using srv = await testServer({ logs: { records: 50 } });
  await releaseSayer(srv);
  const missing = await admin(srv.url, "GET", "/admin/bundles/nope/logs");
  assert.equal(missing.status, 404);
  assert.match(missing.body.error!.message, /"nope"/);
  const missingFollow = await admin(srv.url, "GET", "/admin/bundles/nope/logs?follow=1");
  assert.equal(missingFollow.status, 404);
  const bad: [string, RegExp][] = [
    ["limit=abc", /"limit"/],
    ["limit=0", /"limit"/],
    ["limit=51", /limit .*from 1 to 50/],
    ["level=loud", /"level" must be one of debug, info, warn, error/],
    ["follow=yes", /"follow" must be 1, 0, true or false/],
    ["follow=1&tail=2", /"tail" must be/],
    ["after=-1", /"after"/],
  ];
  for (const [query, message] of bad) {
    const reply = await admin(srv.url, "GET", `/admin/bundles/sayer/logs?${query}`);
    assert.equal(reply.status, 400, query);
    assert.match(reply.body.error!.message, message, query);
  }
  const badId = await admin(srv.url, "GET", "/admin/bundles/sayer/logs?follow=1", undefined, {
    "last-event-id": "x",
  });
  assert.equal(badId.status, 400);
  assert.match(badId.body.error!.message, /Last-Event-ID/);
  for (const query of ["", "?follow=1"]) {
    const anonymous = await fetch(`${srv.url}/admin/bundles/sayer/logs${query}`);
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
  }
  assert.equal(srv.engine.logFollowers, 0);
});

Deno.test("Logs API: the engine process stops on SIGTERM with a follow open, ending the stream", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "bundlehost-logs-" });
  try {
    // The shipped bundles (hello logs when an instance starts) are released at start.
    await using proc = await startEngineProcess(dataDir);
    const response = await fetch(`${proc.url}/admin/bundles/hello/logs?follow=1`, {
      headers: { authorization: `Bearer ${TEST_TOKEN}` },
    });
    assert.equal(response.status, 200);
    const reader = readSse(response);
    await waitFor(
      () => messages(reader).some((m) => m.startsWith("hello instance")),
      20_000,
      "hello's start-up record",
    );
    const status = await proc.stop();
    assert.equal(status.code, 0, proc.output());
    await reader.closed;
    assert.deepEqual(reader.data("end"), [{ reason: "the engine is stopping" }]);
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
