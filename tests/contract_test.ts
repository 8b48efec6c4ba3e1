/**
 * The contract check at release, in both tiers with real sandboxes: a module that does not export
 * a declared service, or lacks the method a `subscribe`, `schedule` or own-service `eventMaps`
 * step names, is refused (422 through the admin API, `ReleaseRefusedError` from the engine) with
 * the field, the missing name and what the module does export; nothing of it is left behind and
 * the previous version keeps serving. A bundle that keeps its contract still releases, also when
 * it is stored without traffic, stopped, or scaled to zero.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type LogEvent, ReleaseRefusedError } from "../mod.ts";
import { manifest, rejects, testEngine, writeBundle } from "./_helpers.ts";
import { admin, type BundleView, releasePath, rpc } from "./_http.ts";
import { startEngineProcess, testServer } from "./_server.ts";

const TIERS = ["worker", "process"] as const;

/** A module exporting `services` (name → method names), each method answering its own name. */
function moduleExporting(services: Record<string, string[]>): string {
  const body = Object.entries(services).map(([name, methods]) =>
    `${name}: { ${methods.map((m) => `${m}: () => ${JSON.stringify(`${name}.${m}`)}`).join(", ")} }`
  ).join(", ");
  return `export default { services: { ${body} } };`;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

for (const tier of TIERS) {
  Deno.test(`Contract (${tier}): each kind of violation is refused with a 422 naming the field, and the previous version keeps serving`, async () => {
    await using srv = await testServer();
    const src = `${srv.root}/src`;
    const base = { isolation: tier, services: { GreeterService: "1.0.0" } };
    const good = await writeBundle(src, manifest("greeter", base), {
      "mod.ts": moduleExporting({ GreeterService: ["greet"] }),
    });
    assert.equal((await releasePath(srv.url, good)).status, 201);

    const cases: {
      extra: Record<string, unknown>;
      exports: Record<string, string[]>;
      says: string;
    }[] = [
      {
        extra: {},
        exports: { GreeterSvc: ["greet"] },
        says:
          `Cannot release bundle "greeter@1.1.0": field "services.GreeterService" is not exported by mod.ts (it exports: GreeterSvc)`,
      },
      {
        extra: { subscribe: { "order.created": "GreeterService.hello" } },
        exports: { GreeterService: ["greet"] },
        says:
          `Cannot release bundle "greeter@1.1.0": field "subscribe.order.created" names GreeterService.hello, which has no method "hello" (methods: greet)`,
      },
      {
        extra: { schedule: { "0 * * * *": { handler: "GreeterService.tick" } } },
        exports: { GreeterService: ["greet"] },
        says:
          `field "schedule.0 * * * *" names GreeterService.tick, which has no method "tick" (methods: greet)`,
      },
      {
        extra: {
          eventMaps: {
            "order.paid": [{ call: "GreeterService.greet" }, { call: "GreeterService.thank" }],
          },
        },
        exports: { GreeterService: ["greet"] },
        says:
          `field "eventMaps.order.paid.steps[1].call" names GreeterService.thank, which has no method "thank" (methods: greet)`,
      },
    ];
    for (const { extra, exports, says } of cases) {
      const bad = await writeBundle(
        src,
        manifest("greeter", { ...base, version: "1.1.0", ...extra }),
        { "mod.ts": moduleExporting(exports) },
      );
      const refused = await releasePath(srv.url, bad);
      assert.equal(refused.status, 422, JSON.stringify(refused.body));
      assert.equal(refused.body.error?.code, "RELEASE_REFUSED");
      assert.ok(refused.body.error?.message.includes(says), refused.body.error?.message);
      // Nothing of the refused release is left: no record, no folder, no revision.
      const view = (await admin<BundleView>(srv.url, "GET", "/admin/bundles/greeter")).body;
      assert.deepEqual(view.releases.map((r) => r.version), ["1.0.0"]);
      assert.deepEqual(view.revisions.map((r) => `${r.version} ${r.state}`), ["1.0.0 ACTIVE"]);
      assert.equal(await exists(`${srv.root}/.bundlehost/releases/greeter/1.1.0`), false);
      const served = await rpc(srv.url, "GreeterService", "greet");
      assert.equal(served.status, 200);
      assert.equal(served.body.result, "GreeterService.greet");
      assert.equal(served.headers.get("x-bundle"), "greeter@1.0.0");
    }
    // Once fixed, the same version releases.
    const fixed = await writeBundle(
      src,
      manifest("greeter", { ...base, version: "1.1.0" }),
      { "mod.ts": moduleExporting({ GreeterService: ["greet"] }) },
    );
    assert.equal((await releasePath(srv.url, fixed)).status, 201);
    assert.equal(
      (await rpc(srv.url, "GreeterService", "greet")).headers.get("x-bundle"),
      "greeter@1.1.0",
    );
  });

  Deno.test(`Contract (${tier}): a bundle with subscribe, schedule, event maps and $schema that keeps its contract releases`, async () => {
    await using t = await testEngine();
    const dir = await t.bundle(
      manifest("orders", {
        $schema: "https://example.com/bundle.schema.json",
        isolation: tier,
        services: { OrderService: "1.0.0" },
        subscribe: { "order.created": "OrderService.created" },
        schedule: { "0 3 * * *": "OrderService.nightly" },
        // The second step calls another bundle's service: not checked at release.
        eventMaps: { "order.paid": [{ call: "OrderService.paid" }, { call: "MailService.send" }] },
      }),
      { "mod.ts": moduleExporting({ OrderService: ["created", "nightly", "paid"] }) },
    );
    const result = await t.engine.release({ path: dir });
    assert.equal(result.state, "ACTIVE");
    const status = t.engine.bundle("orders");
    assert.equal(status.revisions[0]?.isolation, tier);
    assert.deepEqual(status.revisions[0]?.services.OrderService?.methods, [
      "created",
      "nightly",
      "paid",
    ]);
  });

  Deno.test(`Contract (${tier}): a release without traffic, of a stopped bundle, or scaled to zero is checked too`, async () => {
    await using t = await testEngine();
    const exporting = { "mod.ts": moduleExporting({ GreeterSvc: ["greet"] }) };
    const declared = { isolation: tier, services: { GreeterService: "1.0.0" } };
    const says =
      `field "services.GreeterService" is not exported by mod.ts (it exports: GreeterSvc)`;

    // Scaled to zero: the first release still loads it once.
    const zero = await t.bundle(
      manifest("zero", { ...declared, scaling: { minWorkers: 0 } }),
      exporting,
    );
    await rejects(() => t.engine.release({ path: zero }), ReleaseRefusedError, says);
    assert.equal(t.engine.runtime.routing("zero"), undefined);

    const good = await t.bundle(manifest("greeter", declared), {
      "mod.ts": moduleExporting({ GreeterService: ["greet"] }),
    });
    await t.engine.release({ path: good });
    // Stored and installed without moving traffic (a canary's first step): vetted by a one-off load.
    const staged = await t.bundle(
      manifest("greeter", { ...declared, version: "1.1.0" }),
      exporting,
    );
    await rejects(
      () => t.engine.registry.release({ path: staged }, { activate: false }),
      ReleaseRefusedError,
      says,
    );
    // A stopped bundle's new version is vetted the same way.
    await t.engine.registry.stop("greeter");
    await rejects(() => t.engine.release({ path: staged }), ReleaseRefusedError, says);
    const entry = await t.engine.registry.get("greeter");
    assert.deepEqual(entry.releases.map((r) => r.version), ["1.0.0"]);
    assert.deepEqual(t.engine.runtime.routing("greeter")?.versions.map((v) => v.version), [
      "1.0.0",
    ]);
    // A good version of the stopped bundle is vetted and stored; it does not start.
    const next = await t.bundle(manifest("greeter", { ...declared, version: "1.2.0" }), {
      "mod.ts": moduleExporting({ GreeterService: ["greet", "wave"] }),
    });
    const released = await t.engine.release({ path: next });
    assert.equal(released.state, "RESOLVED");
    assert.deepEqual(
      t.engine.bundle("greeter").revisions.find((r) => r.version === "1.2.0")?.instances,
      [],
    );
  });

  Deno.test(`Contract (${tier}): a refused module's onStart never runs, and a start from what it last exposed (a restore) is refused too`, async () => {
    await using t = await testEngine();
    const logs: string[] = [];
    t.engine.events.addEventListener("log", (e) => logs.push((e as LogEvent).message));
    const declared = { isolation: tier, services: { GreeterService: "1.0.0" } };
    const dir = await t.bundle(manifest("hooked", declared), {
      "mod.ts": `export default {
        services: { GreeterSvc: { greet: () => "hi" } },
        hooks: { onStart: () => console.log("onStart ran") },
      };`,
    });
    await rejects(() => t.engine.release({ path: dir }), ReleaseRefusedError, "GreeterService");
    assert.deepEqual(logs.filter((line) => line.includes("onStart ran")), []);

    // A version brought back scaled to zero loads no module: what it exposed is checked instead,
    // and it stays RESOLVED with the error in its status, as a bundle that fails to start does.
    const zero = await t.bundle(
      manifest("restored", { ...declared, scaling: { minWorkers: 0 } }),
      { "mod.ts": moduleExporting({ GreeterSvc: ["greet"] }) },
    );
    await t.engine.runtime.install(zero, {
      exposes: { services: { GreeterSvc: ["greet"] }, fetch: false },
    });
    await rejects(
      () => t.engine.runtime.start("restored", "1.0.0", { atZero: true }),
      ReleaseRefusedError,
      `field "services.GreeterService" is not exported by mod.ts (it exports: GreeterSvc)`,
    );
    const revision = t.engine.bundle("restored").revisions[0];
    assert.equal(revision?.state, "RESOLVED");
    assert.match(revision?.error ?? "", /services\.GreeterService/);
  });
}

Deno.test("Contract: main.ts --bundles reports a bundle that breaks its contract and serves the others", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "bundlehost-contract-" });
  try {
    // `--bundles` must be readable by the engine: a folder inside its data folder.
    const bundles = `${dataDir}/bundles`;
    await writeBundle(bundles, manifest("good", { services: { GoodService: "1.0.0" } }), {
      "mod.ts": moduleExporting({ GoodService: ["ping"] }),
    });
    await writeBundle(
      bundles,
      manifest("broken", {
        services: { GreeterService: "1.0.0" },
        schedule: { "0 3 * * *": "GreeterService.nightly" },
      }),
      { "mod.ts": moduleExporting({ GreeterService: ["greet"] }) },
    );
    await using engine = await startEngineProcess(dataDir, ["--bundles", bundles]);
    assert.match(
      engine.output(),
      /Could not release .*broken-1\.0\.0-[0-9a-f]+: Cannot release bundle "broken@1\.0\.0": field "schedule\.0 3 \* \* \*" names GreeterService\.nightly, which has no method "nightly" \(methods: greet\)/,
    );
    assert.equal((await admin(engine.url, "GET", "/admin/bundles/broken")).status, 404);
    const served = await rpc(engine.url, "GoodService", "ping");
    assert.equal(served.body.result, "GoodService.ping");
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
