/**
 * Attacks on the guest runtime's fast paths, from a hostile bundle's side: the global `Response`
 * that notes string bodies (`string_body.ts`), the sealed messages the worker tier clones without
 * walking (`clone_check.ts`), the `response` message built from the bundle's `Response`
 * (`fetch_response.ts`), the `Request` subclass a fetch handler gets (`call_request.ts`), and the
 * bundled runtime file every worker boots from (`guest_module.ts`). Each attack runs in both tiers
 * where it applies, against a real engine over HTTP, and asserts that the defence holds; the last
 * group checks that what honest bundles rely on of `Request` and `Response` still behaves as the
 * platform's own.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, writeBundle } from "./_helpers.ts";
import { releasePath, rpc } from "./_http.ts";
import { type TestServer, testServer } from "./_server.ts";

const TIERS = ["worker", "process"] as const;
type Tier = typeof TIERS[number];

/** Releases a bundle whose `mod.ts` is `source`, and checks it was accepted. */
async function release(
  srv: TestServer,
  id: string,
  isolation: Tier,
  source: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const dir = await writeBundle(`${srv.root}/src`, manifest(id, { isolation, ...extra }), {
    "mod.ts": source,
  });
  const released = await releasePath(srv.url, dir);
  assert.equal(released.status, 201, JSON.stringify(released.body));
  return dir;
}

/** Asserts that the engine still answers its health check. */
async function assertHealthy(srv: TestServer): Promise<void> {
  const health = await srv.request("/healthz");
  assert.equal(health.status, 200);
  await health.body?.cancel();
}

// (a) The walk that decides what may cross by structured clone, fooled through prototypes the
// bundle shares with the runtime: each patch alone would let a reply of a million values be
// cloned into the engine's main thread unchecked.
const WALK_PATCHES: Record<string, string> = {
  // The walk's stack forgets everything it was given.
  pop: `const pop = Array.prototype.pop;
    Array.prototype.pop = function () { const v = pop.call(this); this.length = 0; return 0; };`,
  // The keys of a message that holds the payload are never iterated.
  iterator: `const iterate = Array.prototype[Symbol.iterator];
    Array.prototype[Symbol.iterator] = function () {
      return this.includes("value") ? [][Symbol.iterator].call([]) : iterate.call(this);
    };`,
  // Every message "was proved small", and no reply is a type whose values are counted.
  sets: `const has = Set.prototype.has;
    Set.prototype.has = function (v) { return v === "reply" ? false : has.call(this, v); };
    WeakSet.prototype.has = () => true;
    WeakMap.prototype.get = () => 1;`,
  // An accessor passes for data: its descriptor "has" a value, inherited.
  accessor: `const o = {};
    const rows = Object.defineProperty({}, "rows", {
      get: () => new Array(1_000_000).fill(o),
      enumerable: true,
    });
    Object.defineProperty(Object.prototype, "value", { get() { return 0; }, configurable: true });
    return rows;`,
  // Pushes on the walk's stack land nowhere.
  push:
    `Object.defineProperty(Array.prototype, "1", { set() {}, get() { return undefined; }, configurable: true });
    Array.prototype.push = function () { return this.length; };`,
};

function walkSource(service: string): string {
  return `export default { services: { ${service}: { attack(kind) {
  switch (kind) {
${
    Object.entries(WALK_PATCHES).map(([kind, patch]) =>
      `    case ${JSON.stringify(kind)}: {
      ${patch}
      break;
    }`
    ).join("\n")
  }
  }
  const o = {};
  return new Array(1_000_000).fill(o);
} } } };`;
}

