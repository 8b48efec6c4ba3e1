/**
 * Config and secrets through real HTTP on loopback, in both tiers (README, "Config" and
 * "Secrets"): the admin routes and their refusals, `ctx.config` and `ctx.secrets` in a running
 * bundle, and a plaintext secret searched for everywhere the engine shows or keeps anything:
 * admin replies, engine log records, `/admin/status`, `/metrics` and every file of the data folder.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, writeBundle } from "./_helpers.ts";
import { admin, releasePath, rpc } from "./_http.ts";
import { startEngineProcess, testServer } from "./_server.ts";
import { observability } from "../plugins/observability/mod.ts";
import type { EngineEvents } from "../engine/runtime/engine_events.ts";

const TIERS = ["worker", "process"] as const;

const SETTINGS_BUNDLE = `
let refreshes = 0;
export default {
  services: {
    Settings: {
      async read(input, ctx) {
        const key = await ctx.secrets.get("API_KEY");
        ctx.log.info("read config", ctx.config, "key set:", key !== undefined);
        return { config: ctx.config, key, refreshes, frozen: Object.isFrozen(ctx.config.db) };
      },
      async other(input, ctx) {
        const value = await ctx.secrets.get(input.name);
        return { isUndefined: value === undefined };
      },
      mutate(input, ctx) {
        try { ctx.config.db.host = "evil"; } catch (error) { return error.name; }
        return ctx.config.db.host;
      },
    },
  },
  hooks: { onRefresh() { refreshes++; } },
};`;

/** Every file under `dir`, as bytes, with its path. */
async function* files(dir: string): AsyncGenerator<[string, Uint8Array]> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* files(path);
    else if (entry.isFile) yield [path, await Deno.readFile(path)];
  }
}

function includesBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function captureLogs(events: EngineEvents): string[] {
  const lines: string[] = [];
  events.on("log", (event) => lines.push(JSON.stringify(event)));
  return lines;
}

