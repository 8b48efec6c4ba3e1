/**
 * `/b/:id/*` response bodies reach the client byte for byte, in both tiers, whichever way they
 * cross the sandbox boundary: a small UTF-8 body with a `content-type` travels as text (one copy
 * fewer), everything else as bytes. Each case is one a text path could get wrong: a byte-order
 * mark, bytes that are not UTF-8, a body without a `content-type` (a text body would get
 * `text/plain`), a body just over the text size, a null-body status. A bundle's forged `x-bundle`
 * and `x-content-type-options` are replaced by the engine's.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, writeBundle } from "./_helpers.ts";
import { releasePath } from "./_http.ts";
import { testServer } from "./_server.ts";
import { TEXT_BODY_BYTES } from "../engine/sandbox/guest/guest_streams.ts";

const BODIES = `const BOM = new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69]);
const NOT_UTF8 = new Uint8Array([0x68, 0xff, 0xfe, 0x00, 0xc3]);
const CACHED = new Response("sent once");
export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    const text = { "content-type": "text/plain; charset=utf-8" };
    switch (path) {
      case "/bom": return new Response(BOM, { headers: text });
      case "/binary": return new Response(NOT_UTF8, { headers: { "content-type": "application/octet-stream" } });
      case "/untyped": return new Response(new TextEncoder().encode("no type"));
      case "/large": return new Response("é".repeat(${TEXT_BODY_BYTES / 2} + 1), { headers: text });
      case "/empty": return new Response(null, { status: 204, headers: text });
      case "/emoji": return new Response("caf\\u00e9 \\u{1f600}", { headers: text });
      case "/string-bom": return new Response("\\ufeffhi", { headers: text });
      case "/lone-surrogate": return new Response("a\\ud800b");
      case "/string-near-limit": return new Response("é".repeat(${TEXT_BODY_BYTES / 2}));
      case "/string-over-limit": return new Response("\\u{1f600}".repeat(${
  TEXT_BODY_BYTES / 4
} + 1));
      case "/string-untyped": {
        const response = new Response("typed no more");
        response.headers.delete("content-type");
        return response;
      }
      case "/string-read": {
        const response = new Response("read by the bundle");
        await response.text();
        return response;
      }
      case "/json": return Response.json({ word: "caf\\u00e9" });
      case "/json-typed":
        return Response.json([1], { status: 201, headers: { "content-type": "application/vnd.api+json" } });
      case "/json-large": return Response.json("é".repeat(${TEXT_BODY_BYTES / 2}));
      case "/repeated": return new Response("repeated", {
        headers: [["x-b", "1"], ["X-A", "a"], ["x-b", "2"], ["cache-control", "no-store"]],
      });
      case "/cached": return CACHED;
      case "/subclass": return new (class Page extends Response {})("from a subclass");
      case "/realm": {
        let called = "not thrown";
        try { Response("x"); } catch (error) { called = error.name; }
        return Response.json({
          instance: new Response("x") instanceof Response,
          json: Response.json({ a: 1 }) instanceof Response,
          jsonFunction: [Response.json.name, Response.json.length],
          error: Response.error().type,
          redirect: Response.redirect("http://localhost/", 302).status,
          constructor: Response.prototype.constructor === Response,
          name: Response.name,
          length: Response.length,
          called,
        });
      }
      default: return new Response("forged", {
        headers: { ...text, "x-bundle": "admin@9.9.9", "x-content-type-options": "sniff" },
      });
    }
  },
};`;

Deno.test("/b/ response bodies arrive byte for byte in both tiers, text or bytes", async (t) => {
  await using srv = await testServer();
  for (const [id, isolation] of [["bodies-worker", "worker"], ["bodies-process", "process"]]) {
    const dir = await writeBundle(`${srv.root}/src`, manifest(id!, { isolation }), {
      "mod.ts": BODIES,
    });
    const reply = await releasePath(srv.url, dir);
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
  }
  const bytes = async (path: string) => {
    const response = await fetch(`${srv.url}${path}`);
    return { response, body: new Uint8Array(await response.arrayBuffer()) };
  };
  for (const id of ["bodies-worker", "bodies-process"]) {
    await t.step(`${id}: a byte-order mark and bytes that are not UTF-8 are kept`, async () => {
      const bom = await bytes(`/b/${id}/bom`);
      assert.deepEqual([...bom.body], [0xef, 0xbb, 0xbf, 0x68, 0x69]);
      assert.equal(bom.response.headers.get("content-type"), "text/plain; charset=utf-8");
      const binary = await bytes(`/b/${id}/binary`);
      assert.deepEqual([...binary.body], [0x68, 0xff, 0xfe, 0x00, 0xc3]);
      const emoji = await bytes(`/b/${id}/emoji`);
      assert.deepEqual(emoji.body, new TextEncoder().encode("caf\u00e9 \u{1f600}"));
    });

    await t.step(
      `${id}: no content-type is made up, large and empty bodies are exact`,
      async () => {
        const untyped = await bytes(`/b/${id}/untyped`);
        assert.equal(untyped.response.headers.get("content-type"), null);
        assert.equal(new TextDecoder().decode(untyped.body), "no type");
        const large = await bytes(`/b/${id}/large`);
        assert.equal(large.body.byteLength, TEXT_BODY_BYTES + 2);
        assert.equal(new TextDecoder().decode(large.body), "é".repeat(TEXT_BODY_BYTES / 2 + 1));
        const empty = await bytes(`/b/${id}/empty`);
        assert.equal(empty.response.status, 204);
        assert.equal(empty.body.byteLength, 0);
      },
    );

    await t.step(`${id}: a body built from a string arrives as its UTF-8 encoding`, async () => {
      const encode = (text: string) => new TextEncoder().encode(text);
      assert.deepEqual((await bytes(`/b/${id}/string-bom`)).body, encode("\ufeffhi"));
      const lone = await bytes(`/b/${id}/lone-surrogate`);
      assert.deepEqual([...lone.body], [0x61, 0xef, 0xbf, 0xbd, 0x62]);
      assert.equal(lone.response.headers.get("content-type"), "text/plain;charset=UTF-8");
      const near = await bytes(`/b/${id}/string-near-limit`);
      assert.deepEqual(near.body, encode("é".repeat(TEXT_BODY_BYTES / 2)));
      const over = await bytes(`/b/${id}/string-over-limit`);
      assert.deepEqual(over.body, encode("\u{1f600}".repeat(TEXT_BODY_BYTES / 4 + 1)));
      const untyped = await bytes(`/b/${id}/string-untyped`);
      assert.equal(untyped.response.headers.get("content-type"), null);
      assert.equal(new TextDecoder().decode(untyped.body), "typed no more");
      const read = await fetch(`${srv.url}/b/${id}/string-read`);
      assert.equal(read.status, 502);
      await read.body?.cancel();
      // A body is read once, as the platform reads it: the same response returned again fails.
      const first = await fetch(`${srv.url}/b/${id}/cached`);
      assert.equal(await first.text(), "sent once");
      const again = await fetch(`${srv.url}/b/${id}/cached`);
      assert.equal(again.status, 502);
      await again.body?.cancel();
      const subclass = await fetch(`${srv.url}/b/${id}/subclass`);
      assert.equal(await subclass.text(), "from a subclass");
    });

    await t.step(`${id}: a Response.json body arrives as the platform sends it`, async () => {
      const json = await bytes(`/b/${id}/json`);
      assert.deepEqual(json.body, new TextEncoder().encode('{"word":"caf\u00e9"}'));
      assert.equal(json.response.headers.get("content-type"), "application/json");
      const typed = await bytes(`/b/${id}/json-typed`);
      assert.equal(typed.response.status, 201);
      assert.equal(typed.response.headers.get("content-type"), "application/vnd.api+json");
      assert.equal(new TextDecoder().decode(typed.body), "[1]");
      const large = await bytes(`/b/${id}/json-large`);
      assert.deepEqual(
        large.body,
        new TextEncoder().encode(JSON.stringify("é".repeat(TEXT_BODY_BYTES / 2))),
      );
    });

    await t.step(
      `${id}: repeated headers arrive combined, as the platform iterates them`,
      async () => {
        const repeated = await fetch(`${srv.url}/b/${id}/repeated`);
        assert.equal(await repeated.text(), "repeated");
        assert.equal(repeated.headers.get("x-b"), "1, 2");
        assert.equal(repeated.headers.get("x-a"), "a");
        assert.equal(repeated.headers.get("cache-control"), "no-store");
      },
    );

    await t.step(`${id}: the bundle's Response behaves as the platform's`, async () => {
      const realm = await fetch(`${srv.url}/b/${id}/realm`);
      assert.deepEqual(await realm.json(), {
        instance: true,
        json: true,
        jsonFunction: ["json", 0],
        error: "error",
        redirect: 302,
        constructor: true,
        name: "Response",
        length: 0,
        called: "TypeError",
      });
    });

    await t.step(`${id}: the engine's x-bundle and nosniff replace the bundle's`, async () => {
      const forged = await fetch(`${srv.url}/b/${id}/`);
      assert.equal(await forged.text(), "forged");
      assert.equal(forged.headers.get("x-bundle"), `${id}@1.0.0`);
      assert.equal(forged.headers.get("x-content-type-options"), "nosniff");
    });
  }
});
