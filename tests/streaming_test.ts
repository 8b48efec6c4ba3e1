/**
 * Streaming bodies through `/b/:id/*`, in both tiers, over real HTTP: a server-sent event stream
 * delivers its first event before the handler's stream ends, a large download and upload stream
 * through bounded, a slow reader holds the engine to one window per stream, a client that leaves
 * cancels the bundle's stream, and a stopping bundle ends its streams.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, waitFor, writeBundle } from "./_helpers.ts";
import { admin } from "./_http.ts";
import { releasePath } from "./_http.ts";
import { type TestServer, testServer } from "./_server.ts";
import { streamBufferedBytes } from "../engine/sandbox/host/stream_table.ts";
import { STREAM_WINDOW_BYTES } from "../engine/sandbox/wire/streams.ts";

/** A bundle with an SSE clock, a large download, an upload counter and an endless stream. */
export const STREAMER = `const state = { produced: 0, cancelled: "no", ticks: 0 };
const MiB = 1024 * 1024;
export default {
  services: {
    Feed: {
      // A stream of values (NDJSON over /rpc), produced 100 ms apart.
      ticks(input) {
        let n = 0;
        return new ReadableStream({
          async pull(controller) {
            await new Promise((resolve) => setTimeout(resolve, 100));
            controller.enqueue({ tick: n++ });
            if (n === input.count) controller.close();
          },
        });
      },
      // A stream of text (bytes over /rpc).
      text() {
        return new ReadableStream({
          start(controller) {
            controller.enqueue("hello ");
            controller.enqueue("world");
            controller.close();
          },
        });
      },
    },
  },
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/state") return Response.json(state);
    if (url.pathname === "/sse") {
      const encoder = new TextEncoder();
      let n = 0;
      let timer;
      const body = new ReadableStream({
        start(controller) {
          timer = setInterval(() => {
            controller.enqueue(encoder.encode("data: tick " + n + "\\n\\n"));
            state.ticks = ++n;
            if (n === Number(url.searchParams.get("n") ?? 5)) {
              clearInterval(timer);
              controller.close();
            }
          }, Number(url.searchParams.get("every") ?? 200));
        },
        cancel() {
          clearInterval(timer);
          state.cancelled = "sse";
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    }
    if (url.pathname === "/download") {
      const size = Number(url.searchParams.get("mib") ?? 8) * MiB;
      let sent = 0;
      const body = new ReadableStream({
        pull(controller) {
          const chunk = new Uint8Array(Math.min(100_000, size - sent)).fill(sent % 251);
          sent += chunk.byteLength;
          controller.enqueue(chunk);
          if (sent >= size) controller.close();
        },
      });
      return new Response(body, { headers: { "content-type": "application/octet-stream" } });
    }
    if (url.pathname === "/endless") {
      state.produced = 0;
      state.cancelled = "no";
      const body = new ReadableStream({
        pull(controller) {
          state.produced += 16384;
          controller.enqueue(new Uint8Array(16384));
        },
        cancel() {
          state.cancelled = "endless";
        },
      }, { highWaterMark: 0 });
      return new Response(body);
    }
    if (url.pathname === "/upload") {
      return (async () => {
        let bytes = 0;
        let chunks = 0;
        let sum = 0;
        for await (const chunk of request.body) {
          bytes += chunk.byteLength;
          chunks++;
          for (let i = 0; i < chunk.byteLength; i += 4096) sum = (sum + chunk[i]) % 1_000_000;
        }
        return Response.json({ bytes, chunks, sum });
      })().catch((error) => Response.json({ error: String(error) }, { status: 413 }));
    }
    return new Response("not here", { status: 404 });
  },
};`;

/** Releases the streamer as `id` in `tier`. */
export async function releaseStreamer(
  srv: TestServer,
  id: string,
  tier: string,
  version = "1.0.0",
): Promise<void> {
  const dir = await writeBundle(
    `${srv.root}/src`,
    manifest(id, { isolation: tier, version, services: { Feed: "1.0.0" } }),
    {
      "mod.ts": STREAMER,
    },
  );
  const reply = await releasePath(srv.url, dir);
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
}

async function state(srv: TestServer, id: string): Promise<Record<string, unknown>> {
  return await (await srv.request(`/b/${id}/state`)).json();
}