Deno.test("Guest fast paths (a): a bundle that patches the intrinsics the clone walk uses cannot get a reply of a million values decoded by the engine, in both tiers", async () => {
  await using srv = await testServer();
  for (const isolation of TIERS) {
    for (const kind of Object.keys(WALK_PATCHES)) {
      const id = `walk-${kind}-${isolation}`;
      const service = `Walk${kind}${isolation}`;
      await release(srv, id, isolation, walkSource(service), { services: { [service]: "1.0.0" } });
      const reply = await rpc(srv.url, service, "attack", kind);
      const text = JSON.stringify(reply.body).slice(0, 400);
      assert.notEqual(reply.status, 200, `${id}: the reply crossed (${text})`);
      // Refused by the cap; a bundle whose patch also broke the runtime's own queue (push) may
      // instead be killed as unresponsive: either way nothing crossed.
      const refused = kind === "push" ? /more than 100000 values|died/ : /more than 100000 values/;
      assert.match(text, refused, `${id}: ${reply.status} ${text}`);
    }
  }
  await assertHealthy(srv);
});

// (b) What reaches the client: the engine's own headers win, hop-by-hop ones never pass, in the
// string, Response.json, stream and redirect forms of a response.
const FORGED = {
  "x-bundle": "someone-else@9.9.9",
  "x-degraded": "forged",
  "connection": "close, x-kept",
  "keep-alive": "timeout=1",
  "proxy-connection": "close",
  "upgrade": "h2c",
  "te": "trailers",
  "trailer": "x-after",
  "x-kept": "yes",
};

const CONFINE_SOURCE = `const forged = ${JSON.stringify(FORGED)};
export default { fetch(request) {
  const form = new URL(request.url).pathname.slice(1);
  if (form === "string") return new Response("string body", { headers: forged });
  if (form === "json") return Response.json({ json: true }, { headers: forged });
  if (form === "stream") {
    const body = new ReadableStream({ async pull(c) {
      await new Promise((r) => setTimeout(r, 5));
      c.enqueue(new TextEncoder().encode("streamed body")); c.close();
    } });
    return new Response(body, { headers: forged });
  }
  const r = Response.redirect("http://127.0.0.1:9/elsewhere", 302);
  return new Response(null, { status: 302, headers: { ...forged, location: r.headers.get("location") } });
} };`;

Deno.test("Guest fast paths (b): forged x-bundle, x-degraded and hop-by-hop headers never reach the client, in every response form and both tiers", async () => {
  await using srv = await testServer();
  for (const isolation of TIERS) {
    const id = `confine-${isolation}`;
    await release(srv, id, isolation, CONFINE_SOURCE);
    for (const form of ["string", "json", "stream", "redirect"]) {
      const response = await srv.request(`/b/${id}/${form}`, { redirect: "manual" });
      const body = await response.text();
      const where = `${id}/${form}: ${response.status} ${body.slice(0, 200)}`;
      assert.equal(response.status, form === "redirect" ? 302 : 200, where);
      assert.equal(response.headers.get("x-bundle"), `${id}@1.0.0`, where);
      assert.equal(response.headers.get("x-degraded"), null, where);
      for (const name of ["keep-alive", "proxy-connection", "upgrade", "te", "trailer"]) {
        assert.equal(response.headers.get(name), null, `${where}: ${name}`);
      }
      assert.notEqual(response.headers.get("connection"), "close, x-kept", where);
      assert.equal(response.headers.get("x-kept"), "yes", where);
      if (form === "redirect") {
        assert.equal(response.headers.get("location"), "http://127.0.0.1:9/elsewhere");
      } else {
        assert.equal(
          body,
          { string: "string body", json: '{"json":true}' }[form] ?? "streamed body",
        );
      }
    }
  }
  await assertHealthy(srv);
});

