/**
 * The soak benchmark's own parts, against real servers on loopback: its HTTP/1.1 client, its
 * fixed-rate generator (every due request recorded, the in-flight cap and the timeout counted as
 * errors, never silently dropped), its percentiles, its BENCHMARKS.md section (which the load
 * harness's rewrite must keep) and its hostile bundle (which the engine must still accept).
 *
 * @module
 */
import assert from "node:assert/strict";
import { keptSections } from "../bench/load/record.ts";
import { HOSTILE_BUNDLE } from "../bench/soak/bundles.ts";
import { encodeRequest, Http1Connection } from "../bench/soak/http1.ts";
import { OUTCOME, runOpenLoop } from "../bench/soak/open_loop.ts";
import { SECTION_BEGIN, SECTION_END, sectionOf, withSection } from "../bench/soak/report.ts";
import { bySlot, percentiles } from "../bench/soak/summary.ts";
import { testServer } from "./_server.ts";

/** A loopback server for one test; the handler decides per path. */
async function withServer(
  handler: Deno.ServeHandler<Deno.NetAddr>,
  body: (port: number) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  try {
    await body(server.addr.port);
  } finally {
    await server.shutdown();
  }
}

Deno.test("Http1Connection reads content-length and chunked replies on one keep-alive socket", async () => {
  const clientPorts = new Set<number>();
  await withServer((request, info) => {
    clientPorts.add(info.remoteAddr.port);
    if (new URL(request.url).pathname === "/chunked") {
      const parts = ['{"result":', '"streamed"}'];
      return new Response(
        new ReadableStream({
          pull(controller) {
            const next = parts.shift();
            if (next === undefined) controller.close();
            else controller.enqueue(new TextEncoder().encode(next));
          },
        }),
      );
    }
    return new Response('{"result":"fixed"}', { status: 201 });
  }, async (port) => {
    const conn = await Http1Connection.open("127.0.0.1", port);
    try {
      const host = `127.0.0.1:${port}`;
      for (let i = 0; i < 3; i++) {
        const fixed = await conn.send(encodeRequest("POST", "/fixed", "{}", host));
        assert.deepEqual(fixed, { status: 201, body: '{"result":"fixed"}' });
        const chunked = await conn.send(encodeRequest("POST", "/chunked", "{}", host));
        assert.deepEqual(chunked, { status: 200, body: '{"result":"streamed"}' });
      }
      assert.equal(conn.closed, false);
    } finally {
      conn.close();
    }
  });
  assert.equal(clientPorts.size, 1, "all six requests came over one connection");
});

Deno.test("runOpenLoop records every due request with its target and outcome", async () => {
  const seen: string[] = [];
  await withServer((request) => {
    const path = new URL(request.url).pathname;
    seen.push(path);
    if (path === "/bad") return new Response('{"error":{}}', { status: 503 });
    if (path === "/odd") return new Response("not json");
    return new Response('{"result":1}');
  }, async (port) => {
    const r = await runOpenLoop({
      hostname: "127.0.0.1",
      port,
      targets: [
        { name: "ok", path: "/ok", body: "{}" },
        { name: "bad", path: "/bad", body: "{}" },
        { name: "odd", path: "/odd", body: "{}" },
      ],
      rate: 150,
      seconds: 1,
      connections: 4,
      maxInFlight: 150,
      timeoutMs: 5_000,
    });
    assert.equal(r.count, 150);
    assert.equal(seen.length, 150);
    for (let i = 0; i < r.count; i++) {
      assert.equal(r.target[i], i % 3);
      assert.equal(r.dueMs[i], (i * 1000) / 150);
      assert.equal(r.status[i], [200, 503, OUTCOME.badBody][i % 3]);
      assert.ok(Number.isFinite(r.latencyMs[i]) && r.latencyMs[i]! >= 0, `latency of ${i}`);
      assert.ok(Number.isFinite(r.lagMs[i]), `lag of ${i}`);
    }
  });
});

