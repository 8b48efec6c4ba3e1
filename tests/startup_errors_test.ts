/**
 * Operator mistakes at start-up, through the real `main.ts` with the `deno task run` flags: each is
 * one clear line on stderr and exit code 2, never a stack trace; a second engine on the same data
 * folder is refused before it touches any state, and a `kill -9`ed engine never blocks a restart.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEngine } from "../mod.ts";
import { DataFolderInUseError } from "../engine/store/data_lock.ts";
import { FAST } from "./_helpers.ts";
import { type EngineExit, runEngineToExit, startEngineProcess } from "./_server.ts";

/** Asserts exit code 2 and exactly one line on stderr matching `message`, without a stack. */
function assertOneLine(result: EngineExit, message: RegExp): void {
  const lines = result.stderr.trim().split("\n");
  assert.equal(result.code, 2, result.stderr);
  assert.equal(lines.length, 1, `expected one line, got:\n${result.stderr}`);
  assert.match(lines[0]!, message);
  assert.doesNotMatch(result.stderr, /^\s+at /m);
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "bundlehost-startup-" });
}

Deno.test("main.ts refuses a second engine on the same data folder, and a kill -9 does not block a restart", async () => {
  const dir = await tempDir();
  try {
    const first = await startEngineProcess(dir, ["--bundles", `${dir}/none`]);
    try {
      // A release the first engine is still copying looks like an orphan to a starting engine.
      const inFlight = `${dir}/releases/copying/1.0.0`;
      await Deno.mkdir(inFlight, { recursive: true });
      const second = await runEngineToExit(dir, ["--data-dir", dir, "--port", "0"]);
      assertOneLine(
        second,
        new RegExp(`^Data folder ${dir} is in use by another engine \\(pid ${first.pid}\\)`),
      );
      // Refused before touching any state: no orphan cleanup ran, the first engine is untouched.
      assert.ok((await Deno.stat(inFlight)).isDirectory, "the second engine removed a release");
      assert.equal((await fetch(`${first.url}/healthz`)).status, 200);
    } finally {
      await first.kill9();
    }
    // The lock died with the process: a restart on the same folder works.
    await using restarted = await startEngineProcess(dir, ["--bundles", `${dir}/none`]);
    assert.equal((await fetch(`${restarted.url}/healthz`)).status, 200);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("main.ts reports each start-up mistake in one line with exit code 2", async () => {
  const dir = await tempDir();
  try {
    const data = ["--data-dir", dir, "--port", "0"];
    assertOneLine(
      await runEngineToExit(dir, [...data.slice(0, 2), "--port", "80x"]),
      /^Invalid port "80x"/,
    );
    assertOneLine(
      await runEngineToExit(dir, [...data.slice(0, 2), "--port", "70000"]),
      /^Invalid port/,
    );
    assertOneLine(await runEngineToExit(dir, [...data, "--no-such-flag"]), /^Invalid arguments: /);
    assertOneLine(
      await runEngineToExit(dir, [...data, "--head-timeout-ms", "soon"]),
      /^Invalid --head-timeout-ms "soon": use a positive integer$/,
    );
    assertOneLine(
      await runEngineToExit(dir, [...data, "--ceiling", `${dir}/missing.json`]),
      new RegExp(`^Cannot read policy file ${dir}/missing\\.json: `),
    );
    await Deno.writeTextFile(`${dir}/bad.json`, "{ read: [");
    assertOneLine(
      await runEngineToExit(dir, [...data, "--ceiling", `${dir}/bad.json`]),
      /^Policy file .*bad\.json is not valid JSON /,
    );
    await Deno.writeTextFile(`${dir}/unknown.json`, JSON.stringify({ reed: ["/tmp"] }));
    assertOneLine(
      await runEngineToExit(dir, [...data, "--ceiling", `${dir}/unknown.json`]),
      /^Invalid policy file .*unknown\.json: field "reed" is not a known field$/,
    );
    await Deno.writeTextFile(`${dir}/shape.json`, JSON.stringify({ net: "127.0.0.1" }));
    assertOneLine(
      await runEngineToExit(dir, [...data, "--ceiling", `${dir}/shape.json`]),
      /^Invalid policy file .*shape\.json: field "net" must be array$/,
    );
    // A data folder outside the engine's --allow-write.
    const elsewhere = await tempDir();
    try {
      assertOneLine(
        await runEngineToExit(dir, ["--data-dir", `${elsewhere}/data`, "--port", "0"]),
        new RegExp(`^Cannot use data folder ${elsewhere}/data: it is not writable by the engine`),
      );
    } finally {
      await Deno.remove(elsewhere, { recursive: true });
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("main.ts reports a port in use in one line with exit code 2", async () => {
  const dir = await tempDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    assertOneLine(
      await runEngineToExit(dir, ["--data-dir", dir, "--port", String(port)]),
      new RegExp(`^Cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`),
    );
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("createEngine refuses a data folder another engine in this process holds, until it closes", async () => {
  const dir = await tempDir();
  try {
    const first = await createEngine({ ...FAST, dataDir: dir });
    await assert.rejects(createEngine({ ...FAST, dataDir: dir }), DataFolderInUseError);
    await first.close();
    const second = await createEngine({ ...FAST, dataDir: dir });
    await second.close();
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
