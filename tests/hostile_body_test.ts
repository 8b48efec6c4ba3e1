/**
 * Hostile input, request bodies: a client that sends a complete head and then trickles or never
 * sends its body is cut off with a 408 naming the wait, and one that disconnects mid-body is a
 * cancellation, never an engine error (an attacker could otherwise fill the engine's log with
 * stack traces by opening and dropping connections).
 *
 * @module
 */
import assert from "node:assert/strict";
import { readBody } from "../engine/edge/http.ts";
import { BundlehostError } from "../engine/base/errors.ts";
import { assertHeld, hostileEngine, probe } from "./_hostile.ts";

const encoder = new TextEncoder();

/** Sends a POST head declaring `length` bytes, then only `sent` of them. */
async function partialPost(port: number, path: string, length: number, sent: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(
    `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
      `content-length: ${length}\r\n\r\n${sent}`,
  ));
  return conn;
}

/** Reads what the server sends until it closes or `ms` pass. */
async function readReply(conn: Deno.Conn, ms: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  const buffer = new Uint8Array(4096);
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const n = await Promise.race([
      conn.read(buffer),
      new Promise<"wait">((r) => setTimeout(() => r("wait"), until - Date.now())),
    ]).catch(() => null);
    if (n === null || n === "wait") break;
    text += decoder.decode(buffer.subarray(0, n));
    if (text.includes("\r\n\r\n") && /"code"/.test(text)) break;
  }
  return text;
}

Deno.test("readBody cuts off a body that does not arrive in time, and names a vanished client", async () => {
  const seen: unknown[] = [];
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      try {
        await readBody(req, 1024 * 1024, 300);
        return new Response("read");
      } catch (error) {
        seen.push(error);
        const code = error instanceof BundlehostError ? error.code : "OTHER";
        return Response.json({ code, message: (error as Error).message }, { status: 408 });
      }
    },
  );
  const port = server.addr.port;

  // Head complete, body never finished: cut off after the timeout, with the reason.
  const stalled = await partialPost(port, "/", 1000, "{");
  const reply = await readReply(stalled, 5_000);
  stalled.close();
  assert.match(reply, /^HTTP\/1\.1 408/);
  assert.match(reply, /"code":"BODY_TIMEOUT"/);
  assert.match(reply, /Request body did not arrive within 300 ms/);

  // The client goes away mid-body: a cancellation, not an unexplained error.
  const dropped = await partialPost(port, "/", 1000, "{");
  await new Promise((r) => setTimeout(r, 50));
  dropped.close();
  const until = Date.now() + 5_000;
  while (seen.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  const last = seen[1];
  assert.ok(last instanceof BundlehostError, `got ${last}`);
  assert.equal(last.code, "CANCELLED");
});

Deno.test("Hostile: clients dropping connections mid-body leave no engine error and the engine holds", async () => {
  await using engine = await hostileEngine();
  const port = Number(new URL(engine.url).port);
  const watch = probe(engine.url);
  for (let round = 0; round < 5; round++) {
    const conns = await Promise.all(
      Array.from({ length: 40 }, () => partialPost(port, "/rpc/VictimService/ping", 100_000, "{")),
    );
    await new Promise((r) => setTimeout(r, 100));
    for (const conn of conns) conn.close();
  }
  await new Promise((r) => setTimeout(r, 500));
  assertHeld(await watch.stop(), engine);
  const output = engine.proc.output();
  assert.doesNotMatch(output, /BadResource|ERROR \[engine\]/, output.slice(-2000));
});
