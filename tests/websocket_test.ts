/**
 * WebSockets through `/b/:id/*`, in both tiers, over real HTTP: `Deno.upgradeWebSocket` in the
 * bundle's fetch handler, text and binary echo, the per-bundle connection limit, close (1001) when
 * the bundle stops or a new version takes over, and a socket that survives another bundle's
 * rollback.
 *
 * @module
 */
import assert from "node:assert/strict";
import { packTar } from "modern-tar";
import { manifest, writeBundle } from "./_helpers.ts";
import { admin, releasePath } from "./_http.ts";
import { startEngineProcess, type TestServer, testServer } from "./_server.ts";
import { serveEdge } from "../engine/edge/serve.ts";

/** A WebSocket echo that answers with its version. */
export const ECHO = `export default {
  fetch(request, ctx) {
    if (request.headers.get("upgrade") !== "websocket") return new Response("echo here");
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => {
      if (typeof event.data === "string") socket.send(ctx.bundle.version + ":" + event.data);
      else socket.send(new Uint8Array(event.data).reverse());
    };
    return response;
  },
};`;

async function releaseEcho(srv: TestServer, id: string, tier: string, version = "1.0.0") {
  const dir = await writeBundle(`${srv.root}/src`, manifest(id, { isolation: tier, version }), {
    "mod.ts": ECHO,
  });
  const reply = await releasePath(srv.url, dir);
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
}

/** An open client socket and its messages and close, as promises. */
async function connect(srv: TestServer, path: string) {
  const socket = new WebSocket(`${srv.url.replace("http", "ws")}${path}`);
  socket.binaryType = "arraybuffer";
  const inbox: unknown[] = [];
  let wake: (() => void) | undefined;
  socket.onmessage = (event) => {
    inbox.push(event.data);
    wake?.();
  };
  const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error(`WebSocket to ${path} failed`));
  });
  return {
    socket,
    closed,
    async next(): Promise<unknown> {
      while (inbox.length === 0) await new Promise<void>((resolve) => wake = resolve);
      return inbox.shift();
    },
  };
}

for (const tier of ["worker", "process"]) {
  Deno.test(`/b/ WebSocket echoes text and binary through the bundle (${tier} tier)`, async () => {
    await using srv = await testServer();
    await releaseEcho(srv, "echo", tier);
    const client = await connect(srv, "/b/echo/ws");
    client.socket.send("hello");
    assert.equal(await client.next(), "1.0.0:hello");
    client.socket.send(Uint8Array.of(1, 2, 3));
    assert.deepEqual([...new Uint8Array(await client.next() as ArrayBuffer)], [3, 2, 1]);
    client.socket.close();
    await client.closed;
    // A message over the 1 MiB bound closes the socket with 1009 (message too big).
    const big = await connect(srv, "/b/echo/ws");
    big.socket.send("x".repeat(1024 * 1024 + 1));
    assert.equal((await big.closed).code, 1009);
  });

  Deno.test(`/b/ WebSockets: limit refusal, another bundle's rollback, close on new version and stop (${tier} tier)`, async () => {
    await using srv = await testServer({ maxSocketsPerBundle: 2 });
    await releaseEcho(srv, "echo", tier);
    await releaseEcho(srv, "other", tier);
    await releaseEcho(srv, "other", tier, "1.1.0");
    const a = await connect(srv, "/b/echo/a");
    const b = await connect(srv, "/b/echo/b");
    // The third is refused with a clear reason before the bundle is called.
    const refused = await srv.request("/b/echo/c", {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    });
    assert.equal(refused.status, 503);
    assert.match(await refused.text(), /2 WebSocket connections open, the most allowed/);

    // Another bundle rolls back: this one's sockets go on.
    const rollback = await admin(srv.url, "POST", "/admin/bundles/other/rollback", {});
    assert.ok(rollback.status < 300, JSON.stringify(rollback.body));
    a.socket.send("still");
    assert.equal(await a.next(), "1.0.0:still");

    // A new version of this bundle: old sockets get 1001, new ones reach the new version.
    await releaseEcho(srv, "echo", tier, "2.0.0");
    const closedA = await a.closed;
    assert.equal(closedA.code, 1001);
    await b.closed;
    const c = await connect(srv, "/b/echo/c");
    c.socket.send("new");
    assert.equal(await c.next(), "2.0.0:new");

    // The bundle stops: its socket is closed cleanly, going away.
    const stop = await admin(srv.url, "POST", "/admin/bundles/echo/stop");
    assert.ok(stop.status < 300, JSON.stringify(stop.body));
    const closedC = await c.closed;
    assert.equal(closedC.code, 1001);
  });
}

Deno.test("The guarded edge refuses a WebSocket upgrade with 501 naming why", async () => {
  const server = serveEdge(() => new Response("plain"), { port: 0, onListen() {} });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/b/echo/ws`;
    const refused = await fetch(url, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    });
    assert.equal(refused.status, 501);
    assert.match(await refused.text(), /closes upgraded connections.*--websockets/);
    assert.equal(await (await fetch(url)).text(), "plain");
  } finally {
    await server.shutdown();
  }
});

Deno.test("main.ts relays WebSockets through /b/ with --websockets, and answers 501 naming it without", async () => {
  const root = await Deno.makeTempDir({ prefix: "bh-ws-main-" });
  await Deno.mkdir(`${root}/empty`);
  const files: Record<string, string> = {
    "bundle.json": JSON.stringify(manifest("echo-main")),
    "mod.ts": ECHO,
  };
  // An archive: the engine process reads no folder outside its own.
  const archive = await packTar(
    Object.entries(files).map(([name, body]) => ({ header: { name, size: body.length }, body })),
  );
  const release = (url: string) =>
    admin(url, "POST", "/admin/releases", archive, { "content-type": "application/x-tar" });
  const upgrade = {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
  };
  try {
    {
      await using guarded = await startEngineProcess(`${root}/guarded`, [
        "--bundles",
        `${root}/empty`,
      ]);
      assert.equal((await release(guarded.url)).status, 201);
      const refused = await fetch(`${guarded.url}/b/echo-main/ws`, { headers: upgrade });
      assert.equal(refused.status, 501);
      assert.match(await refused.text(), /--websockets/);
    }
    await using open = await startEngineProcess(`${root}/open`, [
      "--bundles",
      `${root}/empty`,
      "--websockets",
    ]);
    assert.match(open.output(), /WebSockets through \/b\/ are on/);
    assert.equal((await release(open.url)).status, 201);
    const socket = new WebSocket(`${open.url.replace("http", "ws")}/b/echo-main/ws`);
    const answer = new Promise<string>((resolve, reject) => {
      socket.onmessage = (event) => resolve(String(event.data));
      socket.onerror = () => reject(new Error("WebSocket through main.ts failed"));
    });
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onclose = () => reject(new Error("closed before it opened"));
    });
    socket.send("ping");
    assert.equal(await answer, "1.0.0:ping");
    const closed = new Promise<void>((resolve) => socket.onclose = () => resolve());
    socket.close();
    await closed;
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
