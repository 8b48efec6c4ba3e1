/**
 * The plugin API through a real server on loopback: run order (groups and dependencies), the four
 * hook kinds (sequential, parallel, first, wrap), failures named by plugin and hook, and
 * registration errors that keep an engine from being created.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  BundleCallError,
  createEngine,
  type Engine,
  type EngineOptions,
  type LogEvent,
} from "../mod.ts";
import { type Plugin, PluginError, PluginHost } from "../engine/plugin/plugin.ts";
import { ENGINE_VERSION } from "../engine/base/version.ts";
import { FAST, manifest, rejects, writeBundle } from "./_helpers.ts";
import { admin, releasePath, rpc } from "./_http.ts";
import { testServer } from "./_server.ts";

const TRACE = `export default { services: { Trace: {
  tp: (_input, ctx) => ctx.traceparent ?? null,
  fail() { throw Object.assign(new Error("nope"), { code: "E_NOPE" }); },
} } };`;
const TRACE_MANIFEST = manifest("trace", { services: { Trace: "1.0.0" } });
const TP = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01";

type Hook = "setup" | "ready" | "close" | "bundleInstalled" | "bundleStarted" | "bundleStopped";

/** A plugin that appends `<name>:<hook>` to `log` for every lifecycle and bundle hook. */
function recorder(
  name: string,
  log: string[],
  extra: Partial<Plugin<Engine>> = {},
): Plugin<Engine> {
  const hook = (h: Hook) => () => void log.push(`${name}:${h}`);
  return {
    name,
    setup: hook("setup"),
    ready: hook("ready"),
    close: hook("close"),
    bundleInstalled: hook("bundleInstalled"),
    bundleStarted: hook("bundleStarted"),
    bundleStopped: hook("bundleStopped"),
    ...extra,
  };
}

/** Releases the Trace bundle through the admin API. */
async function releaseTrace(url: string, root: string): Promise<void> {
  const dir = await writeBundle(`${root}/src`, TRACE_MANIFEST, { "mod.ts": TRACE });
  const reply = await releasePath(url, dir);
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
}

async function tempOptions(plugins: Plugin<Engine>[]): Promise<EngineOptions & { root: string }> {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-plugins-" });
  return { ...FAST, root, dataDir: `${root}/.bundlehost`, plugins };
}

Deno.test("Engine runs plugins in pre / normal / post groups, each after its dependencies", async () => {
  const log: string[] = [];
  await using srv = await testServer({
    plugins: [
      recorder("late", log, { enforce: "post" }),
      recorder("b", log, { dependencies: ["c"] }),
      recorder("c", log),
      recorder("pre-a", log, { enforce: "pre", dependencies: ["pre-b"] }),
      recorder("d", log, { dependencies: ["pre-a"] }),
      recorder("pre-b", log, { enforce: "pre" }),
    ],
  });
  const order = ["pre-b", "pre-a", "c", "b", "d", "late"];
  assert.deepEqual(srv.engine.plugins, ["pre-b", "pre-a", "service-release", ...order.slice(2)]);
  await releaseTrace(srv.url, srv.root);
  assert.equal((await admin(srv.url, "POST", "/admin/bundles/trace/stop")).status, 200);
  await srv.engine.close();
  const of = (hook: Hook) => log.filter((l) => l.endsWith(`:${hook}`)).map((l) => l.split(":")[0]);
  assert.deepEqual(of("setup"), order);
  assert.deepEqual(of("ready"), order);
  assert.deepEqual(of("bundleInstalled"), order);
  assert.deepEqual(of("bundleStarted"), order);
  assert.deepEqual(of("bundleStopped"), order);
  assert.deepEqual(of("close"), order.toReversed());
  // Every setup ran before any ready, and close came last.
  assert.ok(log.lastIndexOf("late:setup") < log.indexOf("pre-b:ready"));
  assert.equal(log.at(-1), "pre-b:close");
});