Deno.test("runOpenLoop counts requests beyond the in-flight cap as skipped and slow ones as timeouts", async () => {
  await withServer(async (request) => {
    const ms = new URL(request.url).pathname === "/hang" ? 1_500 : 400;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return new Response('{"result":1}');
  }, async (port) => {
    const r = await runOpenLoop({
      hostname: "127.0.0.1",
      port,
      targets: [{ name: "slow", path: "/slow", body: "{}" }],
      rate: 100,
      seconds: 0.5,
      connections: 5,
      maxInFlight: 5,
      timeoutMs: 5_000,
    });
    const statuses = Array.from(r.status);
    const ok = statuses.filter((s) => s === 200).length;
    const skipped = statuses.filter((s) => s === OUTCOME.skipped).length;
    assert.equal(r.count, 50);
    assert.equal(ok + skipped, 50, `every request is ok or skipped: ${statuses}`);
    // At most 5 in flight and every reply takes 400 ms: at most 10 of the 50 (due within 500 ms)
    // can have been sent.
    assert.ok(ok >= 5 && ok <= 10, `${ok} ok`);

    const t = await runOpenLoop({
      hostname: "127.0.0.1",
      port,
      targets: [{ name: "hang", path: "/hang", body: "{}" }],
      rate: 10,
      seconds: 0.3,
      connections: 1,
      maxInFlight: 10,
      timeoutMs: 200,
    });
    assert.deepEqual(Array.from(t.status), [OUTCOME.timeout, OUTCOME.timeout, OUTCOME.timeout]);
  });
});

Deno.test("percentiles uses the nearest rank and ignores NaN", () => {
  const values = [...Array.from({ length: 100 }, (_, i) => 100 - i), NaN];
  assert.deepEqual(percentiles(values), {
    n: 100,
    p50: 50,
    p90: 90,
    p99: 99,
    p999: 100,
    max: 100,
  });
  assert.ok(Number.isNaN(percentiles([]).p50));
});

Deno.test("bySlot charges each good request to the misbehaviour whose slot it was due in", () => {
  // Six requests 500 ms apart; the generator started 250 ms after the hostile driver, whose two
  // behaviours take 1 s slots in turn: due at 250, 750 → "a"; 1250, 1750 → "b"; 2250, 2750 → "a".
  const count = 6;
  const r = {
    startEpochMs: 10_250,
    count,
    dueMs: Float64Array.from({ length: count }, (_, i) => i * 500),
    latencyMs: Float32Array.from([1, 2, 30, 40, 5, 6]),
    lagMs: new Float32Array(count),
    status: Int16Array.from([200, 200, 503, 200, OUTCOME.skipped, 200]),
    target: new Uint8Array(count),
    errorMessages: {},
    connectionsOpened: 1,
  };
  const [a, b] = bySlot(r, 10_000, 1_000, ["a", "b"]);
  assert.deepEqual([a!.name, a!.due, a!.errors, a!.latency.n, a!.latency.max], ["a", 4, 1, 3, 6]);
  assert.deepEqual([b!.name, b!.due, b!.errors, b!.latency.n, b!.latency.max], ["b", 2, 1, 1, 40]);
});

Deno.test("withSection replaces the soak section in place and the load harness keeps it", () => {
  const first = `${SECTION_BEGIN}\n\n## Soak\n\nrun 1\n\n${SECTION_END}`;
  const second = `${SECTION_BEGIN}\n\n## Soak\n\nrun 2\n\n${SECTION_END}`;
  const once = withSection("# Benchmarks\n\n## Load\n", first);
  const twice = withSection(once, second);
  assert.equal(twice.split(SECTION_END).length, 2, "exactly one section");
  assert.ok(twice.startsWith("# Benchmarks\n\n## Load\n") && twice.includes("run 2"));
  assert.ok(!twice.includes("run 1"));
  assert.equal(sectionOf(twice), second);
  // What the load harness appends to its own freshly rendered file.
  assert.equal(keptSections(twice), `\n${second}\n`);
  assert.equal(keptSections("# Benchmarks\n"), "");
});

Deno.test("The soak's hostile bundle is released by the engine and misbehaves as declared", async () => {
  await using server = await testServer();
  const release = await server.request("/admin/releases", {
    method: "POST",
    admin: true,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ path: HOSTILE_BUNDLE }),
  });
  const released = await release.json() as { state?: string };
  assert.equal(release.status, 201, JSON.stringify(released));
  assert.equal(released.state, "ACTIVE");
  const call = (method: string, input: unknown) =>
    server.request(`/rpc/SoakHostile/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(input),
    });
  const huge = await call("huge", { objects: 3 });
  assert.deepEqual(await huge.json(), { result: [{ i: 0 }, { i: 1 }, { i: 2 }] });
  const flood = await call("flood", { lines: 2 });
  assert.deepEqual(await flood.json(), { result: 2 });
  const storm = await call("storm", {});
  const error = await storm.json() as { error?: { code?: string; message?: string } };
  assert.equal(storm.status, 502);
  assert.equal(error.error?.code, "BUNDLE_ERROR");
  assert.match(error.error?.message ?? "", /storm/);
});
