/**
 * The package's entry points (deno.json `exports`): every public symbol has an example, the bundle
 * entry loads no engine code, and the testing helpers run bundles and plugins on a real engine.
 *
 * @module
 */
import assert from "node:assert/strict";
import { definePlugin } from "../mod.ts";
import { testBundle, testPlugin } from "../engine/testing/mod.ts";
import type hello from "../bundles/hello/mod.ts";
import { manifest, ROOT, writeBundle } from "./_helpers.ts";
import { BundleCallError } from "../mod.ts";

const decoder = new TextDecoder();

/** Runs `deno` with `args` in the repository and parses its JSON output. */
async function denoJson<T>(args: string[]): Promise<T> {
  const out = await new Deno.Command("deno", { args, cwd: ROOT, stdout: "piped", stderr: "piped" })
    .output();
  assert.equal(out.code, 0, decoder.decode(out.stderr));
  return JSON.parse(decoder.decode(out.stdout)) as T;
}

interface DocJson {
  nodes: Record<string, {
    symbols?: {
      name: string;
      declarations: { jsDoc?: { tags?: { kind: string }[] } }[];
    }[];
  }>;
}

const EXPORTS = (JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)) as {
  exports: Record<string, string>;
}).exports;

Deno.test("deno.json exports the host, bundle, testing and plugin entries", () => {
  assert.deepEqual(Object.keys(EXPORTS).sort(), [
    ".",
    "./bundle",
    "./console",
    "./observability",
    "./service-release",
    "./testing",
  ]);
});

Deno.test("Every public symbol of every entry has an @example", async () => {
  const missing: string[] = [];
  for (const [entry, file] of Object.entries(EXPORTS)) {
    const doc = await denoJson<DocJson>(["doc", "--json", file]);
    for (const node of Object.values(doc.nodes)) {
      for (const symbol of node.symbols ?? []) {
        const tags = symbol.declarations.flatMap((d) => d.jsDoc?.tags ?? []);
        if (!tags.some((t) => t.kind === "example")) missing.push(`${entry} ${symbol.name}`);
      }
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("The bundle entry loads only the SDK's two files and nothing of the engine", async () => {
  const info = await denoJson<{ modules: { specifier: string }[] }>(
    ["info", "--json", EXPORTS["./bundle"]!],
  );
  const files = info.modules.map((m) => m.specifier.replace(`file://${ROOT}/`, "")).sort();
  assert.deepEqual(files, ["engine/sdk/bundle.ts", "engine/sdk/types.ts"]);
});

Deno.test("testBundle releases a bundle in a temporary engine and types its calls", async () => {
  let dataDir: string;
  {
    await using greeter = await testBundle<typeof hello>(`${ROOT}/bundles/hello`, {
      tier: "worker",
    });
    dataDir = greeter.dataDir;
    assert.equal(`${greeter.id}@${greeter.version}`, "hello@1.0.0");
    const reply = await greeter.call("HelloService", "greet", { name: "Ada" });
    assert.equal(reply.message, "Hello, Ada!");
    assert.equal(reply.bundle, "hello@1.0.0");
    const response = await greeter.fetch("/where?name=Grace");
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {
      hello: "Grace",
      path: "/where",
      bundle: "hello@1.0.0",
    });
    assert.equal(greeter.engine.bundle("hello").revisions[0]?.state, "ACTIVE");
    await Deno.stat(dataDir);
  }
  await assert.rejects(Deno.stat(dataDir), Deno.errors.NotFound);
});

Deno.test("testBundle runs the process tier by default, with the bundle's permissions", async () => {
  await using catalog = await testBundle(`${ROOT}/bundles/catalog`);
  assert.equal(catalog.engine.bundle("catalog").revisions[0]?.isolation, "process");
  const products = await catalog.call("CatalogService", "list") as { sku: string }[];
  assert.ok(products.length > 0);
  const outside = await catalog.call("CatalogService", "tryRead", { path: `${ROOT}/deno.json` });
  assert.equal((outside as { ok: boolean }).ok, false);
});

Deno.test("testBundle fails with the bundle's own start error", async () => {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-entry-" });
  try {
    const dir = await writeBundle(root, manifest("no-config", { services: { S: "1.0.0" } }), {
      "mod.ts": `export default {
        services: { S: { m: () => 1 } },
        hooks: { onStart() { throw new Error("config file missing"); } },
      };`,
    });
    const error = await testBundle(dir, { tier: "worker" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof BundleCallError, String(error));
    assert.match(error.message, /no-config@1\.0\.0 failed: Error: config file missing/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("testPlugin runs a plugin's fetch and wrapCall hooks against a real engine", async () => {
  const calls: string[] = [];
  const started: string[] = [];
  const plugin = definePlugin({
    name: "probe",
    fetch: (request) =>
      new URL(request.url).pathname === "/probe" ? Response.json({ calls }) : undefined,
    wrapCall: async (call, next) => {
      const outcome = await next(call);
      calls.push(`${call.service}.${call.method} -> ${outcome.bundle}`);
      return outcome;
    },
    bundleStarted: (event) => {
      started.push(`${event.id}@${event.version}`);
    },
  });
  await using t = await testPlugin(plugin, { bundles: [`${ROOT}/bundles/hello`], tier: "worker" });
  assert.deepEqual(t.released.map((r) => `${r.id}@${r.version} ${r.state}`), [
    "hello@1.0.0 ACTIVE",
  ]);
  assert.deepEqual(started, ["hello@1.0.0"]);
  await t.call("HelloService", "greet", { name: "Ada" });
  const response = await t.fetch("/probe");
  assert.deepEqual(await response.json(), { calls: ["HelloService.greet -> hello@1.0.0"] });
  assert.equal((await t.fetch("/elsewhere")).status, 404);
});
