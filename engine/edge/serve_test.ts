import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { connectionServer } from "./_deno_http.ts";
import { type EdgeServeOptions, serveEdge } from "./serve.ts";

/** Polls `check` every 10 ms for at most `ms`; fails with `what` when it never holds. */
async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Reads until the peer closes; resolves true on EOF, false when `ms` pass first. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const buffer = new Uint8Array(1024);
  const timeout = new Promise<false>((r) => setTimeout(() => r(false), ms));
  const eof = (async () => {
    try {
      while ((await conn.read(buffer)) !== null) { /* drain a response, if any */ }
    } catch {
      // A reset is a close too.
    }
    return true;
  })();
  return await Promise.race([eof, timeout]);
}

function edge(options: EdgeServeOptions) {
  const server = serveEdge((request) => new Response(new URL(request.url).pathname), {
    hostname: "127.0.0.1",
    port: 0,
    ...options,
  });
  return Object.assign(server, {
    url: `http://127.0.0.1:${server.addr.port}`,
    connect: () => Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }),
    [Symbol.asyncDispose]: () => server.shutdown(),
  });
}

Deno.test("connectionServer finds Deno's per-connection HTTP server (fails if Deno drops it)", () => {
  assert.equal(typeof connectionServer(), "function");
  const server = serveEdge(() => new Response("ok"), { port: 0 });
  assert.equal(server.mode, "owned");
  return server.shutdown();
});

Deno.test("serveEdge serves requests and keep-alive connections", async () => {
  await using server = edge({});
  for (let i = 0; i < 3; i++) {
    const response = await fetch(`${server.url}/hello/${i}`);
    assert.equal(await response.text(), `/hello/${i}`);
  }
  assert.ok(server.counts().open >= 1);
});

Deno.test("serveEdge closes a half-sent request head once the head timeout passes", async () => {
  const clock = new ManualClock(0);
  await using server = edge({ clock, headTimeoutMs: 1_000 });
  const slow = await server.connect();
  await slow.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n"));
  await until(() => server.counts().open === 1, "the connection to be accepted");
  await clock.advance(900);
  assert.equal(await closedWithin(slow, 100), false, "closed before the head timeout");
  await clock.advance(300);
  assert.equal(await closedWithin(slow, 5_000), true, "still open after the head timeout");
  slow.close();
  assert.equal(server.counts().timedOut, 1);
  // The server still answers.
  assert.equal(await (await fetch(`${server.url}/after`)).text(), "/after");
});

Deno.test("serveEdge keeps an event stream's connection busy past the head timeout until it ends", async () => {
  const clock = new ManualClock(0);
  const encoder = new TextEncoder();
  let events!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      events = controller;
      controller.enqueue(encoder.encode(": open\n\n"));
    },
  });
  await using server = Object.assign(
    serveEdge(
      () => new Response(stream, { headers: { "content-type": "text/event-stream" } }),
      { hostname: "127.0.0.1", port: 0, clock, headTimeoutMs: 1_000 },
    ),
    { [Symbol.asyncDispose]: () => server.shutdown() },
  );
  const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await reader.read()).value, ": open\n\n");
  // Quiet far longer than the head timeout: the stream is a request in flight, not an idle wait.
  await clock.advance(10_000);
  events.enqueue(encoder.encode("data: later\n\n"));
  assert.equal((await reader.read()).value, "data: later\n\n");
  assert.equal(server.counts().timedOut, 0);
  // Once it ends, the connection is idle again and the head timeout applies.
  events.close();
  assert.equal((await reader.read()).done, true);
  await until(() => {
    void clock.advance(2_000);
    return server.counts().timedOut === 1;
  }, "the idle connection to time out");
});

Deno.test("serveEdge closes the longest-idle connection to admit a newcomer at the cap", async () => {
  await using server = edge({ maxConnections: 2, fdReserve: 1 });
  assert.equal(server.counts().maxConnections, 2);
  const first = await server.connect();
  await until(() => server.counts().open === 1, "the first connection");
  const second = await server.connect();
  await until(() => server.counts().open === 2, "the second connection");
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const response = await fetch(`${server.url}/newcomer`, { client });
  assert.equal(await response.text(), "/newcomer");
  client.close();
  assert.equal(await closedWithin(first, 5_000), true, "the oldest idle connection stayed open");
  assert.equal(server.counts().evicted >= 1, true);
  first.close();
  second.close();
});

Deno.test("serveEdge shutdown closes idle connections and stops listening", async () => {
  const server = edge({});
  const idle = await server.connect();
  await until(() => server.counts().open === 1, "the connection");
  await server.shutdown();
  assert.equal(await closedWithin(idle, 5_000), true);
  idle.close();
  await assert.rejects(fetch(`${server.url}/gone`));
});

/** Opens a WebSocket, sends `ping`, and reports the echo, if one came before the socket closed. */
async function pingOver(port: number): Promise<{ echo?: string }> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
  let echo: string | undefined;
  socket.onopen = () => socket.send("ping");
  socket.onmessage = (event) => {
    echo = String(event.data);
    socket.close();
  };
  await new Promise((resolve) => socket.onclose = resolve);
  return { echo };
}

Deno.test("Platform fact: Deno's per-connection server closes a WebSocket upgraded on it (why the edge answers 501; fails when a Deno release fixes it)", async () => {
  // The same echo handler, first behind Deno.serve: the socket lives and echoes.
  let serverClose: number | undefined;
  const echo = (request: Request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(`echo:${event.data}`);
    socket.onclose = (event) => serverClose = event.code;
    return response;
  };
  const served = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, echo);
  assert.equal((await pingOver(served.addr.port)).echo, "echo:ping");
  await served.shutdown();

  // Then behind Deno's per-connection server alone: no connection table, no head timeout, no
  // abort and no close from this side. Its `finished` settles as soon as the 101 is written (the
  // connection's HTTP task is over) and then closes the server forcibly, which closes every
  // WebSocket upgraded on it: the socket opens and dies with 1005 before any message passes.
  serverClose = undefined;
  const serveConnection = connectionServer()!;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const finished: Promise<void>[] = [];
  const accepting = (async () => {
    const conn = await listener.accept();
    const never = new AbortController();
    finished.push(
      serveConnection(conn, never.signal, echo, () => new Response(null, { status: 500 })).finished,
    );
  })();
  const outcome = await pingOver((listener.addr as Deno.NetAddr).port);
  await accepting;
  await finished[0];
  listener.close();
  assert.equal(
    outcome.echo,
    undefined,
    "the socket carried a message: the edge may serve WebSockets now",
  );
  await until(() => serverClose !== undefined, "the server-side socket to close");
  assert.equal(serverClose, 1005);
});