for (const tier of ["worker", "process"]) {
  Deno.test(`/b/ streams server-sent events as produced (${tier} tier)`, async () => {
    await using srv = await testServer();
    await releaseStreamer(srv, "clock", tier);
    const response = await srv.request("/b/clock/sse?n=5&every=300");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/event-stream");
    const reader = response.body!.getReader();
    const first = await reader.read();
    // The handler's stream is still running: it has produced fewer than its five events.
    const { ticks } = await state(srv, "clock");
    assert.ok((ticks as number) < 5, `first event arrived after ${ticks} ticks`);
    let text = new TextDecoder().decode(first.value);
    assert.match(text, /^data: tick 0\n\n/);
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.equal(text.match(/data: tick \d\n\n/g)?.length, 5, text);
  });

  Deno.test(`/b/ streams a large download and a large upload through (${tier} tier)`, async () => {
    await using srv = await testServer();
    await releaseStreamer(srv, "big", tier);
    const response = await srv.request("/b/big/download?mib=24");
    assert.equal(response.status, 200);
    let size = 0;
    let sum = 0;
    for await (const chunk of response.body!) {
      size += chunk.byteLength;
      sum += chunk[0]!;
    }
    assert.equal(size, 24 * 1024 * 1024);
    assert.ok(sum > 0);

    // 8 MiB sent chunked: it reaches request.body as a stream, in many chunks.
    const total = 8 * 1024 * 1024;
    let sent = 0;
    const upload = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = new Uint8Array(Math.min(65_536, total - sent)).fill(7);
        sent += chunk.byteLength;
        controller.enqueue(chunk);
        if (sent >= total) controller.close();
      },
    });
    const reply = await srv.request("/b/big/upload", { method: "POST", body: upload });
    const counted = await reply.json();
    assert.equal(reply.status, 200, JSON.stringify(counted));
    assert.equal(counted.bytes, total);
    assert.ok(counted.chunks > 1, `arrived in ${counted.chunks} chunk(s)`);
  });

  Deno.test(`/b/ holds a slow reader to one window and cancels on disconnect (${tier} tier)`, async () => {
    await using srv = await testServer();
    await releaseStreamer(srv, "slow", tier);
    const controller = new AbortController();
    const response = await srv.request("/b/slow/endless", { signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    // The client stops reading: the bundle's stream must stop being pulled, and the engine
    // must hold at most a window of it.
    let last = -1;
    await waitFor(
      async () => {
        const produced = (await state(srv, "slow")).produced as number;
        const still = produced === last;
        last = produced;
        if (!still) await new Promise((r) => setTimeout(r, 300));
        return still;
      },
      20_000,
      "the producer to stall",
    );
    assert.ok(
      last < 16 * 1024 * 1024,
      `the bundle produced ${last} bytes for a reader that stopped`,
    );
    assert.ok(
      streamBufferedBytes() <= STREAM_WINDOW_BYTES,
      `the engine holds ${streamBufferedBytes()} bytes`,
    );
    controller.abort();
    await reader.cancel().catch(() => {});
    await waitFor(async () => (await state(srv, "slow")).cancelled === "endless", 10_000, "cancel");
  });
}

for (const tier of ["worker", "process"]) {
  Deno.test(`/b/ streams end cleanly when a new version takes over and when the bundle stops (${tier} tier)`, async () => {
    await using srv = await testServer();
    await releaseStreamer(srv, "ends", tier);
    // Opens an endless stream (1000 events, 200 ms apart) and waits for its first event; the
    // rest is read to its end.
    const open = async () => {
      const response = await srv.request("/b/ends/sse?n=1000&every=200");
      const reader = response.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      assert.match(first, /^data: tick 0\n\n/);
      // Wrapped: an async function returning a promise would wait for it.
      return {
        ended: (async () => {
          while (!(await reader.read()).done);
        })(),
      };
    };
    // The old version retires when a new one takes over: its stream ends, without an error.
    const first = await open();
    await releaseStreamer(srv, "ends", tier, "2.0.0");
    await first.ended;
    // The bundle stops: its stream ends the same way.
    const second = await open();
    const stop = await admin(srv.url, "POST", "/admin/bundles/ends/stop");
    assert.ok(stop.status < 300, JSON.stringify(stop.body));
    await second.ended;
  });

  Deno.test(`/b/ cuts a streamed upload past maxBodyBytes (${tier} tier)`, async () => {
    await using srv = await testServer({ maxBodyBytes: 1024 * 1024 });
    await releaseStreamer(srv, "cap", tier);
    let sent = 0;
    const upload = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 65_536;
        controller.enqueue(new Uint8Array(65_536));
        if (sent >= 3 * 1024 * 1024) controller.close();
      },
    });
    const reply = await srv.request("/b/cap/upload", { method: "POST", body: upload });
    const body = await reply.json();
    assert.equal(reply.status, 413, JSON.stringify(body));
    assert.match(body.error, /Request body is larger than 1048576 bytes/);
    // A declared length over the limit is refused before the bundle is called.
    const declared = await srv.request("/b/cap/upload", {
      method: "POST",
      body: new Uint8Array(2 * 1024 * 1024),
    });
    assert.equal(declared.status, 413);
    await declared.body?.cancel();
  });
}

for (const tier of ["worker", "process"]) {
  Deno.test(`/rpc streams a method's ReadableStream as NDJSON or bytes (${tier} tier)`, async () => {
    await using srv = await testServer();
    await releaseStreamer(srv, "feed", tier);
    const response = await srv.request("/rpc/Feed/ticks", {
      method: "POST",
      body: JSON.stringify({ count: 4 }),
      headers: { "content-type": "application/json" },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/x-ndjson");
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    // The first value arrives on its own line before the method's stream ends (later ones may
    // share a read with it under load).
    assert.ok(first.startsWith('{"tick":0}\n'), first);
    let rest = "";
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    assert.deepEqual(
      (first + rest).trim().split("\n").map((line) => JSON.parse(line)),
      [{ tick: 0 }, { tick: 1 }, { tick: 2 }, { tick: 3 }],
    );

    const text = await srv.request("/rpc/Feed/text", { method: "POST", body: "{}" });
    assert.equal(text.headers.get("content-type"), "application/octet-stream");
    assert.equal(await text.text(), "hello world");
  });
}
