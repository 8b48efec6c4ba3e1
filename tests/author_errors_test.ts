/**
 * Errors in the bundle author's terms, through a real engine in both tiers: a failing release
 * names the file in the author's folder with line and column (never the engine's copy under
 * `.bundlehost/releases`), a restore after a restart still does, a `/rpc` client reads
 * bundle-relative locations and no engine path, a denied permission names the `bundle.json`
 * field and value to add, and a missing method or service names the ones that exist.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  BundleCallError,
  createEngine,
  type LogEvent,
  NotFoundError,
  ReleaseRefusedError,
} from "../mod.ts";
import { FAST, manifest, rejects, waitFor, writeBundle } from "./_helpers.ts";
import { TEST_TOKEN, testServer } from "./_server.ts";

const TIERS = ["worker", "process"] as const;
const ENGINE_COPY = ".bundlehost/releases";

/** Each test's env variable that makes the bundle below throw while it loads. */
const BOOM = (tier: string) => `BUNDLEHOST_AUTHOR_ERRORS_BOOM_${tier.toUpperCase()}`;

/** Loads, then throws at line 3 column 9 of mod.ts when `BOOM` is set. */
const THROWS_WHEN_TOLD = (name: string) =>
  `const boom = Deno.env.get(${JSON.stringify(name)});
if (boom) {
  throw new Error("cannot start: " + boom);
}
export default { services: { Boot: { ok() { return "ok"; } } } };
`;

/** Service methods that each fail the way an author's code does, at known lines. */
const FAILING = `export default {
  services: {
    Faulty: {
      oops() {
        throw new Error("oops");
      },
      read() {
        return Deno.readTextFile(new URL("./data/x.json", import.meta.url));
      },
      readRelative() {
        return Deno.readTextFile("./data/x.json");
      },
      readOutside() {
        return Deno.readTextFile("/etc/hostname");
      },
      env() {
        return Deno.env.get("AUTHOR_ERRORS_SECRET") ?? null;
      },
      async net() {
        return (await fetch("http://example.com/")).status;
      },
      writeData(_input, ctx) {
        return Deno.writeTextFile(ctx.bundle.dataDir + "/cache.json", "{}");
      },
    },
  },
};
`;

