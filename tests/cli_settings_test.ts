/**
 * `deno task cli config` and `secrets` against a real engine over HTTP: a secret's value comes
 * from standard input or a prompt, never from an argument, and is never printed back.
 *
 * @module
 */
import assert from "node:assert/strict";
import { main as cli } from "../cli.ts";
import { testIo } from "./_cli_io.ts";
import { manifest, writeBundle } from "./_helpers.ts";
import { releasePath, rpc } from "./_http.ts";
import { TEST_TOKEN, testServer } from "./_server.ts";

Deno.test("CLI config get/set and secrets set/list/delete change a running bundle", async () => {
  await using srv = await testServer();
  const dir = await writeBundle(
    `${srv.root}/src`,
    manifest("clicfg", {
      isolation: "process",
      services: { CliCfg: "1.0.0" },
      config: { color: "blue", size: 1 },
      secrets: ["PASSWORD"],
    }),
    {
      "mod.ts":
        `export default { services: { CliCfg: { async get(_i, ctx) { return { ...ctx.config, password: (await ctx.secrets.get("PASSWORD")) ?? null }; } } } };`,
    },
  );
  await releasePath(srv.url, dir);
  const common = ["--url", srv.url, "--token", TEST_TOKEN];
  const run = async (args: string[], io = testIo()) =>
    [await cli([...args, ...common], io), io] as const;

  const [setCode] = await run(["config", "set", "clicfg", '{"color":"red"}']);
  assert.equal(setCode, 0);
  const [getCode, got] = await run(["config", "get", "clicfg", "--json"]);
  assert.equal(getCode, 0);
  assert.deepEqual(JSON.parse(got.text), { color: "red", size: 1 });
  const [, history] = await run(["config", "get", "clicfg", "--history", "--json"]);
  assert.equal(JSON.parse(history.text).revisions.length, 1);
  const [badCode, bad] = await run(["config", "set", "clicfg", "{nope"]);
  assert.equal(badCode, 2);
  assert.match(bad.errors.join("\n"), /not valid JSON/);

  // Piped standard input (not a terminal): one final newline is dropped.
  const piped = testIo();
  piped.readInput = () => Promise.resolve("hunter2\n");
  const [pipedCode] = await run(["secrets", "set", "clicfg", "PASSWORD"], piped);
  assert.equal(pipedCode, 0);
  assert.ok(!piped.text.includes("hunter2"));
  assert.deepEqual((await rpc(srv.url, "CliCfg", "get", {})).body.result, {
    color: "red",
    size: 1,
    password: "hunter2",
  });
  // A terminal: the value is asked for.
  const terminal = testIo({ interactive: true, answers: ["correct-horse"] });
  assert.equal((await run(["secrets", "set", "clicfg", "PASSWORD"], terminal))[0], 0);
  assert.match(terminal.questions[0]!, /Value of PASSWORD/);
  assert.equal(
    ((await rpc(srv.url, "CliCfg", "get", {})).body.result as { password: string }).password,
    "correct-horse",
  );
  // No input at all: refused, nothing set.
  assert.equal((await run(["secrets", "set", "clicfg", "PASSWORD"]))[0], 2);

  const [listCode, listed] = await run(["secrets", "list", "clicfg"]);
  assert.equal(listCode, 0);
  assert.match(listed.text, /^PASSWORD {2}set /);
  assert.ok(!listed.text.includes("correct-horse"));
  const [undeclaredCode, undeclared] = await run(["secrets", "set", "clicfg", "OTHER"], piped);
  assert.equal(undeclaredCode, 1);
  assert.match(undeclared.errors.join("\n"), /does not declare secret OTHER/);
  assert.equal((await run(["secrets", "delete", "clicfg", "PASSWORD"]))[0], 0);
  assert.equal(
    ((await rpc(srv.url, "CliCfg", "get", {})).body.result as { password: unknown }).password,
    null,
  );
  assert.equal((await run(["secrets", "rotate", "clicfg", "PASSWORD"]))[0], 2);
});
