/**
 * `deno task cli init`: the scaffolded folder releases as it is in both tiers and answers calls,
 * its own test passes, bad ids and non-empty folders are refused, and the task's write permission
 * reaches no further than the current folder.
 *
 * @module
 */
import assert from "node:assert/strict";
import { main as cli } from "../cli.ts";
import { BUNDLE_ID } from "../cli/init.ts";
import { manifestText, moduleText, SCHEMA_URL } from "../cli/init_templates.ts";
import { BUNDLE_ID_PATTERN } from "../engine/manifest/manifest.ts";
import type { IsolationTier } from "../engine/sdk/types.ts";
import { ROOT } from "./_helpers.ts";
import { testIo } from "./_cli_io.ts";
import { rpc } from "./_http.ts";
import { TEST_TOKEN, testServer } from "./_server.ts";

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "bundlehost-cli-init-" });
}

for (const tier of ["process", "worker"] as IsolationTier[]) {
  Deno.test(`cli init scaffolds a folder that releases as it is (${tier} tier)`, async () => {
    await using srv = await testServer({ isolation: tier });
    const folder = `${srv.root}/greeter`;
    const io = testIo();
    assert.equal(await cli(["init", "order-book", folder], io), 0, io.errors.join("\n"));
    const names = [];
    for await (const entry of Deno.readDir(folder)) names.push(entry.name);
    assert.deepEqual(names.sort(), ["bundle.json", "deno.json", "mod.ts", "mod_test.ts"]);
    const manifest = JSON.parse(await Deno.readTextFile(`${folder}/bundle.json`));
    assert.equal(manifest.id, "order-book");

    const release = testIo();
    const options = ["--url", srv.url, "--token", TEST_TOKEN];
    assert.equal(await cli(["release", folder, ...options], release), 0, release.errors.join("\n"));
    assert.match(release.text, /Released order-book@0\.1\.0 \(ACTIVE/);
    const reply = await rpc(srv.url, "OrderBookService", "greet", { name: "Ada" });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual(reply.body.result, { message: "Hello, Ada!", bundle: "order-book@0.1.0" });
    const page = await fetch(`${srv.url}/b/order-book/hi`);
    assert.deepEqual(await page.json(), { path: "/hi", bundle: "order-book" });
    const status = (await srv.request("/admin/bundles/order-book", { admin: true }).then((r) =>
      r.json()
    )) as { revisions: { isolation: string }[] };
    assert.equal(status.revisions[0]?.isolation, tier);
  });
}

Deno.test("cli init refuses a bad id, a second argument too many and a non-empty folder", async () => {
  const dir = await tempDir();
  try {
    for (const id of ["Shop", "shop!", "shop_1", "a".repeat(64), ""]) {
      const io = testIo();
      assert.equal(await cli(["init", id, `${dir}/x`], io), 2, id);
      assert.match(io.errors[0]!, /Invalid bundle id/);
    }
    await assert.rejects(Deno.stat(`${dir}/x`), Deno.errors.NotFound);
    const extra = testIo();
    assert.equal(await cli(["init", "shop", `${dir}/x`, "more"], extra), 2);
    assert.match(extra.errors[0]!, /Unexpected argument "more"/);

    await Deno.mkdir(`${dir}/taken`);
    await Deno.writeTextFile(`${dir}/taken/mod.ts`, "// mine");
    const io = testIo();
    assert.equal(await cli(["init", "shop", `${dir}/taken`], io), 2);
    assert.match(io.errors[0]!, /Refusing to overwrite .*taken: the folder is not empty/);
    assert.equal(await Deno.readTextFile(`${dir}/taken/mod.ts`), "// mine");
    await assert.rejects(Deno.stat(`${dir}/taken/bundle.json`), Deno.errors.NotFound);

    // An empty folder is used; a file of the folder's name is not.
    await Deno.mkdir(`${dir}/empty`);
    assert.equal(await cli(["init", "shop", `${dir}/empty`], testIo()), 0);
    assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/empty/bundle.json`)).id, "shop");
    await Deno.writeTextFile(`${dir}/file`, "x");
    const file = testIo();
    assert.equal(await cli(["init", "shop", `${dir}/file`], file), 2);
    assert.match(file.errors[0]!, /a file of that name exists/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli init validates ids exactly as the manifest does", () => {
  assert.equal(BUNDLE_ID.source, BUNDLE_ID_PATTERN.source);
  assert.equal(BUNDLE_ID.flags, BUNDLE_ID_PATTERN.flags);
});

/** The `cli` task's `deno run` flags, read from deno.json. */
function cliTaskFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`)) as {
    tasks: Record<string, string>;
  };
  const words = config.tasks.cli!.split(/\s+/);
  assert.deepEqual([words[0], words[1], words.at(-1)], ["deno", "run", "cli.ts"]);
  return words.slice(2, -1);
}

Deno.test("cli task may write under the current folder only", async () => {
  const dir = await tempDir();
  const outside = await tempDir();
  try {
    const run = async (args: string[]) => {
      const out = await new Deno.Command("deno", {
        args: ["run", ...cliTaskFlags(), `${ROOT}/cli.ts`, ...args],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
    };
    const made = await run(["init", "shop"]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/shop/bundle.json`)).id, "shop");
    const denied = await run(["init", "shop", `${outside}/shop`]);
    assert.equal(denied.code, 2);
    assert.match(denied.stderr, /Cannot write .*: the CLI may write only under the current folder/);
    await assert.rejects(Deno.stat(`${outside}/shop`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("cli init's scaffolded test passes against a local SDK checkout", async () => {
  const dir = await tempDir();
  try {
    const io = testIo();
    assert.equal(await cli(["init", "greeter", `${dir}/greeter`, "--sdk", ROOT], io), 0);
    const config = JSON.parse(await Deno.readTextFile(`${dir}/greeter/deno.json`));
    assert.match(config.imports["@bundlehost/sdk/testing"], /engine\/testing\/mod\.ts$/);
    const out = await new Deno.Command("deno", {
      args: ["task", "test"],
      cwd: `${dir}/greeter`,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /GreeterService greets by name \.\.\. ok/);
    assert.match(text, /ok \| 1 passed/);

    // The module type-checks as scaffolded, and in the variant the lead switches on once bundles
    // can import the SDK (against the SDK's types); that variant's manifest starts with $schema.
    for (const sdkImport of [false, true]) {
      await Deno.writeTextFile(`${dir}/greeter/mod.ts`, moduleText("greeter", sdkImport));
      const check = await new Deno.Command("deno", {
        args: ["check", "mod.ts"],
        cwd: `${dir}/greeter`,
        env: { NO_COLOR: "1" },
        stderr: "piped",
      }).output();
      assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
    }
    assert.match(
      moduleText("greeter", true),
      /import \{ defineBundle \} from "@bundlehost\/sdk\/bundle"/,
    );
    assert.deepEqual(Object.keys(JSON.parse(manifestText("greeter", true))).slice(0, 2), [
      "$schema",
      "id",
    ]);
    assert.equal(JSON.parse(manifestText("greeter", true)).$schema, SCHEMA_URL);

    const bad = testIo();
    assert.equal(await cli(["init", "other", `${dir}/other`, "--sdk", dir], bad), 2);
    assert.match(bad.errors[0]!, /--sdk .* is not a checkout of @bundlehost\/sdk/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
