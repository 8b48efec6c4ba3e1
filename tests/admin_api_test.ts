/**
 * The admin API through real HTTP on loopback: authentication, listing, releases from a folder or
 * an uploaded tar / tar.gz (with unsafe archives refused), body limits and status. Lifecycle
 * operations (start, stop, delete, rollback, traffic) are in `admin_lifecycle_test.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { packTar } from "modern-tar";
import { manifest, writeBundle } from "./_helpers.ts";
import { admin, type BundleView, releasePath, type ReleaseReply, rpc } from "./_http.ts";
import { testServer } from "./_server.ts";

const greeter = (word: string) =>
  `export default { services: { Greeter: { say: () => ${JSON.stringify(word)} } } };`;
const BUNDLE_JSON = JSON.stringify(manifest("packed", { services: { Greeter: "1.0.0" } }));

/** A tar archive of `files` (path → text), built with the library the engine unpacks with. */
function tar(files: Record<string, string>): Promise<Uint8Array<ArrayBuffer>> {
  return packTar(
    Object.entries(files).map(([name, body]) => ({
      header: { name, size: new TextEncoder().encode(body).byteLength },
      body,
    })),
  );
}

async function gzip(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([data]).stream().pipeThrough(new CompressionStream("gzip"));
  return await new Response(stream).bytes();
}

function upload(url: string, body: Uint8Array<ArrayBuffer>, type = "application/x-tar") {
  return admin<ReleaseReply>(url, "POST", "/admin/releases", body, { "content-type": type });
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("Admin API answers 401 without a token, with a wrong token, and with another scheme", async () => {
  await using srv = await testServer();
  const dir = await writeBundle(`${srv.root}/src`, manifest("quiet"), { "mod.ts": greeter("x") });
  const authorizations = [
    undefined,
    "Bearer wrong-token-0123456789",
    `Basic ${btoa(`admin:${"test-token-0123456789abcdef"}`)}`,
    "test-token-0123456789abcdef",
    "Bearer ",
  ];
  const routes: [string, string][] = [
    ["GET", "/admin/bundles"],
    ["GET", "/admin/status"],
    ["POST", "/admin/releases"],
    ["POST", "/admin/bundles/quiet/stop"],
    ["DELETE", "/admin/bundles/quiet"],
  ];
  for (const authorization of authorizations) {
    for (const [method, path] of routes) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (authorization !== undefined) headers.authorization = authorization;
      const body = method === "POST" ? JSON.stringify({ path: dir }) : null;
      const response = await fetch(`${srv.url}${path}`, { method, headers, body });
      assert.equal(response.status, 401, `${method} ${path} with ${authorization}`);
      assert.equal((await response.json()).error.code, "UNAUTHORIZED");
    }
  }
  // Nothing was released on the way.
  assert.deepEqual((await admin(srv.url, "GET", "/admin/bundles")).body, []);
});

Deno.test("Admin API lists bundles, shows one, and answers 404 or 400 for unknown or invalid ids", async () => {
  await using srv = await testServer();
  assert.deepEqual((await admin(srv.url, "GET", "/admin/bundles")).body, []);
  const dir = await writeBundle(
    `${srv.root}/src`,
    manifest("greeter", { services: { Greeter: "1.0.0" } }),
    {
      "mod.ts": greeter("one"),
    },
  );
  const released = await releasePath(srv.url, dir);
  const list = await admin<BundleView[]>(srv.url, "GET", "/admin/bundles");
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.map((b) => [b.id, b.active, b.state, b.desired]), [
    ["greeter", "1.0.0", "ACTIVE", "started"],
  ]);
  const one = await admin<BundleView>(srv.url, "GET", "/admin/bundles/greeter");
  assert.equal(one.status, 200);
  assert.deepEqual(one.body.history, ["1.0.0"]);
  assert.deepEqual(one.body.releases.map((r) => [r.version, r.hash]), [[
    "1.0.0",
    released.body.hash,
  ]]);
  assert.deepEqual(one.body.revisions.map((r) => [r.version, r.state]), [["1.0.0", "ACTIVE"]]);

  const unknown = await admin(srv.url, "GET", "/admin/bundles/nobody");
  assert.deepEqual([unknown.status, unknown.body.error?.code], [404, "NOT_FOUND"]);
  const invalid = await admin(srv.url, "GET", "/admin/bundles/Not_An_Id");
  assert.deepEqual([invalid.status, invalid.body.error?.code], [400, "BAD_INPUT"]);
  assert.match(invalid.body.error!.message, /Invalid bundle id "Not_An_Id"/);
});