for (const tier of TIERS) {
  Deno.test(`${tier} tier: a syntax error at release names the author's file, line and column`, async () => {
    await using server = await testServer();
    const dir = await writeBundle(
      `${server.root}/src`,
      manifest(`syntax-${tier}`, { isolation: tier, services: { Syntax: "1.0.0" } }),
      { "mod.ts": "export default {\n  services: {},\n  x = ;\n};\n" },
    );
    const error = await rejects(
      () => server.engine.registry.release({ path: dir }),
      ReleaseRefusedError,
      "SyntaxError",
    );
    assert.match(error.message, new RegExp(`${dir}/mod\\.ts:3:\\d+`));
    assert.ok(!error.message.includes(ENGINE_COPY), error.message);
    // The admin API says the same, with the same path.
    const response = await server.request("/admin/releases", {
      method: "POST",
      admin: true,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ path: dir }),
    });
    const body = await response.json();
    assert.equal(response.status, 422, JSON.stringify(body));
    assert.match(body.error.message, new RegExp(`${dir}/mod\\.ts:3:\\d+`));
    assert.ok(!body.error.message.includes(ENGINE_COPY), body.error.message);
  });

  Deno.test(`${tier} tier: a throw while loading names the author's file in the release error, and in status after a restart`, async () => {
    const root = await Deno.makeTempDir({ prefix: "bundlehost-author-" });
    const name = BOOM(tier);
    // The operator lets bundles read this variable; the bundle asks for it.
    const ceiling = { ...FAST.ceiling, env: [name] };
    const options = { ...FAST, ceiling, dataDir: `${root}/.bundlehost` };
    try {
      const id = `boot-${tier}`;
      const files = { "mod.ts": THROWS_WHEN_TOLD(name) };
      const extra = { isolation: tier, services: { Boot: "1.0.0" }, permissions: { env: [name] } };
      const good = await writeBundle(`${root}/src`, manifest(id, extra), files);
      const bad = await writeBundle(
        `${root}/src`,
        manifest(id, { ...extra, version: "1.0.1" }),
        files,
      );
      {
        await using engine = await createEngine(options);
        assert.equal((await engine.registry.release({ path: good })).state, "ACTIVE");
        Deno.env.set(name, "no database");
        try {
          const error = await rejects(
            () => engine.registry.release({ path: bad }),
            BundleCallError,
            "cannot start: no database",
          );
          assert.match(error.message, new RegExp(`\\(at ${bad}/mod\\.ts:3:9\\)`));
          assert.ok(!error.message.includes(ENGINE_COPY), error.message);
        } finally {
          Deno.env.delete(name);
        }
      }
      // After a restart the release record still knows the author's folder.
      Deno.env.set(name, "still no database");
      try {
        await using engine = await createEngine(options);
        const revision = engine.bundle(id).revisions.find((r) => r.version === "1.0.0");
        assert.ok(revision?.error, `no error in status: ${JSON.stringify(revision)}`);
        assert.ok(revision.error.includes(`${good}/mod.ts:3:9`), revision.error);
        assert.ok(!revision.error.includes(ENGINE_COPY), revision.error);
      } finally {
        Deno.env.delete(name);
      }
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  });

  Deno.test(`${tier} tier: an onStart throw names the author's file in the release error`, async () => {
    await using server = await testServer();
    const dir = await writeBundle(
      `${server.root}/src`,
      manifest(`hook-${tier}`, { isolation: tier, services: { Hook: "1.0.0" } }),
      {
        "mod.ts": `export default {
  services: { Hook: { ok() { return 1; } } },
  hooks: {
    onStart() {
      throw new Error("no config");
    },
  },
};
`,
      },
    );
    const error = await rejects(
      () => server.engine.registry.release({ path: dir }),
      BundleCallError,
      `no config (at ${dir}/mod.ts:5:13)`,
    );
    assert.ok(!error.message.includes(ENGINE_COPY), error.message);
  });

  Deno.test(`${tier} tier: a stack the bundle logs names the author's files`, async () => {
    await using server = await testServer();
    const logs: string[] = [];
    server.engine.events.on("log", (e: LogEvent) => logs.push(e.message));
    const dir = await writeBundle(
      `${server.root}/src`,
      manifest(`logger-${tier}`, { isolation: tier, services: { Logger: "1.0.0" } }),
      {
        "mod.ts": `const here = import.meta.url;
export default {
  services: { Logger: { log() { console.error(new Error("logged").stack, here); return 1; } } },
};
`,
      },
    );
    await server.engine.registry.release({ path: dir });
    await server.engine.call("Logger", "log", {});
    await waitFor(() => logs.some((l) => l.includes("logged")), 10_000, "the log record");
    const record = logs.find((l) => l.includes("logged"))!;
    assert.ok(record.includes(`${dir}/mod.ts:3:`), record);
    assert.ok(!record.includes(ENGINE_COPY), record);
  });

  Deno.test(`${tier} tier: /rpc clients read bundle-relative locations and permission fixes, never engine paths`, async () => {
    await using server = await testServer();
    const id = `faulty-${tier}`;
    const dir = await writeBundle(
      `${server.root}/src`,
      manifest(id, { isolation: tier, services: { Faulty: "1.0.0" } }),
      { "mod.ts": FAILING, "data/x.json": "{}" },
    );
    await server.engine.registry.release({ path: dir });
    const rpc = async (method: string) => {
      const response = await server.request(`/rpc/Faulty/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      const body = await response.json();
      assert.equal(response.status, 502, `${method}: ${JSON.stringify(body)}`);
      const text = JSON.stringify(body);
      assert.ok(!text.includes(server.root), `${method} leaks an engine path: ${text}`);
      assert.ok(!text.includes("file://"), `${method}: ${text}`);
      assert.ok(!body.error.message.includes("run again with"), `${method}: ${text}`);
      return body.error as { message: string; at?: string };
    };
    // Where it was thrown, relative to the bundle, on its own: the message stays the bundle's.
    const oops = await rpc("oops");
    assert.equal(oops.at, "mod.ts:5:15");
    assert.match(oops.message, /failed: Error: oops$/);
    assert.equal((await rpc("read")).at, "mod.ts:8:21");
    assert.match(
      (await rpc("read")).message,
      /Requires read access to "data\/x\.json": add "\.\/data\/x\.json" to "permissions\.read" in bundle\.json \(the operator policy must allow it too\)/,
    );
    assert.match(
      (await rpc("readRelative")).message,
      /Requires read access to "\.\/data\/x\.json": a relative path resolves against the engine's working folder, outside the bundle folder.*new URL\("\.\/data\/x\.json", import\.meta\.url\)/,
    );
    assert.match(
      (await rpc("readOutside")).message,
      /Requires read access to "\/etc\/hostname", which is outside the bundle folder: no "permissions\.read" grant allows it/,
    );
    assert.match(
      (await rpc("env")).message,
      /Requires env access to "AUTHOR_ERRORS_SECRET": add "AUTHOR_ERRORS_SECRET" to "permissions\.env" in bundle\.json/,
    );
    assert.match(
      (await rpc("net")).message,
      /Requires net access to "example\.com:80": add "example\.com:80" to "permissions\.net" in bundle\.json/,
    );
    // The bundle's data folder is $DATA, as bundle.json names it.
    assert.match(
      (await rpc("writeData")).message,
      /Requires write access to "\$DATA\/cache\.json": add "\$DATA\/cache\.json" to "permissions\.write" in bundle\.json/,
    );
    // The library caller gets the same, with the location on its own.
    const error = await rejects(() => server.engine.call("Faulty", "oops", {}), BundleCallError);
    assert.equal(error.at, "mod.ts:5:15");
    assert.equal(error.remote.message, "oops");
    assert.ok(!error.message.includes("mod.ts"), error.message);
  });

  Deno.test(`${tier} tier: a missing method lists the service's methods; an unknown service suggests the close name`, async () => {
    await using server = await testServer();
    const dir = await writeBundle(
      `${server.root}/src`,
      manifest(`names-${tier}`, { isolation: tier, services: { GreeterService: "1.0.0" } }),
      {
        "mod.ts": `export default { services: { GreeterService: {
          greet() { return "hi"; }, wave() { return "o/"; } } } };`,
      },
    );
    await server.engine.registry.release({ path: dir });
    await rejects(
      () => server.engine.call("GreeterService", "great", {}),
      NotFoundError,
      'Service GreeterService has no method "great" (methods: greet, wave)',
    );
    await rejects(
      () => server.engine.call("GreeterServce", "greet", {}),
      NotFoundError,
      "No active bundle provides service GreeterServce (did you mean GreeterService?)",
    );
    const response = await server.request("/rpc/GreeterSrvice/greet", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TEST_TOKEN}` },
      body: "{}",
    });
    assert.equal(response.status, 404);
    assert.match((await response.json()).error.message, /did you mean GreeterService\?/);
    // Nothing close: no guess.
    await rejects(
      () => server.engine.call("InventoryService", "greet", {}),
      NotFoundError,
      "No active bundle provides service InventoryService",
    ).then((e) => assert.ok(!e.message.includes("did you mean"), e.message));
  });
}
