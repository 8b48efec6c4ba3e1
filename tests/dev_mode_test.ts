/**
 * Development mode, played as an author would: a client calls a bundle in a loop while the author
 * saves three edits (one that breaks the module, one that fixes it with a new reply, one that adds
 * a service). Real engine, real sandboxes in both tiers, real file-system events: every call must
 * succeed, each edit must show, and the broken one must be reported once, in the author's folder.
 * A second test starts `main.ts --dev` as `deno task dev` does.
 *
 * @module
 */
import assert from "node:assert/strict";
import { testEngine, waitFor, writeBundle } from "./_helpers.ts";
import { DevMode } from "../engine/dev/dev_mode.ts";
import { adminJson, startEngineProcess } from "./_server.ts";

const module = (reply: string, extra = "") => `
export default {
  services: {
    EchoService: { say: (input) => ({ said: "${reply}", input }) },${extra}
  },
};`;

for (const isolation of ["worker", "process"] as const) {
  Deno.test(`DevMode swaps saved edits in with no failed call (${isolation} tier)`, async () => {
    // The warm rollback target as in production: the revision before stays up while calls drain.
    await using t = await testEngine({ rollbackWarmMs: 300_000 });
    const folder = await writeBundle(`${t.root}/src`, {
      id: "echo",
      version: "1.0.0",
      services: { EchoService: "1.0.0" },
      isolation,
    }, { "mod.ts": module("one") });
    const printed: string[] = [];
    const errors: string[] = [];
    await using dev = new DevMode(t.engine, {
      folders: [folder],
      print: (line) => printed.push(line),
      printError: (line) => errors.push(line),
    });
    const [first] = await dev.start();
    assert.ok(first?.ok, JSON.stringify(first));
    assert.match(first.ok ? first.label : "", /^echo@1\.0\.0-dev\.[0-9]+$/);

    // A client calling all along.
    let calls = 0;
    const failures: string[] = [];
    const replies = new Set<string>();
    let running = true;
    const client = (async () => {
      while (running) {
        try {
          const reply = await t.engine.call("EchoService", "say", calls) as { said: string };
          replies.add(reply.said);
        } catch (error) {
          failures.push((error as Error).message);
        }
        calls++;
      }
    })();
    try {
      // 1. A save that breaks the module: reported once, in the author's folder; "one" serves on.
      await Deno.writeTextFile(`${folder}/mod.ts`, "export default { services: { EchoService: {");
      await waitFor(() => errors.length > 0, 20_000, "the broken save to be reported");
      assert.ok(errors[0]!.startsWith(folder), errors[0]);
      assert.ok(!errors[0]!.includes(".bundlehost/releases"), errors[0]);
      const seenBefore = calls;
      await waitFor(() => calls > seenBefore + 5, 10_000, "calls to go on");
      assert.deepEqual([...replies], ["one"]);

      // 2. The fix, with a new reply.
      await Deno.writeTextFile(`${folder}/mod.ts`, module("two"));
      await waitFor(() => replies.has("two"), 20_000, "the fixed revision to serve");

      // 3. A new service.
      await Deno.writeTextFile(
        `${folder}/bundle.json`,
        JSON.stringify({
          id: "echo",
          version: "1.0.0",
          services: { EchoService: "1.0.0", ClockService: "1.0.0" },
          isolation,
        }),
      );
      await Deno.writeTextFile(
        `${folder}/mod.ts`,
        module("three", `\n    ClockService: { now: () => ({ at: 1 }) },`),
      );
      await waitFor(
        async () => {
          try {
            return (await t.engine.call("ClockService", "now", null) as { at: number }).at === 1;
          } catch {
            return false;
          }
        },
        20_000,
        "the added service",
      );
      await waitFor(() => replies.has("three"), 10_000, "the third revision to serve");
    } finally {
      running = false;
      await client;
    }
    assert.deepEqual(failures, [], `${failures.length} of ${calls} calls failed`);
    assert.equal(errors.length, 1, `one report of the broken save: ${errors.join(" | ")}`);
    assert.ok(printed.some((line) => line.startsWith("Reloaded echo@1.0.0-dev.")), printed.join());

    // Old development revisions are removed as new ones come: a few release folders, not one a save.
    await dev.idle();
    const releases = (await t.engine.registry.get("echo")).releases.map((r) => r.version);
    assert.ok(releases.length <= 4, `kept ${releases.join(", ")}`);
    const onDisk = [];
    for await (const entry of Deno.readDir(`${t.engine.dataDir}/releases/echo`)) {
      onDisk.push(entry.name);
    }
    assert.deepEqual(onDisk.sort(), [...releases].sort());
  });
}

Deno.test("DevMode names the folder and the field when a save does not release", async () => {
  await using t = await testEngine();
  const folder = await writeBundle(`${t.root}/src`, {
    id: "bad",
    version: "1.0.0",
    services: { EchoService: "1.0.0" },
  }, { "mod.ts": module("one") });
  const errors: string[] = [];
  await using dev = new DevMode(t.engine, {
    folders: [folder],
    print: () => {},
    printError: (line) => errors.push(line),
  });
  await dev.start();
  await Deno.writeTextFile(`${folder}/bundle.json`, JSON.stringify({ id: "bad", version: "x" }));
  const reload = await dev.reload(folder);
  assert.equal(reload.ok, false);
  assert.match(errors.at(-1)!, /version/);
  assert.ok(errors.at(-1)!.startsWith(folder));
  // The same failure again is not printed again.
  await dev.reload(folder);
  assert.equal(errors.length, 1);
  assert.equal((await t.engine.call("EchoService", "say", 1) as { said: string }).said, "one");
});

Deno.test("main.ts --dev releases the folders it is given and reloads them on save", async () => {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-dev-" });
  const dataDir = `${root}/data`;
  try {
    // main.ts may read its data folder only (as in the other engine-process tests).
    const folder = await writeBundle(`${dataDir}/src`, {
      id: "echo",
      version: "1.0.0",
      services: { EchoService: "1.0.0" },
    }, { "mod.ts": module("one") });
    await Deno.mkdir(`${dataDir}/empty`);
    await using engine = await startEngineProcess(dataDir, [
      "--dev",
      "--bundles",
      `${dataDir}/empty`,
      folder,
    ]);
    const say = async () => {
      const response = await fetch(`${engine.url}/rpc/EchoService/say`, {
        method: "POST",
        body: "1",
      });
      return (await response.json()).result?.said;
    };
    assert.equal(await say(), "one");
    await Deno.writeTextFile(`${folder}/mod.ts`, module("two"));
    await waitFor(async () => (await say()) === "two", 20_000, "the saved edit to serve");
    assert.match(engine.output(), /Reloaded echo@1\.0\.0-dev\.[0-9]+ from /);
    const status = await fetch(`${engine.url}/admin/bundles/echo`, { headers: adminJson() });
    assert.equal(status.status, 200);
    await status.body?.cancel();
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("main.ts refuses bundle folders without --dev", async () => {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-dev-" });
  try {
    const { runEngineToExit } = await import("./_server.ts");
    const exit = await runEngineToExit(root, ["--data-dir", root, "some/folder"]);
    assert.equal(exit.code, 2);
    assert.match(exit.stderr, /bundle folders are given with --dev/);
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