// (b) String bodies the runtime sends as text: what the client receives is the UTF-8 the platform
// would have streamed, whatever the bundle patched of the encoder or of array methods.
const TEXT_SOURCE = `let patched = false;
export default { fetch(request) {
  const form = new URL(request.url).pathname.slice(1);
  if (form === "patch" && !patched) {
    patched = true;
    TextEncoder.prototype.encode = () => new Uint8Array(0);
    TextEncoder.prototype.encodeInto = () => ({ read: 0, written: 0 });
    Array.prototype.some = () => true;
    TextDecoder.prototype.decode = () => "x".repeat(40 * 1024 * 1024);
    return new Response("patched");
  }
  if (form === "bytes") return new Response(new Uint8Array([98, 121, 116, 101, 115]), { headers: { "content-type": "text/plain" } });
  if (form === "surrogate") return new Response("a\\uD800b\\uDFFFc", { headers: { "content-type": "text/plain" } });
  if (form === "wide") return new Response("\\u00e9".repeat(16_000), { headers: { "content-type": "text/plain" } });
  if (form === "negative") {
    // A chunk that claims a negative size, then 40 MiB: the running total must not be fooled.
    let sent = 0;
    return new Response(new ReadableStream({ pull(c) {
      if (sent++ === 0) c.enqueue({ byteLength: -64 * 1024 * 1024, length: 0, slice: () => new Uint8Array(0) });
      else if (sent <= 41) c.enqueue(new Uint8Array(1024 * 1024).fill(110));
      else c.close();
    } }), { headers: { "content-type": "text/plain" } });
  }
  if (form === "huge") return new Response("x".repeat(33 * 1024 * 1024), { headers: { "content-type": "text/plain" } });
  // A string body whose content-type the bundle removed: the client must not get one it never sent.
  const bare = new Response("bare");
  bare.headers.delete("content-type");
  return bare;
} };`;

async function bytesOf(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}

Deno.test("Guest fast paths (b): a string body reaches the client as valid UTF-8 and within 32 MiB, with only the headers the bundle sent, even with the encoder and Array.prototype.some patched, in both tiers", async () => {
  await using srv = await testServer();
  const encoder = new TextEncoder();
  for (const isolation of TIERS) {
    const id = `text-${isolation}`;
    await release(srv, id, isolation, TEXT_SOURCE);
    for (const round of ["before", "after"]) {
      if (round === "after") {
        const patch = await srv.request(`/b/${id}/patch`);
        const answer = await patch.text();
        // The process tier's runtime frames with the realm's own encoder: a patched one ends that
        // sandbox (the engine replaces it) instead of slipping anything through.
        if (isolation === "process" && patch.status === 502) {
          assert.match(answer, /died/);
          continue;
        }
        assert.equal(answer, "patched");
      }
      const where = `${id} (${round} patching)`;
      const surrogate = await srv.request(`/b/${id}/surrogate`);
      assert.deepEqual(await bytesOf(surrogate), encoder.encode("a\uFFFDb\uFFFDc"), where);
      const wide = await srv.request(`/b/${id}/wide`);
      assert.equal(wide.status, 200, where);
      assert.equal(await wide.text(), "\u00e9".repeat(16_000), where);
      const bytes = await srv.request(`/b/${id}/bytes`);
      assert.equal(await bytes.text(), "bytes", where);
      const bare = await srv.request(`/b/${id}/bare`);
      assert.equal(await bare.text(), "bare", where);
      assert.equal(bare.headers.get("content-type"), null, `${where}: a content-type appeared`);
      for (const form of ["huge", "negative"]) {
        const huge = await srv.request(`/b/${id}/${form}`);
        let received = 0;
        try {
          for await (const chunk of huge.body!) received += chunk.byteLength;
        } catch {
          // The stream is cut at the limit: what counts is how much got through.
        }
        assert.ok(received <= 32 * 1024 * 1024, `${where}: ${received} bytes of a ${form} body`);
      }
    }
  }
  await assertHealthy(srv);
});

