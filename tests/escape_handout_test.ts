/**
 * Escape attempts from a handed-out sandbox (`engine/sandbox/host/worker_reserve.ts`): a bundle
 * that asks for no permission and is self-contained runs in a worker spawned ahead of time with no
 * permission at all, its module sent as source. Each test first checks that the probe really ran
 * in a spare (the spare's worker name), then that it can reach nothing beyond its grants — no
 * file (not even its own module file), no write, network, environment, subprocess, FFI, system
 * information or remote import — and nothing of another bundle that ran in a spare before it or
 * beside it. Bundles that ask for any grant, or locate their own files, are never handed a spare.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  assertRefused,
  type EscapeEnv,
  handoutEnv,
  type ProbeResult,
  SPARE,
} from "./escape_env.ts";

/** Runs `body` in a probe and returns its result with the worker name it ran in. */
async function probeIn(
  env: EscapeEnv,
  body: string,
  options: Parameters<EscapeEnv["probe"]>[1] = {},
): Promise<{ worker: string; result: ProbeResult }> {
  const wrapped = await env.probe(
    `const worker = self.name;
    try {
      return { worker, result: { ok: true, value: await (async () => {\n${body}\n})() } };
    } catch (error) {
      return { worker, result: { ok: false, name: String(error?.name), message: String(error?.message ?? error) } };
    }`,
    options,
  );
  assert.ok(wrapped.ok, Deno.inspect(wrapped));
  return wrapped.value as { worker: string; result: ProbeResult };
}

/** Asserts the probe ran in a spare and was refused with `name` (NotCapable) naming `fragment`. */
async function refusedInSpare(
  env: EscapeEnv,
  body: string,
  fragment: string,
  name = "NotCapable",
): Promise<void> {
  const { worker, result } = await probeIn(env, body);
  assert.equal(worker, SPARE, "the probe ran in a handed-out spare");
  assertRefused(env, result, name, fragment);
}

Deno.test("A handed-out sandbox reads no file: secrets, another bundle's data, /etc", async () => {
  await using env = await handoutEnv();
  for (const path of [env.secret, env.token, env.victim, "/etc/passwd"]) {
    await refusedInSpare(env, `return await Deno.readTextFile(${JSON.stringify(path)});`, "read");
  }
  await refusedInSpare(env, `return [...Deno.readDirSync(input.root)].length;`, "read");
});

Deno.test("A handed-out sandbox cannot read its own module file (it loaded from source)", async () => {
  await using env = await handoutEnv();
  const { worker, result } = await probeIn(
    env,
    `const dirs = [...Deno.readDirSync(input.root + "/src")];
    return dirs.length;`,
  );
  assert.equal(worker, SPARE);
  assertRefused(env, result, "NotCapable", "read");
  // Named by its path from outside: the probe's folder is under <root>/src.
  const folders = [...Deno.readDirSync(`${env.root}/src`)].map((e) => `${env.root}/src/${e.name}`);
  assert.ok(folders.length > 0);
  for (const folder of folders) {
    await refusedInSpare(
      env,
      `return await Deno.readTextFile(${JSON.stringify(`${folder}/mod.ts`)});`,
      "read",
    );
  }
});

Deno.test("A handed-out sandbox cannot write, connect, listen or import from the network", async () => {
  await using env = await handoutEnv();
  await refusedInSpare(env, `await Deno.writeTextFile(input.root + "/planted.txt", "x");`, "write");
  await refusedInSpare(
    env,
    `return await (await fetch("http://127.0.0.1:" + input.port)).text();`,
    "net",
  );
  await refusedInSpare(env, `Deno.listen({ hostname: "127.0.0.1", port: 0 });`, "net");
  await refusedInSpare(
    env,
    // Spelled without "import(": a module with that text is not handed a spare.
    `const load = new Function("u", "return imp" + "ort(u)");
    return await load("http://127.0.0.1:" + input.port + "/x.js");`,
    "Requires import access",
    "TypeError",
  );
  assert.equal(await Deno.stat(`${env.root}/planted.txt`).catch(() => undefined), undefined);
});

Deno.test("A handed-out sandbox reads no environment, runs nothing, loads no library, no sys", async () => {
  await using env = await handoutEnv();
  await refusedInSpare(env, `return Deno.env.get(input.envName);`, "env");
  await refusedInSpare(env, `return Deno.env.toObject();`, "env");
  await refusedInSpare(
    env,
    `return String((await new Deno.Command("/bin/sh", { args: ["-c", "id"] }).output()).code);`,
    "run",
  );
  await refusedInSpare(
    env,
    `Deno.dlopen("libc.so.6", { getpid: { parameters: [], result: "i32" } });`,
    "ffi",
  );
  await refusedInSpare(env, `return Deno.hostname();`, "sys");
  await refusedInSpare(env, `return Deno.osRelease();`, "sys");
});

Deno.test("A handed-out sandbox sees nothing of bundles handed out beside or before it", async () => {
  await using env = await handoutEnv();
  // A stays active: its spare holds a marker in its realm and its module source.
  await env.deploy(
    { id: "marker", version: "1.0.0", services: { Marker: "1.0.0" } },
    {
      "mod.ts": `globalThis.__bundlehostMarker = ${JSON.stringify(env.secretText)};
export default { services: { Marker: { name() { return self.name; } } } };`,
    },
  );
  assert.equal(await env.engine.call("Marker", "name", null), SPARE);
  for (let i = 0; i < 3; i++) {
    const { worker, result } = await probeIn(
      env,
      `return [typeof globalThis.__bundlehostMarker, typeof Marker];`,
    );
    assert.equal(worker, SPARE);
    assert.deepEqual(result, { ok: true, value: ["undefined", "undefined"] });
  }
  // And after A is gone: a spare is never reused.
  await env.engine.runtime.uninstall("marker");
  const { worker, result } = await probeIn(env, `return typeof globalThis.__bundlehostMarker;`);
  assert.equal(worker, SPARE);
  assert.deepEqual(result, { ok: true, value: "undefined" });
});

Deno.test("A bundle with any grant, or that locates its own files, is never handed a spare", async () => {
  await using env = await handoutEnv();
  const granted = await probeIn(env, `return await Deno.readTextFile(input.secret);`, {
    permissions: { read: ["./data"] },
    files: { "data/x.txt": "x" },
  });
  assert.notEqual(granted.worker, SPARE);
  assertRefused(env, granted.result, "NotCapable", "read");
  // A bundle may always read its own module files: one that names them keeps that.
  const own = await probeIn(
    env,
    `return (await Deno.readTextFile(new URL("./mod.ts", import.meta.url))).includes("Probe");`,
  );
  assert.notEqual(own.worker, SPARE);
  assert.deepEqual(own.result, { ok: true, value: true });
});

Deno.test("A handed-out sandbox runs its vetted source, not a file changed after vetting", async () => {
  await using env = await handoutEnv();
  const dir = await env.bundle({ id: "late", version: "1.0.0", services: { Late: "1.0.0" } }, {
    "mod.ts": "export default { services: { Late: { run() { return [self.name, 1]; } } } };",
  });
  await env.engine.runtime.install(dir);
  await Deno.writeTextFile(
    `${dir}/mod.ts`,
    `import secret from "../../outside.js";
export default { services: { Late: { run() { return [self.name, secret]; } } } };`,
  );
  await env.engine.runtime.start("late");
  assert.deepEqual(await env.engine.call("Late", "run", null), [SPARE, 1]);
});