Deno.test("Admin API releases a folder: 201 created, 200 when repeated, 409 for other content", async () => {
  await using srv = await testServer();
  const dir = await writeBundle(
    `${srv.root}/src`,
    manifest("greeter", { services: { Greeter: "1.0.0" } }),
    {
      "mod.ts": greeter("one"),
    },
  );
  const first = await releasePath(srv.url, dir);
  assert.equal(first.status, 201);
  assert.deepEqual({ ...first.body, hash: undefined }, {
    id: "greeter",
    version: "1.0.0",
    hash: undefined,
    created: true,
    state: "ACTIVE",
  });
  assert.match(first.body.hash, /^sha256-[0-9a-f]{64}$/);
  assert.equal((await rpc(srv.url, "Greeter", "say")).body.result, "one");

  const again = await releasePath(srv.url, dir);
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, { ...first.body, created: false });

  await Deno.writeTextFile(`${dir}/mod.ts`, greeter("changed"));
  const conflict = await releasePath(srv.url, dir);
  assert.deepEqual([conflict.status, conflict.body.error?.code], [409, "CONFLICT"]);
  assert.match(conflict.body.error!.message, /greeter@1\.0\.0.*different content/);
  assert.equal((await rpc(srv.url, "Greeter", "say")).body.result, "one");
});

Deno.test("Admin API refuses bad releases with 400, 404, 415 and 422 and a reason", async () => {
  await using srv = await testServer();
  const src = `${srv.root}/src`;
  const badManifest = await writeBundle(src, manifest("bad", { version: "one" }), { "mod.ts": "" });
  const reply = await releasePath(srv.url, badManifest);
  assert.deepEqual([reply.status, reply.body.error?.code], [400, "BAD_MANIFEST"]);
  assert.equal(reply.body.error?.field, "version");
  assert.match(reply.body.error!.message, /field "version"/);

  const missing = await releasePath(srv.url, `${src}/does-not-exist`);
  assert.deepEqual([missing.status, missing.body.error?.code], [404, "NOT_FOUND"]);

  const notFolder = await releasePath(srv.url, `${badManifest}/bundle.json`);
  assert.deepEqual([notFolder.status, notFolder.body.error?.code], [400, "BAD_INPUT"]);
  assert.match(notFolder.body.error!.message, /cannot read folder/);

  // Vetting refuses a module graph that reaches outside the bundle folder.
  await Deno.writeTextFile(`${src}/outside.ts`, "export const secret = 1;");
  const escapes: [string, RegExp][] = [
    [`${src}/outside.ts`, /outside\.ts, a file outside the bundle folder/],
    // Relative to the stored copy, which is what runs: it resolves to nothing.
    ["../outside.ts", /Module not found .*outside\.ts/],
  ];
  for (const [specifier, message] of escapes) {
    const escaping = await writeBundle(src, manifest("escape"), {
      "mod.ts": `import { secret } from "${specifier}";\nexport default { services: {}, secret };`,
    });
    const refused = await releasePath(srv.url, escaping);
    assert.deepEqual([refused.status, refused.body.error?.code], [422, "RELEASE_REFUSED"]);
    assert.match(refused.body.error!.message, message);
  }

  const plain = await admin(
    srv.url,
    "POST",
    "/admin/releases",
    new TextEncoder().encode(badManifest),
    {
      "content-type": "text/plain",
    },
  );
  assert.deepEqual([plain.status, plain.body.error?.code], [415, "UNSUPPORTED_MEDIA_TYPE"]);

  const json = { "content-type": "application/json" };
  const bodies: [string, RegExp][] = [
    ["{not json", /not valid JSON/],
    [JSON.stringify({ path: badManifest, force: true }), /Unrecognized key: "force"/],
    [JSON.stringify({ path: 42 }), /path:/],
    ["", /body is required/],
  ];
  for (const [body, message] of bodies) {
    const bad = await admin(
      srv.url,
      "POST",
      "/admin/releases",
      new TextEncoder().encode(body),
      json,
    );
    assert.deepEqual([bad.status, bad.body.error?.code], [400, "BAD_INPUT"], body);
    assert.match(bad.body.error!.message, message);
  }
  // None of it was recorded, and no release folder was left behind.
  assert.deepEqual((await admin(srv.url, "GET", "/admin/bundles")).body, []);
  assert.equal(await exists(`${srv.root}/.bundlehost/releases/escape/1.0.0`), false);
});