// (b) The process tier's bundle can write frames behind the runtime's back
// (`Object.getPrototypeOf(Deno.stdout)` is the real stdout): a forged `response` with a text body
// over 16 KiB, or an inline body over 32 MiB, must be refused by the engine, not sent.
const FORGE_SOURCE = `import { serialize } from "node:v8";
const raw = Object.getPrototypeOf(Deno.stdout);
const write = (bytes) => { let n = 0; while (n < bytes.byteLength) n += raw.writeSync(bytes.subarray(n)); };
function frame(payload) {
  const bytes = new Uint8Array(8 + payload.byteLength);
  bytes.set([0xff, 0x42, 0x48, 3]);
  new DataView(bytes.buffer).setUint32(4, payload.byteLength, true);
  bytes.set(payload, 8);
  return bytes;
}
export default { async fetch(request) {
  const form = new URL(request.url).pathname.slice(1);
  const response = form === "text"
    ? { status: 200, headers: [["content-type", "text/plain"]], body: null, text: "t".repeat(1024 * 1024) }
    : { status: 200, headers: [], body: new Uint8Array(40 * 1024 * 1024).fill(98) };
  // Fetch ids are small numbers: answer every one this call may have.
  for (let id = 1; id <= 12; id++) write(frame(serialize({ type: "response", id, response })));
  await new Promise((r) => setTimeout(r, 100));
  return new Response("real");
} };`;

Deno.test("Guest fast paths (b): a forged response message with a text body over 16 KiB or an inline body over 32 MiB is refused by the engine (process tier)", async () => {
  // A budget that lets a 40 MiB message through: the per-message bounds must hold on their own.
  await using srv = await testServer({ channel: { maxBytesPerSecond: 1024 * 1024 * 1024 } });
  const id = "forge-process";
  await release(srv, id, "process", FORGE_SOURCE);
  for (const form of ["text", "bytes"]) {
    const response = await srv.request(`/b/${id}/${form}`);
    const body = await response.arrayBuffer();
    const text = new TextDecoder().decode(body);
    assert.ok(
      body.byteLength <= 16 * 1024,
      `${form}: ${response.status}, ${body.byteLength} bytes`,
    );
    if (form === "bytes" && response.status === 502) {
      // A 40 MiB frame is refused whole (the sandbox is ended): nothing of it reaches the client.
      assert.match(text, /died: (sent a message|flooded)/);
      continue;
    }
    assert.equal(response.status, 200, `${form}: ${text}`);
    assert.equal(text, "real");
  }
  await assertHealthy(srv);
});

// (c) One bundle's patches stay in its own sandbox: another bundle's responses and replies, sent
// while the attacker's patches are live and its calls interleave with the victim's, are intact.
const PATCHER_SOURCE = `let seen = 0;
let patched = false;
const NativeResponse = Response;
export default {
  services: { PatcherProbe: { seen: () => seen } },
  fetch() {
    if (patched) return new NativeResponse("attacker", { headers: { "content-type": "text/plain" } });
    patched = true;
    const Fake = function Response(body, init) {
      seen++;
      return new NativeResponse("patched: " + body, init);
    };
    Fake.prototype = NativeResponse.prototype;
    Fake.json = () => { seen++; return new NativeResponse("patched json"); };
    Object.defineProperty(globalThis, "Response", { value: Fake, configurable: true, writable: true });
    NativeResponse.prototype.text = async () => { seen++; return "patched text"; };
    Headers.prototype.forEach = function (callback) { seen++; callback("patched", "x-patched", this); };
    WeakSet.prototype.has = () => { seen++; return true; };
    WeakMap.prototype.get = () => { seen++; return 1; };
    Object.defineProperty(Object.prototype, "value", { get() { return "patched"; }, configurable: true });
    return new NativeResponse("attacker", { headers: { "content-type": "text/plain" } });
  },
};`;

const VICTIM_SOURCE = `export default {
  services: { VictimEcho: { echo: (input) => ({ echoed: input, rows: [1, 2, 3] }) } },
  fetch(request) {
    const form = new URL(request.url).pathname.slice(1);
    if (form === "json") return Response.json({ victim: true, form });
    return new Response("victim " + form, { headers: { "content-type": "text/plain", "x-victim": "yes" } });
  },
};`;