Deno.test("Engine runs parallel bundle hooks together and sequential hooks one at a time", async () => {
  const log: string[] = [];
  let arrive!: () => void;
  const bothStarted = new Promise<void>((resolve) => {
    let count = 0;
    arrive = () => ++count === 2 && resolve();
  });
  // Each hook waits until both have started; run one after the other, the first would time out.
  const meet = (name: string) => async () => {
    log.push(`${name}:start`);
    arrive();
    await Promise.race([bothStarted, new Promise((r) => setTimeout(r, 2_000))]);
    log.push(`${name}:end`);
  };
  const slowSetup = (name: string) => async () => {
    log.push(`${name}:setup-start`);
    await new Promise((r) => setTimeout(r, 30));
    log.push(`${name}:setup-end`);
  };
  await using srv = await testServer({
    plugins: [
      { name: "p1", bundleStarted: meet("p1"), setup: slowSetup("p1") },
      { name: "p2", bundleStarted: meet("p2"), setup: slowSetup("p2") },
    ],
  });
  assert.deepEqual(log, ["p1:setup-start", "p1:setup-end", "p2:setup-start", "p2:setup-end"]);
  await releaseTrace(srv.url, srv.root);
  assert.deepEqual(log.slice(4, 6).sort(), ["p1:start", "p2:start"]);
  assert.deepEqual(log.slice(6).sort(), ["p1:end", "p2:end"]);
});

Deno.test("Engine serves a request from the first plugin fetch hook that answers", async () => {
  const calls: string[] = [];
  await using srv = await testServer({
    plugins: [
      { name: "skip", fetch: () => void calls.push("skip") },
      {
        name: "answer",
        fetch(request) {
          calls.push("answer");
          return new URL(request.url).pathname === "/plug/answer"
            ? new Response("answer")
            : undefined;
        },
      },
      {
        name: "never",
        fetch(request) {
          calls.push("never");
          return new URL(request.url).pathname === "/plug/answer"
            ? new Response("never")
            : undefined;
        },
      },
    ],
  });
  const answered = await fetch(`${srv.url}/plug/answer`);
  assert.equal(await answered.text(), "answer");
  assert.deepEqual(calls, ["skip", "answer"]);
  calls.length = 0;
  const nobody = await fetch(`${srv.url}/plug/nobody`);
  assert.equal(nobody.status, 404);
  assert.deepEqual(await nobody.json(), {
    error: { code: "NOT_FOUND", message: "No route for GET /plug/nobody" },
  });
  assert.deepEqual(calls, ["skip", "answer", "never"]);
});

Deno.test("Engine composes wrapRequest hooks as an onion that can rewrite or short-circuit", async () => {
  const log: string[] = [];
  const wrapper = (name: string): Plugin<Engine> => ({
    name,
    ...(name === "outer" ? { enforce: "pre" as const } : {}),
    async wrapRequest(request, next) {
      if (name === "outer" && new URL(request.url).pathname === "/plug/blocked") {
        return new Response("blocked", { status: 403 });
      }
      log.push(`${name}>`);
      const headers = new Headers(request.headers);
      headers.set("x-path", `${request.headers.get("x-path") ?? ""}/${name}`);
      const response = await next(new Request(request, { headers }));
      log.push(`<${name}`);
      const out = new Response(response.body, response);
      out.headers.append("x-wrapped", name);
      return out;
    },
  });
  await using srv = await testServer({
    plugins: [wrapper("inner"), wrapper("outer"), {
      name: "echo",
      fetch: (request) => {
        log.push("fetch");
        return Response.json({ path: request.headers.get("x-path") });
      },
    }],
  });
  const response = await fetch(`${srv.url}/plug/echo`);
  assert.deepEqual(await response.json(), { path: "/outer/inner" });
  assert.equal(response.headers.get("x-wrapped"), "inner, outer");
  assert.deepEqual(log, ["outer>", "inner>", "fetch", "<inner", "<outer"]);
  log.length = 0;
  const blocked = await fetch(`${srv.url}/plug/blocked`);
  assert.equal(blocked.status, 403);
  assert.equal(await blocked.text(), "blocked");
  assert.deepEqual(log, []);
});