Deno.test("Admin API releases tar and tar.gz uploads, also with one top-level folder", async () => {
  await using srv = await testServer();
  const files = (version: string, word: string) => ({
    "bundle.json": BUNDLE_JSON.replace('"1.0.0"', `"${version}"`),
    "mod.ts": `import { word } from "./lib/word.ts";\n${greeter("").replace('""', "word")}`,
    "lib/word.ts": `export const word = ${JSON.stringify(word)};`,
  });
  const plain = await upload(srv.url, await tar(files("1.0.0", "plain tar")));
  assert.deepEqual([plain.status, plain.body.id, plain.body.version], [201, "packed", "1.0.0"]);
  assert.equal((await rpc(srv.url, "Greeter", "say")).body.result, "plain tar");

  const gz = await upload(
    srv.url,
    await gzip(await tar(files("1.1.0", "gzipped"))),
    "application/gzip",
  );
  assert.equal(gz.status, 201);
  assert.equal((await rpc(srv.url, "Greeter", "say")).body.result, "gzipped");

  const nested = Object.fromEntries(
    Object.entries(files("1.2.0", "nested")).map(([path, body]) => [`packed-1.2.0/${path}`, body]),
  );
  const folder = await upload(srv.url, await tar(nested));
  assert.equal(folder.status, 201);
  const served = await rpc(srv.url, "Greeter", "say");
  assert.deepEqual([served.body.result, served.headers.get("x-bundle")], [
    "nested",
    "packed@1.2.0",
  ]);
  // The stored copy has the files at the top, as in a folder release.
  const stored = `${srv.root}/.bundlehost/releases/packed/1.2.0`;
  assert.equal(await exists(`${stored}/bundle.json`), true);
  assert.equal(await exists(`${stored}/lib/word.ts`), true);

  const same = await upload(
    srv.url,
    await gzip(await tar(files("1.0.0", "plain tar"))),
    "application/gzip",
  );
  assert.deepEqual([same.status, same.body.created], [200, false]);
});

Deno.test("Admin API refuses archives with ../, absolute or symlink entries, or no bundle.json", async () => {
  await using srv = await testServer();
  const head = [{ header: { name: "bundle.json", size: BUNDLE_JSON.length }, body: BUNDLE_JSON }, {
    header: { name: "mod.ts", size: 21 },
    body: "export default {};//.",
  }];
  const cases: [string, Parameters<typeof packTar>[0], RegExp][] = [
    ["../", [...head, { header: { name: "../x.ts", size: 1 }, body: "x" }], /"\.\.\/x\.ts" leaves/],
    ["nested ../", [...head, { header: { name: "lib/../../x.ts", size: 1 }, body: "x" }], /leaves/],
    ["absolute", [...head, { header: { name: "/etc/cron.d/x", size: 1 }, body: "x" }], /absolute/],
    ["symlink", [...head, {
      header: { name: "link.ts", size: 0, type: "symlink", linkname: "/etc/passwd" },
    }], /"link\.ts" is a symlink/],
    ["hardlink", [...head, {
      header: { name: "hard.ts", size: 0, type: "link", linkname: "mod.ts" },
    }], /is a link, not a file/],
    ["no manifest", head.slice(1), /no bundle\.json/],
  ];
  for (const [label, entries, message] of cases) {
    const reply = await upload(srv.url, await packTar(entries));
    assert.deepEqual([reply.status, reply.body.error?.code], [422, "RELEASE_REFUSED"], label);
    assert.match(reply.body.error!.message, message, label);
  }
  const garbage = await upload(srv.url, new TextEncoder().encode("x".repeat(1000)));
  assert.deepEqual([garbage.status, garbage.body.error?.code], [422, "RELEASE_REFUSED"]);
  const badGzip = await upload(srv.url, new Uint8Array([0x1f, 0x8b, 1, 2, 3]), "application/gzip");
  assert.match(badGzip.body.error!.message, /not valid gzip/);
  assert.deepEqual((await admin(srv.url, "GET", "/admin/bundles")).body, []);
  assert.equal(await exists(`${srv.root}/.bundlehost/releases/packed`), false);
});

