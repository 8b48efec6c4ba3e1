/**
 * The CLI's manners against a real engine over HTTP: help for every command, "did you mean" for
 * typos, unknown flags refused by name, a confirmation before `delete`, `status` as a table, and
 * `canary --watch` following a phased release to its end. Also the CLI's import rule: it reaches
 * the engine only over HTTP.
 *
 * @module
 */
import assert from "node:assert/strict";
import { main as cli } from "../cli.ts";
import { COMMANDS } from "../cli/commands.ts";
import { editDistance } from "../cli/suggest.ts";
import { ManualClock } from "../mod.ts";
import { manifest, manualTime, waitFor, writeBundle } from "./_helpers.ts";
import { testIo } from "./_cli_io.ts";
import { admin, type BundleView, rpc } from "./_http.ts";
import { loadModuleGraph } from "./_module_graph.ts";
import { TEST_TOKEN, testServer } from "./_server.ts";

Deno.test("cli help lists every command, and each command's --help its own flags", async () => {
  const io = testIo();
  assert.equal(await cli(["help"], io), 0);
  for (const c of COMMANDS) assert.match(io.text, new RegExp(`^  ${c.name}\\b`, "m"), c.name);
  assert.equal(await cli([], testIo()), 2, "no command is a usage error");
  for (const c of COMMANDS) {
    for (const args of [[c.name, "--help"], [c.name, "-h"], ["help", c.name]]) {
      const one = testIo();
      assert.equal(await cli(args, one), 0, args.join(" "));
      assert.match(one.text, new RegExp(`^Usage: deno task cli ${c.name}`), args.join(" "));
      for (const flag of Object.keys(c.flags ?? {})) {
        assert.match(one.text, new RegExp(`--${flag}\\b`));
      }
      assert.match(one.text, /--url <url>/);
    }
  }
});

Deno.test("cli suggests the command or flag meant, and refuses unknown flags by name", async () => {
  assert.equal(editDistance("stauts", "status"), 1);
  const cases: [string[], RegExp][] = [
    [["stauts"], /Unknown command "stauts"\. Did you mean "status"\?/],
    [["relase", "x"], /Unknown command "relase"\. Did you mean "release"\?/],
    [["help", "canry"], /Unknown command "canry"\. Did you mean "canary"\?/],
    [["zebra"], /^Unknown command "zebra"\.$/],
    [
      ["canary", "shop", "2.0.0", "--step", "5"],
      /Unknown flag --step for "canary"\. Did you mean "--steps"\?/,
    ],
    [["delete", "shop", "--yse"], /Unknown flag --yse for "delete"\. Did you mean "--yes"\?/],
    [["list", "--follow"], /^Unknown flag --follow for "list"\.$/],
    [["list", "--bogus=1"], /^Unknown flag --bogus for "list"\.$/],
    [["list", "-x"], /^Unknown flag -x for "list"\.$/],
    [["rollback", "shop", "--version"], /--version/],
  ];
  for (const [args, message] of cases) {
    const io = testIo();
    // No engine runs at this URL: none of these may get as far as a request.
    assert.equal(await cli([...args, "--url", "http://127.0.0.1:9"], io), 2, args.join(" "));
    assert.match(io.errors[0]!, message, args.join(" "));
  }
  // A flag's value that starts with a dash is never taken for a flag: `--token=-x` passes it,
  // `--token -x` is refused saying how to pass it.
  const dashed = testIo();
  assert.equal(await cli(["list", "--token=-dash", "--url", "http://127.0.0.1:9"], dashed), 3);
  assert.match(dashed.errors[0]!, /Cannot reach the engine at http:\/\/127\.0\.0\.1:9/);
  const ambiguous = testIo();
  assert.equal(
    await cli(["list", "--token", "-dash", "--url", "http://127.0.0.1:9"], ambiguous),
    2,
  );
  assert.match(ambiguous.errors[0]!, /'--token' argument is ambiguous/);
  const json = testIo();
  assert.equal(await cli(["stauts", "--json"], json), 2);
  assert.deepEqual(JSON.parse(json.text), {
    error: 'Unknown command "stauts". Did you mean "status"?',
    exitCode: 2,
  });
});