Deno.test("Guest fast paths (c): a bundle that patches Response, text(), Headers.forEach, WeakSet, WeakMap and Object.prototype changes nothing of another bundle's responses, in both tiers", async () => {
  await using srv = await testServer();
  for (const isolation of TIERS) {
    const attacker = `patcher-${isolation}`;
    const victim = `victim-${isolation}`;
    const probe = `PatcherProbe${isolation}`;
    const echo = `VictimEcho${isolation}`;
    await release(srv, attacker, isolation, PATCHER_SOURCE.replace("PatcherProbe", probe), {
      services: { [probe]: "1.0.0" },
    });
    await release(srv, victim, isolation, VICTIM_SOURCE.replace("VictimEcho", echo), {
      services: { [echo]: "1.0.0" },
    });
    for (let round = 0; round < 3; round++) {
      const [attacked, text, json, reply] = await Promise.all([
        srv.request(`/b/${attacker}/`),
        srv.request(`/b/${victim}/text${round}`),
        srv.request(`/b/${victim}/json`),
        rpc(srv.url, echo, "echo", { round }),
      ]);
      assert.equal(await attacked.text(), "attacker");
      assert.equal(await text.text(), `victim text${round}`);
      assert.equal(text.headers.get("x-victim"), "yes");
      assert.equal(text.headers.get("x-patched"), null);
      assert.deepEqual(await json.json(), { victim: true, form: "json" });
      assert.deepEqual(reply.body, { result: { echoed: { round }, rows: [1, 2, 3] } });
    }
    // The patches did run, in the attacker's own sandbox only.
    const seen = await rpc(srv.url, probe, "seen");
    assert.equal(reply200(seen), true, JSON.stringify(seen.body));
  }
  await assertHealthy(srv);
});

/** Whether an rpc reply succeeded with a number (the attacker's own count of patched calls). */
function reply200(reply: { status: number; body: unknown }): boolean {
  return reply.status === 200 && typeof (reply.body as { result?: unknown }).result === "number";
}

// (d) The bundled runtime every worker boots from is engine code in the data folder: a bundle,
// even with typical read and write grants and knowing its path, can neither read, replace, link
// nor remove it, and a worker started after the attempts boots from the same bytes.
const RUNTIME_FILE_SOURCE = `export default { async fetch(request, ctx) {
  const data = ctx.bundle.dataDir;
  const target = decodeURIComponent(new URL(request.url).searchParams.get("path"));
  const attempts = {
    read: () => Deno.readTextFile(target),
    write: () => Deno.writeTextFile(target, "globalThis.owned = true;"),
    append: () => Deno.writeTextFile(target, "globalThis.owned = true;", { append: true }),
    remove: () => Deno.remove(target),
    rename: () => Deno.rename(data + "/planted.js", target),
    symlink: () => Deno.symlink(target, data + "/link.js"),
    link: () => Deno.link(target, data + "/hard.js"),
    truncate: () => Deno.truncate(target, 0),
    chmod: () => Deno.chmod(target, 0o666),
    import: () => import(target.replace(/^/, "file://") + "?again"),
  };
  await Deno.mkdir(data, { recursive: true });
  await Deno.writeTextFile(data + "/planted.js", "globalThis.owned = true;");
  const results = { location: String(globalThis.location?.href ?? "") };
  for (const [name, attempt] of Object.entries(attempts)) {
    try { await attempt(); results[name] = "done"; } catch (error) { results[name] = error.name; }
  }
  return Response.json(results);
} };`;

