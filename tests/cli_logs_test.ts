/**
 * `deno task cli logs <id> [--follow]` against a fake of the engine's logs endpoint on loopback
 * (`GET /admin/bundles/:id/logs`, JSON; `?follow=1`, server-sent events `event: log`). The fake
 * speaks exactly the contract the engine's endpoint is built to; the last test runs the command
 * against the real endpoint of a real engine.
 *
 * @module
 */
import assert from "node:assert/strict";
import { main as cli } from "../cli.ts";
import { MAX_EVENT_CHARS, readEvents } from "../cli/sse.ts";
import { testIo } from "./_cli_io.ts";
import { manifest, waitFor, writeBundle } from "./_helpers.ts";
import { admin, releasePath, rpc } from "./_http.ts";
import { TEST_TOKEN, testServer } from "./_server.ts";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

const TOKEN = "fake-logs-token";

const RECORDS = [
  {
    time: Date.UTC(2026, 0, 2, 3, 4, 5),
    level: "info",
    message: "started",
    bundle: "shop",
    version: "1.0.0",
    instanceId: "i-1",
  },
  {
    time: Date.UTC(2026, 0, 2, 3, 4, 6),
    level: "error",
    message: "price failed",
    bundle: "shop",
    version: "1.0.0",
    instanceId: "i-1",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  },
];

interface FakeLogs extends AsyncDisposable {
  url: string;
  /** Requests seen: path with query, and whether the bearer token was right. */
  seen: { path: string; authorized: boolean; accept: string | null }[];
}

/**
 * The fake of the engine's logs endpoint: serves `RECORDS` as JSON, and with `?follow=1` as
 * server-sent events, written in the given chunks (to split events across reads), then ends.
 */
function fakeLogsEndpoint(chunks: string[]): FakeLogs {
  const seen: FakeLogs["seen"] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const url = new URL(request.url);
    const authorized = request.headers.get("authorization") === `Bearer ${TOKEN}`;
    seen.push({
      path: url.pathname + url.search,
      authorized,
      accept: request.headers.get("accept"),
    });
    if (!authorized) {
      return Response.json({ error: { code: "UNAUTHORIZED", message: "bad token" } }, {
        status: 401,
      });
    }
    if (url.pathname !== "/admin/bundles/shop/logs") {
      return Response.json({ error: { code: "NOT_FOUND", message: "no bundle" } }, { status: 404 });
    }
    if (url.searchParams.get("follow") !== "1") return Response.json(RECORDS);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
        controller.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
}

Deno.test("cli logs prints a bundle's recent records, one line each with the trace id", async () => {
  await using fake = fakeLogsEndpoint([]);
  const io = testIo();
  assert.equal(await cli(["logs", "shop", "--url", fake.url, "--token", TOKEN], io), 0);
  assert.deepEqual(io.lines[0]!.split("\n"), [
    "2026-01-02T03:04:05.000Z INFO  shop@1.0.0 [i-1] started",
    "2026-01-02T03:04:06.000Z ERROR shop@1.0.0 [i-1] price failed trace=4bf92f3577b34da6a3ce929d0e0e4736",
  ]);
  assert.deepEqual(fake.seen.map((s) => [s.path, s.authorized]), [[
    "/admin/bundles/shop/logs",
    true,
  ]]);
  const json = testIo();
  assert.equal(await cli(["logs", "shop", "--json", "--url", fake.url, "--token", TOKEN], json), 0);
  assert.deepEqual(JSON.parse(json.text), RECORDS);

  const missing = testIo();
  assert.equal(await cli(["logs", "nope", "--url", fake.url, "--token", TOKEN], missing), 1);
  assert.equal(missing.errors[0], "404 NOT_FOUND: no bundle");
  const denied = testIo();
  assert.equal(
    await cli(["logs", "shop", "--follow", "--url", fake.url, "--token", "x"], denied),
    1,
  );
  assert.equal(denied.errors[0], "401 UNAUTHORIZED: bad token");
});