for (const tier of TIERS) {
  Deno.test(`Config and secrets reach a ${tier}-tier bundle over the admin API, and the secret appears nowhere else`, async () => {
    await using srv = await testServer({ plugins: [observability({ logFormat: "off" })] });
    const logs = captureLogs(srv.engine.events);
    const id = `settings-${tier}`;
    const dir = await writeBundle(
      `${srv.root}/src`,
      manifest(id, {
        isolation: tier,
        services: { Settings: "1.0.0" },
        config: { greeting: "Hello", db: { host: "db.local", port: 5432 }, debug: true },
        secrets: ["API_KEY", "OTHER_KEY"],
      }),
      { "mod.ts": SETTINGS_BUNDLE },
    );
    assert.equal((await releasePath(srv.url, dir)).status, 201);
    const before = await rpc(srv.url, "Settings", "read", {});
    assert.deepEqual(before.body.result, {
      config: { greeting: "Hello", db: { host: "db.local", port: 5432 }, debug: true },
      refreshes: 0,
      frozen: true,
    });

    // Config: merged as a JSON Merge Patch, versioned, read back merged.
    const put = await admin(srv.url, "PUT", `/admin/bundles/${id}/config`, {
      db: { host: "db.prod" },
      debug: null,
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual(put.body, { greeting: "Hello", db: { host: "db.prod", port: 5432 } });
    assert.equal(put.headers.get("x-config-revision"), "1");
    const got = await admin(srv.url, "GET", `/admin/bundles/${id}/config`);
    assert.deepEqual(got.body, put.body);
    await admin(srv.url, "PUT", `/admin/bundles/${id}/config`, { greeting: "Hi" });
    const history = await admin<{ revisions: { revision: number; values: unknown }[] }>(
      srv.url,
      "GET",
      `/admin/bundles/${id}/config?history`,
    );
    assert.deepEqual(history.body.revisions?.map((r) => [r.revision, r.values]), [
      [1, { db: { host: "db.prod" }, debug: null }],
      [2, { greeting: "Hi" }],
    ]);

    // A secret: set, used by the bundle, listed by name only.
    const plaintext = `pt-${crypto.randomUUID()}`;
    const set = await admin(srv.url, "PUT", `/admin/bundles/${id}/secrets/API_KEY`, {
      value: plaintext,
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const after = await rpc(srv.url, "Settings", "read", {});
    assert.deepEqual(after.body.result, {
      config: { greeting: "Hi", db: { host: "db.local", port: 5432 }, debug: true },
      key: plaintext,
      refreshes: 3,
      frozen: true,
    });
    assert.equal((await rpc(srv.url, "Settings", "mutate", {})).body.result, "TypeError");
    const declaredUnset = await rpc(srv.url, "Settings", "other", { name: "OTHER_KEY" });
    assert.equal(declaredUnset.status, 200);
    assert.deepEqual(declaredUnset.body.result, { isUndefined: true });
    const undeclared = await rpc(srv.url, "Settings", "other", { name: "NOT_DECLARED" });
    assert.equal(undeclared.status, 502);
    assert.match(
      JSON.stringify(undeclared.body),
      /Secret \\"NOT_DECLARED\\" is not declared in bundle.json \\"secrets\\"/,
    );
    const listed = await admin<unknown[]>(srv.url, "GET", `/admin/bundles/${id}/secrets`);
    assert.deepEqual(
      (listed.body as unknown as { name: string; set: boolean }[]).map((s) => [s.name, s.set]),
      [["API_KEY", true], ["OTHER_KEY", false]],
    );

    // Refusals name the problem.
    const refusals: [string, string, unknown, number, RegExp][] = [
      [
        "PUT",
        `/admin/bundles/${id}/secrets/NOT_DECLARED`,
        { value: plaintext },
        400,
        /does not declare secret NOT_DECLARED/,
      ],
      [
        "PUT",
        `/admin/bundles/${id}/secrets/lower`,
        { value: plaintext },
        400,
        /Invalid secret name/,
      ],
      [
        "PUT",
        `/admin/bundles/${id}/secrets/API_KEY`,
        { value: 42 },
        400,
        /\\"value\\" must be a string/,
      ],
      [
        "PUT",
        `/admin/bundles/${id}/secrets/API_KEY`,
        { value: plaintext, extra: 1 },
        400,
        /must be \{\\"value\\"/,
      ],
      [
        "PUT",
        `/admin/bundles/${id}/secrets/API_KEY`,
        { value: "x".repeat(9000) },
        413,
        /more than 8192/,
      ],
      [
        "PUT",
        "/admin/bundles/nobody/secrets/API_KEY",
        { value: plaintext },
        404,
        /nobody is not released/,
      ],
      ["PUT", "/admin/bundles/nobody/config", { a: 1 }, 404, /nobody is not released/],
      ["PUT", `/admin/bundles/${id}/config`, [1, 2], 400, /must be a JSON object/],
      [
        "PUT",
        `/admin/bundles/${id}/config`,
        { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } },
        400,
        /nested deeper than 8/,
      ],
      ["PUT", `/admin/bundles/${id}/config`, { big: "x".repeat(40_000) }, 400, /more than 32768/],
      [
        "DELETE",
        `/admin/bundles/${id}/secrets/OTHER_KEY`,
        undefined,
        404,
        /no secret OTHER_KEY set/,
      ],
    ];
    for (const [method, path, body, status, message] of refusals) {
      const reply = await admin(srv.url, method, path, body);
      assert.equal(reply.status, status, `${method} ${path}: ${JSON.stringify(reply.body)}`);
      assert.match(JSON.stringify(reply.body), message, `${method} ${path}`);
      assert.ok(!JSON.stringify(reply.body).includes(plaintext), `${method} ${path} echoes it`);
    }
    const badJson = await fetch(`${srv.url}/admin/bundles/${id}/config`, {
      method: "PUT",
      headers: { authorization: "Bearer test-token-0123456789abcdef" },
      body: "{nope",
    });
    assert.equal(badJson.status, 400);
    assert.match(await badJson.text(), /not valid JSON/);

    // The plaintext appears in no admin reply, status, metrics or log record...
    const seen: [string, string][] = [];
    for (
      const path of [
        "/admin/bundles",
        `/admin/bundles/${id}`,
        `/admin/bundles/${id}/secrets`,
        `/admin/bundles/${id}/config`,
        `/admin/bundles/${id}/logs`,
        "/admin/status",
      ]
    ) seen.push([path, await (await srv.request(path, { admin: true })).text()]);
    seen.push(["/metrics", await (await srv.request("/metrics")).text()]);
    seen.push(["engine log records", logs.join("\n")]);
    for (const [where, text] of seen) {
      assert.ok(text.length > 0, `${where} answered`);
      assert.ok(!text.includes(plaintext), `the secret appears in ${where}`);
    }
    assert.ok(logs.some((l) => l.includes("key set:")), "the bundle's log records were captured");
    // ...nor in any file the engine keeps: it is sealed at rest.
    const needle = new TextEncoder().encode(plaintext);
    // The scan can find what is there: the config overrides are stored as they were sent.
    const control = new TextEncoder().encode("db.prod");
    let found = false;
    for await (const [path, bytes] of files(srv.engine.dataDir)) {
      found ||= includesBytes(bytes, control);
      assert.ok(!includesBytes(bytes, needle), `the secret is in ${path}`);
    }
    assert.ok(found, "the scan reads the registry's files");

    // Delete: the bundle reads undefined again.
    const deleted = await admin(srv.url, "DELETE", `/admin/bundles/${id}/secrets/API_KEY`);
    assert.equal(deleted.status, 200);
    const cleared = (await rpc(srv.url, "Settings", "read", {})).body.result as { key?: string };
    assert.equal(cleared.key, undefined);
  });
}

Deno.test("Config overrides and secrets survive a restart, and a deleted bundle's settings go with it", async () => {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-settings-" });
  const dataDir = `${root}/.bundlehost`;
  try {
    const dir = await writeBundle(
      `${root}/src`,
      manifest("keeper", {
        isolation: "process",
        services: { Keeper: "1.0.0" },
        config: { n: 1 },
        secrets: ["TOKEN"],
      }),
      {
        "mod.ts":
          `export default { services: { Keeper: { async get(_i, ctx) { return [ctx.config.n, await ctx.secrets.get("TOKEN")]; } } } };`,
      },
    );
    {
      await using srv = await testServer({ dataDir });
      await releasePath(srv.url, dir);
      await admin(srv.url, "PUT", "/admin/bundles/keeper/config", { n: 2 });
      await admin(srv.url, "PUT", "/admin/bundles/keeper/secrets/TOKEN", { value: "t-1" });
    }
    {
      await using srv = await testServer({ dataDir });
      assert.deepEqual((await rpc(srv.url, "Keeper", "get", {})).body.result, [2, "t-1"]);
      assert.equal((await admin(srv.url, "DELETE", "/admin/bundles/keeper")).status, 200);
      await releasePath(srv.url, dir);
      assert.deepEqual((await rpc(srv.url, "Keeper", "get", {})).body.result, [1, null]);
    }
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("An acknowledged config PUT and secret PUT survive kill -9 of the engine", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "bundlehost-settings-kill-" });
  try {
    await Deno.mkdir(`${dataDir}/none`);
    const dir = await writeBundle(
      `${dataDir}/src`,
      manifest("durable-settings", {
        services: { DurableSettings: "1.0.0" },
        config: { n: 1 },
        secrets: ["TOKEN"],
      }),
      {
        "mod.ts":
          `export default { services: { DurableSettings: { async get(_i, ctx) { return [ctx.config.n, await ctx.secrets.get("TOKEN")]; } } } };`,
      },
    );
    const args = ["--bundles", `${dataDir}/none`];
    {
      const engine = await startEngineProcess(dataDir, args);
      assert.equal((await releasePath(engine.url, dir)).status, 201);
      const path = "/admin/bundles/durable-settings";
      assert.equal((await admin(engine.url, "PUT", `${path}/config`, { n: 2 })).status, 200);
      const set = await admin(engine.url, "PUT", `${path}/secrets/TOKEN`, { value: "t-kill" });
      assert.equal(set.status, 200);
      await engine.kill9();
    }
    await using engine = await startEngineProcess(dataDir, args);
    assert.deepEqual((await rpc(engine.url, "DurableSettings", "get", {})).body.result, [
      2,
      "t-kill",
    ]);
    assert.equal((await Deno.stat(`${dataDir}/secrets.key`)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
