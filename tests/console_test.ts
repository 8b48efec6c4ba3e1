/**
 * The console's HTTP contract without a browser: `GET /console` answers 200 HTML without a
 * token, with a strict Content Security Policy, every page and asset comes from the engine's own
 * origin, bad paths and methods get clear errors; and `GET /admin/metrics/history` serves the
 * engine's in-memory call history behind the admin token. The browser flows are in
 * `console_browser_test.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { webConsole } from "../plugins/console/mod.ts";
import type { MetricsHistory } from "../mod.ts";
import { manifest, waitFor, writeBundle } from "./_helpers.ts";
import { testServer } from "./_server.ts";

const PAGES = ["/console", "/console/events", "/console/logs", "/console/bundles/hello"];

/** Every `src`/`href` of a page and every module a script imports. */
function references(text: string): string[] {
  const found = [...text.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
  found.push(
    ...[...text.matchAll(/\bimport\s*(?:\(|[^"';]*from\s*)\s*"([^"]+)"/g)].map((m) => m[1]!),
  );
  return found;
}

Deno.test("Console serves its pages without a token, same-origin only, under a strict CSP", async () => {
  await using server = await testServer({ plugins: [webConsole()] });
  const assets = new Set<string>();
  for (const path of PAGES) {
    const response = await fetch(`${server.url}${path}`);
    const text = await response.text();
    assert.equal(response.status, 200, path);
    assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
    const csp = response.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/, "no inline or remote script");
    assert.match(csp, /style-src 'self'(;|$)/, "no inline or remote style");
    assert.match(csp, /frame-ancestors 'none'/);
    assert.ok(text.startsWith("<!doctype html>"), `${path} starts with its doctype`);
    // Before the script runs the form cannot be sent, and never as a GET with the token in a URL.
    assert.match(text, /<form id="login-form"[^>]*method="post"/);
    assert.match(text, /<button type="submit" disabled>Sign in<\/button>/);
    assert.match(text, /<input id="token"[^>]*type="password"/);
    assert.doesNotMatch(text, /<script(?![^>]*\bsrc=)[^>]*>/, `${path} has no inline script`);
    assert.doesNotMatch(text, /\sstyle=/, `${path} has no inline style`);
    for (const ref of references(text)) {
      if (ref.startsWith("#") || ref.startsWith("data:")) continue;
      assert.ok(ref.startsWith("/console"), `${path} refers to ${ref} outside the console`);
      if (ref.startsWith("/console/assets/")) assets.add(ref);
    }
  }
  // The modules the entry imports, transitively.
  const queue = [...assets];
  while (queue.length) {
    const path = queue.shift()!;
    const response = await fetch(`${server.url}${path}`);
    const text = await response.text();
    assert.equal(response.status, 200, path);
    assert.match(
      response.headers.get("content-type") ?? "",
      path.endsWith(".css") ? /^text\/css/ : /^text\/javascript/,
    );
    assert.ok(response.headers.get("etag"), `${path} has an entity tag`);
    for (const ref of references(text)) {
      assert.ok(ref.startsWith("./"), `${path} imports ${ref} from elsewhere`);
      const next = `/console/assets/${ref.slice(2)}`;
      if (!assets.has(next)) {
        assets.add(next);
        queue.push(next);
      }
    }
    assert.doesNotMatch(text, /console\.(log|info|debug)\(/, `${path} logs nothing`);
  }
  assert.ok(assets.size >= 8, `the pages reach every module (${[...assets]})`);
  const etag = (await fetch(`${server.url}/console/assets/app.js`)).headers.get("etag")!;
  const cached = await fetch(`${server.url}/console/assets/app.js`, {
    headers: { "if-none-match": etag },
  });
  assert.equal(cached.status, 304);
  await cached.body?.cancel();
});

Deno.test("Console answers bad paths and methods with clear errors", async () => {
  await using server = await testServer({ plugins: [webConsole()] });
  const cases: [string, string, number, RegExp][] = [
    ["GET", "/console/bundles/Not_An_Id", 404, /Invalid bundle id "Not_An_Id"/],
    ["GET", "/console/nope", 404, /No console page at \/console\/nope/],
    ["GET", "/console/assets/..%2F..%2Fdeno.json", 404, /No console asset/],
    ["GET", "/console/assets/secret.ts", 404, /No console asset "secret.ts"/],
    ["POST", "/console", 405, /GET only/],
  ];
  for (const [method, path, status, message] of cases) {
    const response = await fetch(`${server.url}${path}`, { method });
    assert.equal(response.status, status, `${method} ${path}`);
    assert.match(await response.text(), message);
  }
  assert.throws(() => webConsole({ refreshMs: 10 }), RangeError);
});

Deno.test("Admin API serves the call history behind the token, engine-wide and per bundle", async () => {
  await using server = await testServer({
    metricsHistory: { intervalMs: 100, size: 600 },
    plugins: [webConsole()],
  });
  const dir = await writeBundle(
    `${server.root}/src`,
    manifest("counter", { services: { Counter: "1.0.0" } }),
    {
      "mod.ts": `export default { services: { Counter: {
        add: ({ a }) => { if (a < 0) throw new Error("negative"); return a + 1; } } } };`,
    },
  );
  await server.engine.release({ path: dir });
  const unauthorized = await server.request("/admin/metrics/history");
  assert.equal(unauthorized.status, 401);
  await unauthorized.body?.cancel();
  for (const a of [1, 2, 3, -1]) {
    const response = await server.request("/rpc/Counter/add", {
      method: "POST",
      body: JSON.stringify({ a }),
    });
    await response.body?.cancel();
  }
  const history = async (query = ""): Promise<MetricsHistory> =>
    await (await server.request(`/admin/metrics/history${query}`, { admin: true })).json();
  const sum = (h: MetricsHistory, key: "calls" | "errors") =>
    h.samples.reduce((n, s) => n + s[key], 0);
  // The calls' interval closes once the clock passes it.
  await waitFor(async () => sum(await history(), "calls") === 4, 10_000, "4 calls in the history");
  const all = await history();
  assert.equal(all.intervalMs, 100);
  assert.equal(sum(all, "errors"), 1);
  const busy = all.samples.filter((s) => s.calls > 0);
  assert.ok(busy.every((s) => typeof s.p99Ms === "number" && s.p99Ms > 0));
  assert.equal(busy.reduce((n, s) => n + (s.bundles.counter?.calls ?? 0), 0), 4);
  const one = await history("?bundle=counter");
  assert.equal(sum(one, "calls"), 4);
  assert.ok(one.samples.every((s) => Object.keys(s.bundles).length === 0));
  const totals = await history("?bundles=0");
  assert.equal(sum(totals, "calls"), 4);
  assert.ok(totals.samples.every((s) => Object.keys(s.bundles).length === 0));
  const bad = await server.request("/admin/metrics/history?bundle=../x", { admin: true });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error.message, /"bundle" must be a bundle id/);
});