Deno.test("Engine wrapCall hooks rewrite the call, short-circuit it, and keep downstream errors", async () => {
  const log: string[] = [];
  const passedThrough: unknown[] = [];
  await using srv = await testServer({
    plugins: [
      {
        name: "rewrite",
        async wrapCall(call, next) {
          if (call.method === "cached") return { result: "from cache", bundle: "cache@0.0.0" };
          if (call.method === "explode") throw new Error("wrapper broke");
          log.push("rewrite>");
          try {
            return await next({ ...call, traceparent: TP });
          } catch (error) {
            passedThrough.push(error);
            throw error;
          } finally {
            log.push("<rewrite");
          }
        },
      },
      {
        name: "outer-call",
        enforce: "pre",
        async wrapCall(call, next) {
          log.push("outer>");
          try {
            return await next(call);
          } finally {
            log.push("<outer");
          }
        },
      },
    ],
  });
  await releaseTrace(srv.url, srv.root);
  const other = "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01";
  const traced = await rpc(srv.url, "Trace", "tp", null, { traceparent: other });
  assert.equal(traced.status, 200);
  assert.equal(traced.body.result, TP);
  assert.equal(traced.headers.get("x-bundle"), "trace@1.0.0");
  assert.deepEqual(log, ["outer>", "rewrite>", "<rewrite", "<outer"]);

  const cached = await rpc(srv.url, "Trace", "cached");
  assert.deepEqual([cached.status, cached.body.result], [200, "from cache"]);
  assert.equal(cached.headers.get("x-bundle"), "cache@0.0.0");

  const failed = await rpc(srv.url, "Trace", "fail");
  assert.equal(failed.status, 502);
  assert.equal(failed.body.error?.code, "BUNDLE_ERROR");
  assert.deepEqual(failed.body.error?.bundle, { name: "Error", code: "E_NOPE" });
  const thrown = await rejects(() => srv.engine.call("Trace", "fail", null), BundleCallError);
  assert.equal(passedThrough.at(-1), thrown);

  const exploded = await rpc(srv.url, "Trace", "explode");
  assert.equal(exploded.status, 500);
  assert.equal(exploded.body.error?.code, "PLUGIN");
  const message = 'Plugin "rewrite" failed in hook "wrapCall": wrapper broke';
  assert.equal(exploded.body.error?.message, message);
  const error = await rejects(
    () => srv.engine.call("Trace", "explode", null),
    PluginError,
    message,
  );
  assert.deepEqual([error.plugin, error.hook], ["rewrite", "wrapCall"]);
  assert.equal((error.cause as Error).message, "wrapper broke");
});

Deno.test("Engine names the plugin and hook when setup, ready or close fails", async () => {
  for (const hook of ["setup", "ready"] as const) {
    const options = await tempOptions([{ name: "fine" }, {
      name: `broken-${hook}`,
      [hook]: () => Promise.reject(new RangeError(`no ${hook} today`)),
    }]);
    const error = await rejects(
      () => createEngine(options),
      PluginError,
      `Plugin "broken-${hook}" failed in hook "${hook}": no ${hook} today`,
    );
    assert.deepEqual([error.plugin, error.hook], [`broken-${hook}`, hook]);
    assert.ok(error.cause instanceof RangeError);
    await Deno.remove(options.root, { recursive: true });
  }
  const closed: string[] = [];
  const options = await tempOptions([
    { name: "first", close: () => void closed.push("first") },
    { name: "broken-close", close: () => Promise.reject(new Error("stuck")) },
    { name: "last", close: () => void closed.push("last") },
  ]);
  const engine = await createEngine(options);
  const error = await rejects(
    () => engine.close(),
    PluginError,
    'Plugin "broken-close" failed in hook "close": stuck',
  );
  assert.equal(error.hook, "close");
  // One failing close must not keep the other plugins from releasing their resources.
  assert.deepEqual(closed, ["last", "first"]);
  await Deno.remove(options.root, { recursive: true });
});