Deno.test("Admin API answers 413 for an archive or a JSON body over its limit", async () => {
  await using srv = await testServer({}, { maxArchiveBytes: 8192, maxJsonBytes: 256 });
  const big = await tar({ "bundle.json": BUNDLE_JSON, "mod.ts": `// ${"x".repeat(9000)}` });
  const archive = await upload(srv.url, big);
  assert.deepEqual([archive.status, archive.body.error?.code], [413, "TOO_LARGE"]);
  assert.match(archive.body.error!.message, /larger than 8192 bytes/);

  const longPath = JSON.stringify({ path: `/tmp/${"p".repeat(400)}` });
  const chunked = () => ReadableStream.from([new TextEncoder().encode(longPath)]);
  const json = { "content-type": "application/json" };
  const sent: [string, string, BodyInit][] = [
    ["POST", "/admin/releases", longPath],
    // Without a content-length (chunked), the limit must hold all the same.
    ["POST", "/admin/releases", chunked()],
    ["POST", "/admin/bundles/packed/rollback", chunked()],
    ["PUT", "/admin/bundles/packed/traffic", longPath],
  ];
  for (const [method, path, body] of sent) {
    const response = await fetch(`${srv.url}${path}`, {
      method,
      body,
      headers: { ...json, authorization: "Bearer test-token-0123456789abcdef" },
    });
    const reply = await response.json();
    assert.deepEqual([response.status, reply.error.code], [413, "TOO_LARGE"], `${method} ${path}`);
    assert.match(reply.error.message, /larger than 256 bytes/);
  }
  // A small archive still goes through.
  const small = await upload(
    srv.url,
    await tar({ "bundle.json": BUNDLE_JSON, "mod.ts": greeter("s") }),
  );
  assert.equal(small.status, 201);
});

Deno.test("Admin API status reports uptime and every bundle with its revisions", async () => {
  await using srv = await testServer();
  const empty = await admin<{ uptimeMs: number; bundles: unknown[] }>(
    srv.url,
    "GET",
    "/admin/status",
  );
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.body.bundles, []);
  assert.equal(typeof empty.body.uptimeMs, "number");
  for (const [version, word] of [["1.0.0", "one"], ["2.0.0", "two"]]) {
    const dir = await writeBundle(
      `${srv.root}/src`,
      manifest("greeter", { version, services: { Greeter: "1.0.0" } }),
      {
        "mod.ts": greeter(word!),
      },
    );
    assert.equal((await releasePath(srv.url, dir)).status, 201);
  }
  const status = await admin<
    { bundles: { id: string; current: string; revisions: { version: string; state: string }[] }[] }
  >(
    srv.url,
    "GET",
    "/admin/status",
  );
  assert.deepEqual(status.body.bundles.map((b) => [b.id, b.current]), [["greeter", "2.0.0"]]);
  assert.deepEqual(
    status.body.bundles[0]!.revisions.map((r) => [r.version, r.state]),
    [["1.0.0", "RESOLVED"], ["2.0.0", "ACTIVE"]],
  );
});