Deno.test("Guest fast paths (d): a bundle with read and write grants can neither read nor change the bundled guest runtime file, in both tiers", async () => {
  await using srv = await testServer();
  const guestDir = `${srv.root}/.bundlehost/guest`;
  const files = [...Deno.readDirSync(guestDir)].map((entry) => entry.name)
    .filter((name) => /^guest-runtime-[0-9a-f]+\.js$/.test(name));
  assert.equal(files.length, 1, `the bundled runtime in ${guestDir}: ${files}`);
  const path = `${guestDir}/${files[0]}`;
  const before = await Deno.readFile(path);
  for (const isolation of TIERS) {
    const id = `runtime-file-${isolation}`;
    const dir = await writeBundle(
      `${srv.root}/src`,
      manifest(id, {
        isolation,
        permissions: { read: ["$DATA"], write: ["$DATA"] },
      }),
      { "mod.ts": RUNTIME_FILE_SOURCE },
    );
    const released = await releasePath(srv.url, dir);
    assert.equal(released.status, 201, JSON.stringify(released.body));
    const response = await srv.request(`/b/${id}/?path=${encodeURIComponent(path)}`);
    const results = await response.json() as Record<string, string>;
    if (isolation === "worker") {
      // The worker booted from the bundled file: that is the file under attack.
      assert.equal(results.location, `file://${path}`);
    }
    for (const name of ["read", "write", "append", "remove", "rename", "symlink", "link"]) {
      assert.equal(results[name], "NotCapable", `${id}: ${name} gave ${results[name]}`);
    }
    for (const name of ["truncate", "chmod", "import"]) {
      assert.notEqual(results[name], "done", `${id}: ${name} succeeded`);
    }
  }
  assert.deepEqual(await Deno.readFile(path), before);
  // A worker started now boots from the same, untouched file.
  const fresh = await release(
    srv,
    "runtime-file-after",
    "worker",
    `export default { fetch: () => new Response(String(globalThis.owned ?? "clean") + " " + location.href) };`,
  );
  assert.ok(fresh);
  const after = await srv.request("/b/runtime-file-after/");
  assert.equal(await after.text(), `clean file://${path}`);
  await assertHealthy(srv);
});

// (e) What honest bundles rely on of Response and Request, in the sandbox as on the platform: the
// same facts computed here, in the test's own realm, are the expected values.
const FACTS = `async (Response, Request) => {
  class Page extends Response {
    constructor(text) { super(text, { headers: { "content-type": "text/html" } }); }
    get kind() { return "page"; }
  }
  const page = new Page("<p>");
  let called = "not thrown";
  try { Response("x"); } catch (error) { called = error.name; }
  const cloned = new Response("twice");
  const copy = cloned.clone();
  const request = new Request("http://h/x", { method: "POST", body: "req" });
  const requestCopy = request.clone();
  let twice = "not thrown";
  const read = new Response("once");
  await read.text();
  try { await read.text(); } catch (error) { twice = error.name; }
  return {
    name: Response.name,
    length: Response.length,
    ownKeys: Reflect.ownKeys(Response).map(String),
    protoIsFunction: Object.getPrototypeOf(Response) === Function.prototype,
    constructor: Response.prototype.constructor === Response,
    instanceConstructor: new Response("x").constructor === Response,
    tag: Object.prototype.toString.call(new Response("x")),
    called,
    json: [Response.json.name, Response.json.length, Response.json({ a: 1 }) instanceof Response],
    jsonText: await Response.json({ a: 1 }, { status: 201 }).text(),
    jsonStatus: Response.json({ a: 1 }, { status: 201 }).status,
    subclassJson: Page.json({}) instanceof Page,
    error: [Response.error().type, Response.error().status, Response.error() instanceof Response],
    redirect: [Response.redirect("http://h/to", 301).status, Response.redirect("http://h/to").headers.get("location")],
    page: [page instanceof Page, page instanceof Response, page.constructor === Page, page.kind, await page.text()],
    clone: [await copy.text(), await cloned.text()],
    twice,
    request: [request instanceof Request, request.constructor === Request, await requestCopy.text(), await request.text()],
  };
}`;