Deno.test("cli delete asks for the id, refuses without a terminal, and --yes skips the question", async () => {
  await using srv = await testServer();
  const options = ["--url", srv.url, "--token", TEST_TOKEN];
  const exists = async (id: string) =>
    (await admin(srv.url, "GET", `/admin/bundles/${id}`)).status === 200;
  for (const id of ["one", "two", "three"]) {
    const dir = await writeBundle(`${srv.root}/src`, manifest(id), {
      "mod.ts": "export default {}",
    });
    assert.equal(await cli(["release", dir, ...options], testIo()), 0);
  }
  const piped = testIo({ interactive: false });
  assert.equal(await cli(["delete", "one", ...options], piped), 2);
  assert.match(piped.errors[0]!, /Refusing to delete "one" without confirmation: .*pass --yes/);
  assert.deepEqual(piped.questions, []);
  const wrong = testIo({ interactive: true, answers: ["y"] });
  assert.equal(await cli(["delete", "one", ...options], wrong), 2);
  assert.match(wrong.questions[0]!, /Delete bundle "one" .* Type its id to confirm/);
  assert.match(wrong.errors[0]!, /Not deleted: "one" was not confirmed/);
  const ended = testIo({ interactive: true, answers: [] });
  assert.equal(await cli(["delete", "one", ...options], ended), 2, "input ended: no");
  assert.ok(await exists("one"));

  assert.equal(
    await cli(["delete", "one", ...options], testIo({ interactive: true, answers: ["one"] })),
    0,
  );
  assert.equal(await cli(["delete", "two", "--yes", ...options], testIo()), 0);
  assert.deepEqual([await exists("one"), await exists("two"), await exists("three")], [
    false,
    false,
    true,
  ]);
  const missing = testIo();
  assert.equal(
    await cli(["delete", "nope", "--yes", ...options], missing),
    1,
    "the engine refuses",
  );
  assert.match(missing.errors[0]!, /^404 /);
});

Deno.test("cli status prints a table of bundles, and JSON with --json", async () => {
  await using srv = await testServer();
  const options = ["--url", srv.url, "--token", TEST_TOKEN];
  const empty = testIo();
  assert.equal(await cli(["status", ...options], empty), 0);
  assert.match(empty.text, /^Up \d+ s, 0 bundles, 0 leaked workers$/);
  const dir = await writeBundle(`${srv.root}/src`, manifest("shop"), {
    "mod.ts": "export default {}",
  });
  assert.equal(await cli(["release", dir, ...options], testIo()), 0);
  const io = testIo();
  assert.equal(await cli(["status", ...options], io), 0);
  const [head, blank, header, row, ...more] = io.text.split("\n");
  assert.match(head!, /^Up \d+ s, 1 bundles, 0 leaked workers$/);
  assert.equal(blank, "");
  assert.match(header!, /^ID\s+STATE\s+SERVING\s+REVISIONS\s+INSTANCES$/);
  assert.match(row!, /^shop\s+ACTIVE\s+1\.0\.0\s+1\.0\.0 ACTIVE \(worker\)\s+\d+$/);
  assert.deepEqual(more, []);
  // Columns line up: every cell of the row starts where its header does.
  for (const word of ["STATE", "SERVING", "REVISIONS", "INSTANCES"]) {
    assert.notEqual(row![header!.indexOf(word) - 1], undefined);
    assert.equal(row![header!.indexOf(word) - 1], " ", word);
    assert.notEqual(row![header!.indexOf(word)], " ", word);
  }
  const json = testIo();
  assert.equal(await cli(["status", "--json", ...options], json), 0);
  const data = JSON.parse(json.text) as { uptimeMs: number; bundles: { id: string }[] };
  assert.deepEqual(data.bundles.map((b) => b.id), ["shop"]);
});

function shopModule(failing: boolean): string {
  return `export default { services: { Shop: { price() {
    ${failing ? 'throw new Error("broken pricing");' : ""}
    return { ok: true };
  } } } };`;
}

