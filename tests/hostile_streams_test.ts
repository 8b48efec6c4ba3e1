/**
 * Hostile streams: a bundle that forges stream messages behind the runtime's back (process tier,
 * frames on fd 1: chunks for streams that do not exist, oversize chunks, chunks after the end), one that streams past the response size limit, and a flood of streams past
 * the per-instance bound, in both tiers where the bundle can reach it. The engine cuts or drops
 * what breaks the protocol, counts it, and goes on serving.
 *
 * @module
 */
import assert from "node:assert/strict";
import { FRAME_WRITER } from "./_forge.ts";
import { manifest, writeBundle } from "./_helpers.ts";
import { releasePath } from "./_http.ts";
import { type TestServer, testServer } from "./_server.ts";
import { streamFigures } from "../engine/sandbox/host/stream_table.ts";

// Opens an endless event stream, then forges frames for every stream id up to 40 (ten ids a turn,
// so the sandbox still answers its heartbeats; with heartbeats far apart, ids stay below 40): for most of them a stray; for the open one a chunk
// over the size limit, or after its end. Chunks past the credit are cut the same way
// (engine/sandbox/wire/inbound_stream_test.ts: over HTTP, the server drains the window as fast as
// a forger fills it).
const FORGER = `import v8 from "node:v8";
import fs from "node:fs";
${FRAME_WRITER}
function send(message) {
  writeFrame(message);
}
const attacks = {
  oversize: (stream) => send({ type: "stream-chunk", stream, data: new Uint8Array(70_000) }),
  afterEnd: (stream) => {
    send({ type: "stream-end", stream });
    send({ type: "stream-chunk", stream, data: new Uint8Array(10) });
  },
};
export default {
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/ping") return new Response("pong");
    const attack = attacks[url.pathname.slice(1)];
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("data: open\\n\\n"));
        const batch = (from) => {
          for (let id = from; id < from + 10; id++) attack(id);
          if (from < 40) setTimeout(() => batch(from + 10), 20);
        };
        setTimeout(() => batch(0), 50);
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  },
};`;

/** An endless event stream, or one that streams 40 MiB, past the response limit. */
const STREAMS = `export default {
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/ping") return new Response("pong");
    if (url.pathname === "/huge") {
      let sent = 0;
      return new Response(new ReadableStream({
        pull(controller) {
          sent += 65_536;
          controller.enqueue(new Uint8Array(65_536));
          if (sent >= 40 * 1024 * 1024) controller.close();
        },
      }));
    }
    const body = new ReadableStream({
      start(controller) { controller.enqueue(new TextEncoder().encode("data: open\\n\\n")); },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  },
};`;

async function release(srv: TestServer, id: string, tier: string, source: string) {
  const dir = await writeBundle(
    `${srv.root}/src`,
    manifest(id, { isolation: tier, scaling: { maxWorkers: 1 } }),
    { "mod.ts": source },
  );
  const reply = await releasePath(srv.url, dir);
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
}

/** Reads a body to its end or failure: bytes read and whether it failed. */
async function drain(response: Response): Promise<{ bytes: number; failed: boolean }> {
  let bytes = 0;
  try {
    for await (const chunk of response.body!) bytes += chunk.byteLength;
    return { bytes, failed: false };
  } catch {
    return { bytes, failed: true };
  }
}

Deno.test("Hostile streams (process tier): forged stream messages are cut or dropped, counted, and the engine serves on", async () => {
  // Message ids count heartbeats too: far apart, the stream's id stays in the forger's range.
  await using srv = await testServer({ heartbeatMs: 3_600_000, unresponsiveMs: 7_200_000 });
  await release(srv, "forger", "process", FORGER);
  for (const attack of ["oversize", "afterEnd"]) {
    const before = { ...streamFigures };
    const response = await srv.request(`/b/forger/${attack}`);
    assert.equal(response.status, 200);
    const result = await drain(response);
    // A cut stream fails at the client; a forged end closes it: neither hangs.
    assert.ok(streamFigures.strays > before.strays, `${attack}: strays counted`);
    if (attack !== "afterEnd") {
      assert.ok(result.failed, `${attack}: the stream was cut`);
      assert.ok(streamFigures.cut > before.cut, `${attack}: the cut was counted`);
    }
    const ping = await srv.request("/b/forger/ping");
    assert.equal(await ping.text(), "pong");
  }
});

for (const tier of ["worker", "process"]) {
  Deno.test(`Hostile streams: past the response limit a stream is cut and counted (${tier} tier)`, async () => {
    await using srv = await testServer();
    await release(srv, "huge", tier, STREAMS);
    const cut = streamFigures.cut;
    const response = await srv.request("/b/huge/huge");
    assert.equal(response.status, 200);
    const result = await drain(response);
    assert.ok(result.failed, "the client sees the body fail");
    assert.ok(result.bytes <= 32 * 1024 * 1024, `${result.bytes} bytes passed`);
    assert.equal(streamFigures.cut, cut + 1);
    assert.equal(await (await srv.request("/b/huge/ping")).text(), "pong");
  });

  Deno.test(`Hostile streams: a flood of streams is refused past the instance's bound (${tier} tier)`, async () => {
    // Heartbeats far apart: an instance replaced as unresponsive on a loaded machine would take
    // its streams with it, and its successor would serve past the bound this test counts.
    await using srv = await testServer({ heartbeatMs: 1_000, unresponsiveMs: 120_000 });
    await release(srv, "flood", tier, STREAMS);
    const controllers: AbortController[] = [];
    // Held until the end: a response nobody references is collected, and collecting it closes its
    // connection, so the engine (rightly) ends that stream and the bound is never reached. With a
    // garbage collection during this loop, all 72 were served.
    const open: Response[] = [];
    const statuses: number[] = [];
    const refusals: string[] = [];
    for (let i = 0; i < 72; i++) {
      const controller = new AbortController();
      controllers.push(controller);
      const response = await srv.request("/b/flood/sse", { signal: controller.signal });
      statuses.push(response.status);
      if (response.status === 200) open.push(response);
      else refusals.push(await response.text());
    }
    assert.equal(statuses.filter((s) => s === 200).length, 64, statuses.join(","));
    assert.ok(statuses.slice(64).every((s) => s === 503), statuses.join(","));
    assert.match(refusals[0]!, /64 streams open, the most allowed/);
    for (const controller of controllers) controller.abort();
    await Promise.all(open.map((response) => response.body?.cancel().catch(() => {})));
    // Once the clients leave, their streams end (as the server notices) and new ones are served.
    let again = await srv.request("/b/flood/sse");
    // Bounded generously: on a loaded 2-core machine the process tier can take seconds to see it.
    for (let attempt = 0; attempt < 300 && again.status !== 200; attempt++) {
      await again.body?.cancel();
      await new Promise((r) => setTimeout(r, 100));
      again = await srv.request("/b/flood/sse");
    }
    assert.equal(again.status, 200);
    await again.body?.cancel();
  });
}