Deno.test("cli logs --follow prints each log event of the stream as it comes", async () => {
  const first = sse("log", RECORDS[0]);
  // A comment (keep-alive), another event type, an event split across reads with CRLF lines.
  await using fake = fakeLogsEndpoint([
    ": keep-alive\n\n",
    sse("ping", "{}"),
    first.slice(0, 17),
    first.slice(17),
    sse("log", RECORDS[1]).replaceAll("\n", "\r\n").slice(0, 40),
    sse("log", RECORDS[1]).replaceAll("\n", "\r\n").slice(40),
    sse("log", "not json"),
  ]);
  const io = testIo();
  const args = ["logs", "shop", "--follow", "--url", fake.url, "--token", TOKEN];
  assert.equal(await cli(args, io), 0);
  assert.deepEqual(io.lines, [
    "2026-01-02T03:04:05.000Z INFO  shop@1.0.0 [i-1] started",
    "2026-01-02T03:04:06.000Z ERROR shop@1.0.0 [i-1] price failed trace=4bf92f3577b34da6a3ce929d0e0e4736",
  ]);
  assert.deepEqual(io.errors, ["Skipped a log event that is not JSON: not json"]);
  assert.deepEqual(fake.seen.map((s) => [s.path, s.accept]), [
    ["/admin/bundles/shop/logs?follow=1", "text/event-stream"],
  ]);
  // --json: one record per line, for piping into other tools.
  const json = testIo();
  assert.equal(await cli([...args, "--json"], json), 0);
  assert.deepEqual(json.lines.map((l) => JSON.parse(l)), RECORDS);
});

Deno.test("cli logs --follow refuses an event larger than its bound", async () => {
  await using fake = fakeLogsEndpoint([`event: log\ndata: ${"x".repeat(MAX_EVENT_CHARS + 1)}\n\n`]);
  const io = testIo();
  assert.equal(await cli(["logs", "shop", "--follow", "--url", fake.url, "--token", TOKEN], io), 1);
  assert.match(io.errors[0]!, /larger than 1048576 characters|longer than 1048576 characters/);
  assert.deepEqual(io.lines, []);
});

Deno.test("readEvents joins data lines, keeps the last id and reads a CRLF split across chunks", async () => {
  // Chunks split a CRLF in two: one line end, not an empty line that would end the event early.
  const chunks = ["id: 7\r", "\nevent: log\r", "\ndata: a\r", "\ndata: b\n\ndata: c\n\nevent: x\n"];
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      controller.close();
    },
  });
  const events = [];
  for await (const event of readEvents(body)) events.push(event);
  assert.deepEqual(events, [
    { event: "log", data: "a\nb", id: "7" },
    { event: "message", data: "c", id: "7" },
  ]);
});

Deno.test("cli logs reads the engine's real endpoint, and --follow follows it until the bundle is deleted", async () => {
  await using srv = await testServer();
  const dir = await writeBundle(
    `${srv.root}/src`,
    manifest("talker", { services: { Talk: "1.0.0" } }),
    {
      "mod.ts":
        `export default { services: { Talk: { say: (input) => { console.log("said " + input); return 1; } } } };`,
    },
  );
  assert.equal((await releasePath(srv.url, dir)).status, 201);
  await rpc(srv.url, "Talk", "say", "one", { traceparent: TRACEPARENT });
  await waitFor(
    async () => {
      const io = testIo();
      await cli(["logs", "talker", "--url", srv.url, "--token", TEST_TOKEN], io);
      return io.text.includes("said one");
    },
    20_000,
    "the record through the CLI",
  );
  const recent = testIo();
  assert.equal(await cli(["logs", "talker", "--url", srv.url, "--token", TEST_TOKEN], recent), 0);
  assert.match(
    recent.text,
    /^\S+Z INFO {2}talker@1\.0\.0 \[[^\]]+] said one trace=4bf92f3577b34da6a3ce929d0e0e4736$/m,
  );

  const io = testIo();
  const following = cli(
    ["logs", "talker", "--follow", "--url", srv.url, "--token", TEST_TOKEN],
    io,
  );
  await waitFor(() => io.text.includes("said one"), 10_000, "the replayed record");
  await rpc(srv.url, "Talk", "say", "two");
  await waitFor(() => io.text.includes("said two"), 20_000, "the live record");
  // Deleting the bundle ends its followers: the command ends by itself, with success.
  assert.equal((await admin(srv.url, "DELETE", "/admin/bundles/talker")).status, 200);
  assert.equal(await following, 0);
});