Deno.test("cli canary --watch follows a phased release to promotion (exit 0) or rollback (exit 1)", async () => {
  // The engine's clock moves by hand; the CLI polls on real time, every 50 ms.
  const clock = new ManualClock(Date.now());
  await using srv = await testServer({ ...manualTime(clock), rollbackWarmMs: 60_000 });
  const options = ["--url", srv.url, "--token", TEST_TOKEN];
  const release = async (version: string, failing: boolean, activate: boolean) => {
    const dir = await writeBundle(
      `${srv.root}/src-${version}`,
      manifest("shop", { version, services: { Shop: "1.0.0" } }),
      { "mod.ts": shopModule(failing) },
    );
    const args = ["release", dir, ...options, ...(activate ? [] : ["--no-activate"])];
    assert.equal(await cli(args, testIo()), 0);
  };
  await release("1.0.0", false, true);
  await release("2.0.0", false, false);
  type View = BundleView & {
    canary?: { version: string; status: string; live?: { calls: number } };
  };
  const view = async () => (await admin<View>(srv.url, "GET", "/admin/bundles/shop")).body;
  const watch = async (version: string, io = testIo()) => {
    const flags = ["--steps", "50,100", "--step-ms", "2000", "--min-calls", "1", "--poll-ms", "50"];
    const code = cli(["canary", "shop", version, ...flags, "--watch", ...options], io);
    await waitFor(async () => (await view()).canary?.version === version, 5_000, "the canary");
    // Calls until one reached the new version, then the step's time passes.
    for (let i = 0; i < 400; i++) {
      await rpc(srv.url, "Shop", "price");
      const canary = (await view()).canary;
      if ((canary?.live?.calls ?? 0) >= 1 || canary?.status !== "running") break;
    }
    await clock.advance(2_000);
    return { code: await code, io };
  };

  const promoted = await watch("2.0.0");
  assert.equal(promoted.code, 0, promoted.io.errors.join("\n"));
  assert.match(
    promoted.io.lines[0]!,
    /^Canary 2\.0\.0 \(from 1\.0\.0\): running, weight 50% \(step 1 of 2\)$/,
  );
  assert.match(
    promoted.io.lines.at(-2)!,
    /^Canary 2\.0\.0 \(from 1\.0\.0\): promoted, weight 100%$/,
  );
  assert.equal(promoted.io.lines.at(-1), "shop now serves 2.0.0");
  assert.equal(new Set(promoted.io.lines).size, promoted.io.lines.length, "each change once");

  await release("3.0.0", true, false);
  const rolled = await watch("3.0.0");
  assert.equal(rolled.code, 1);
  assert.match(rolled.io.lines.at(-2)!, /^Canary 3\.0\.0 \(from 2\.0\.0\): rolled-back, weight 0%/);
  assert.equal(rolled.io.lines.at(-1), "shop stays on 2.0.0");

  // --watch without a version follows whatever canary the bundle has: this one has ended.
  const again = testIo();
  assert.equal(await cli(["canary", "shop", "--watch", "--poll-ms", "50", ...options], again), 1);
  assert.match(again.lines[0]!, /rolled-back/);
  const none = testIo();
  assert.equal(
    await cli(["canary", "shop", "9.9.9", "--watch", "--poll-ms", "5", ...options], none),
    2,
  );
  assert.match(none.errors[0]!, /--poll-ms must be at least 50/);
});

Deno.test("cli reaches the engine only over HTTP: it imports engine/base and sdk types only", async () => {
  const graph = await loadModuleGraph(["cli.ts"]);
  const engine = graph.edges.filter((e) => e.from.startsWith("cli/") && e.to.startsWith("engine/"));
  assert.ok(engine.length > 0, "the rule is tested on real imports");
  for (const edge of engine) {
    const allowed = edge.to.startsWith("engine/base/") ||
      (edge.to.startsWith("engine/sdk/") && edge.typeOnly);
    assert.ok(allowed, `${edge.from} imports ${edge.to}`);
  }
  const outside = graph.edges.filter((e) =>
    (e.from.startsWith("cli/") || e.from === "cli.ts") &&
    !e.to.startsWith("cli/") && !e.to.startsWith("engine/") && !e.to.startsWith("node:") &&
    !e.to.startsWith("npm:")
  );
  assert.deepEqual(outside, []);
});