const HONEST_SOURCE = `const facts = ${FACTS};
let state = "not run";
export default {
  services: { HonestState: { state: () => state } },
  async fetch(request) {
    const form = new URL(request.url).pathname.slice(1);
    if (form === "facts") return Response.json(await facts(Response, Request));
    if (form === "request") {
      const cloned = request.clone();
      return Response.json({
        instance: request instanceof Request,
        constructor: request.constructor === Request,
        name: request.constructor.name,
        tag: Object.prototype.toString.call(request),
        signal: request.signal instanceof AbortSignal,
        bodies: [await cloned.text(), await request.text()],
      });
    }
    if (form === "deadline") {
      // What a proxy does: copy the request, or hand it to fetch. Both must end at the deadline.
      const copy = new Request(request);
      const cloned = request.clone();
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      state = JSON.stringify([request.signal.aborted, copy.signal.aborted, cloned.signal.aborted]);
      return new Response("late");
    }
    if (form === "subclass") {
      class Page extends Response {
        constructor(text) { super(text, { headers: { "content-type": "text/html" } }); }
      }
      return new Page("<p>page</p>");
    }
    if (form === "clone") {
      const original = new Response("cloned body", { headers: { "content-type": "text/plain" } });
      const copy = original.clone();
      await copy.text();
      return original;
    }
    if (form === "clone-returned") {
      const original = new Response("the clone", { headers: { "content-type": "text/plain" } });
      const copy = original.clone();
      await original.text();
      return copy;
    }
    if (form === "read") {
      const used = new Response("read already");
      await used.text();
      return used;
    }
    if (form === "error") return Response.error();
    if (form === "redirect") return Response.redirect("http://127.0.0.1:9/to", 307);
    return Response.json({ honest: true }, { status: 201, headers: { "x-kind": "json" } });
  },
};`;

Deno.test("Guest fast paths (e): Response and Request in a sandbox behave as the platform's, for what honest bundles rely on, in both tiers", async () => {
  // deno-lint-ignore no-explicit-any
  const facts = (0, eval)(FACTS) as (r: any, q: any) => Promise<unknown>;
  const expected = JSON.parse(JSON.stringify(await facts(Response, Request)));
  await using srv = await testServer();
  for (const isolation of TIERS) {
    const id = `honest-${isolation}`;
    const service = `HonestState${isolation}`;
    await release(srv, id, isolation, HONEST_SOURCE.replace("HonestState", service), {
      services: { [service]: "1.0.0" },
      governance: { timeoutMs: 400 },
    });
    const get = (path: string) => srv.request(`/b/${id}/${path}`, { redirect: "manual" });
    assert.deepEqual(await (await get("facts")).json(), expected, `${id}: facts`);
    assert.deepEqual(await (await get("request")).json(), {
      instance: true,
      constructor: true,
      name: "Request",
      tag: "[object Request]",
      signal: true,
      bodies: ["", ""],
    });
    const subclass = await get("subclass");
    assert.equal(subclass.headers.get("content-type"), "text/html");
    assert.equal(await subclass.text(), "<p>page</p>");
    assert.equal(await (await get("clone")).text(), "cloned body");
    assert.equal(await (await get("clone-returned")).text(), "the clone");
    const json = await get("json");
    assert.equal(json.status, 201);
    assert.equal(json.headers.get("content-type"), "application/json");
    assert.equal(json.headers.get("x-kind"), "json");
    assert.equal(await json.text(), '{"honest":true}');
    const redirect = await get("redirect");
    await redirect.body?.cancel();
    assert.equal(redirect.status, 307);
    assert.equal(redirect.headers.get("location"), "http://127.0.0.1:9/to");
    // A body read before it is returned, and Response.error(), are a bundle error, as before.
    for (const path of ["read", "error"]) {
      const failed = await get(path);
      const text = await failed.text();
      assert.equal(failed.status, 502, `${id}/${path}: ${failed.status} ${text}`);
      if (path === "error") assert.match(text, /status 0 \(Response\.error\(\)\)/);
    }
    const late = await get("deadline");
    assert.equal(late.status, 504, await late.text());
    const state = async () => (await rpc(srv.url, service, "state")).body;
    const deadline = Date.now() + 10_000;
    while ((await state()).result === "not run" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(await state(), { result: "[true,true,true]" }, `${id}: signals`);
  }
  await assertHealthy(srv);
});