Deno.test("Engine names the plugin and hook when bundleStarted or fetch fails", async () => {
  const logs: string[] = [];
  await using srv = await testServer({
    plugins: [{
      name: "picky",
      bundleStarted(event) {
        if (event.id === "trace") throw new Error("not this one");
      },
      fetch(request) {
        if (new URL(request.url).pathname === "/plug/fail") throw new TypeError("cannot answer");
        return undefined;
      },
    }],
  });
  srv.engine.events.on("log", (e: LogEvent) => logs.push(e.message));
  const dir = await writeBundle(
    `${srv.root}/src`,
    manifest("trace", { services: { Trace: "1.0.0" } }),
    {
      "mod.ts": TRACE,
    },
  );
  const refused = await releasePath(srv.url, dir);
  assert.equal(refused.status, 500);
  assert.equal(refused.body.error?.code, "PLUGIN");
  assert.equal(
    refused.body.error?.message,
    'Plugin "picky" failed in hook "bundleStarted": not this one',
  );
  // The release was not acknowledged, so it is not recorded.
  assert.equal((await admin(srv.url, "GET", "/admin/bundles/trace")).status, 404);

  const failed = await fetch(`${srv.url}/plug/fail`);
  assert.equal(failed.status, 500);
  assert.equal((await failed.json()).error.code, "INTERNAL");
  assert.ok(
    logs.some((l) => l.includes('Plugin "picky" failed in hook "fetch": cannot answer')),
    logs.join("\n"),
  );
});

Deno.test("createEngine refuses plugins that cannot be ordered or do not fit the engine", async () => {
  const cases: [string, Plugin<Engine>[], string][] = [
    ["missing", [{ name: "needs", dependencies: ["ghost"] }], 'depends on missing plugin "ghost"'],
    ["cycle", [
      { name: "a", dependencies: ["b"] },
      { name: "b", dependencies: ["c"] },
      { name: "c", dependencies: ["a"] },
    ], "dependency cycle: a → b → c → a"],
    [
      "duplicate",
      [{ name: "twin" }, { name: "twin" }],
      'Plugin "twin" failed in hook "register": registered twice',
    ],
    [
      "engine",
      [{ name: "future", engine: "^2.0.0" }],
      `needs engine ^2.0.0, this engine is ${ENGINE_VERSION}`,
    ],
    [
      "later post",
      [{ name: "early", dependencies: ["tail"] }, { name: "tail", enforce: "post" }],
      'depends on "tail", which runs in a later group (post)',
    ],
    [
      "later normal",
      [{ name: "head", enforce: "pre", dependencies: ["mid"] }, { name: "mid" }],
      'depends on "mid", which runs in a later group (normal)',
    ],
    ["name", [{ name: "Not A Name" }], "invalid plugin name"],
  ];
  for (const [label, plugins, message] of cases) {
    const options = await tempOptions(plugins);
    const error = await rejects(() => createEngine(options), PluginError, message);
    assert.equal(error.hook, "register", label);
    // Refused before anything was written.
    await rejects(() => Deno.stat(options.dataDir!), Deno.errors.NotFound);
    await Deno.remove(options.root, { recursive: true });
  }
});

Deno.test("PluginHost.first passes over hooks that decline synchronously or asynchronously, and names one that rejects", async () => {
  const calls: string[] = [];
  const host = new PluginHost<unknown>([
    { name: "sync-skip", fetch: () => void calls.push("sync-skip") },
    {
      name: "async-skip",
      fetch: () => {
        calls.push("async-skip");
        return Promise.resolve(undefined);
      },
    },
    {
      name: "async-answer",
      fetch: (request) => {
        calls.push("async-answer");
        if (request.url.endsWith("/reject")) return Promise.reject(new RangeError("no luck"));
        return Promise.resolve(
          request.url.endsWith("/answer") ? new Response("async") : undefined,
        );
      },
    },
    { name: "last", fetch: () => new Response("last") },
  ]);
  const answered = await host.first(new Request("http://h/answer"));
  assert.equal(await answered?.text(), "async");
  assert.deepEqual(calls, ["sync-skip", "async-skip", "async-answer"]);
  calls.length = 0;
  assert.equal(await (await host.first(new Request("http://h/other")))?.text(), "last");
  assert.deepEqual(calls, ["sync-skip", "async-skip", "async-answer"]);
  await assert.rejects(
    host.first(new Request("http://h/reject")),
    (error: unknown) =>
      error instanceof PluginError &&
      error.message === 'Plugin "async-answer" failed in hook "fetch": no luck',
  );
  assert.equal(
    await new PluginHost<unknown>([{ name: "none" }]).first(new Request("http://h/")),
    undefined,
  );
});
