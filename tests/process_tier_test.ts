import assert from "node:assert/strict";
import {
  BundleCallError,
  CallTimeoutError,
  type Engine,
  InstanceLostError,
  type InstanceStatus,
} from "../mod.ts";
import { getPriority } from "node:os";
import { CHILD_NICENESS, childEnv, processArgs } from "../engine/sandbox/host/process.ts";
import { noGrants } from "../engine/manifest/permissions.ts";
import { manifest, rejects, ROOT, testEngine, waitFor } from "./_helpers.ts";

const MIB = 1024 * 1024;

const ECHO = `export default { services: { Echo: { echo: (input) => input } } };`;

/**
 * Which of `pids` still exist as processes (zombies included). The test's own permissions cannot
 * tell: Deno 2.9 wants --allow-all for /proc and full --allow-run for `Deno.kill`, so a helper
 * child with just `--allow-run` sends each a harmless SIGCONT.
 */
async function alive(pids: number[]): Promise<number[]> {
  const code = `const alive = [];
    for (const pid of ${JSON.stringify(pids)}) {
      try { Deno.kill(pid, "SIGCONT"); alive.push(pid); } catch { /* no such process */ }
    }
    console.log(JSON.stringify(alive));`;
  const out = await new Deno.Command("deno", {
    args: ["run", "--no-config", "--allow-run", `data:text/javascript,${encodeURIComponent(code)}`],
    stdin: "null",
    stderr: "inherit",
  }).output();
  assert.ok(out.success, "the liveness helper ran");
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function instances(engine: Engine, id: string): InstanceStatus[] {
  return engine.bundle(id).revisions[0]?.instances ?? [];
}

function pids(engine: Engine, id: string): number[] {
  return instances(engine, id).flatMap((i) => (i.pid === undefined ? [] : [i.pid]));
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("Process tier runs a bundle in a child with exactly its grants and shows pid and RSS", async () => {
  await using t = await testEngine();
  const logs: string[] = [];
  t.engine.events.on("log", (e) => logs.push(e.message));
  await t.deploy(
    manifest("proc-echo", {
      isolation: "process",
      services: { Echo: "1.0.0" },
      permissions: { read: ["./data"] },
      scaling: { memoryMb: 96 },
    }),
    {
      "mod.ts": `import { writeSync } from "node:fs";
        import process from "node:process";
        import { getHeapStatistics } from "node:v8";
        export default { services: { Echo: {
          echo: (input) => input,
          data: () => Deno.readTextFile(new URL("./data/x.txt", import.meta.url)),
          read: (path) => Deno.readTextFile(path),
          permissions: async () => {
            const q = async (d) => (await Deno.permissions.query(d)).state;
            return {
              data: await q({ name: "read", path: new URL("./data", import.meta.url) }),
              engine: await q({ name: "read", path: ${JSON.stringify(ROOT)} }),
              write: await q({ name: "write" }),
              net: await q({ name: "net" }),
              env: await q({ name: "env" }),
              run: await q({ name: "run" }),
              sys: await q({ name: "sys" }),
              ffi: await q({ name: "ffi" }),
              heapCapped: getHeapStatistics().heap_size_limit < 256 * 1024 * 1024,
            };
          },
          shout: async () => {
            await Deno.stdout.write(new TextEncoder().encode("via Deno.stdout\\n"));
            process.stdout.write("via process.stdout\\n");
            writeSync(1, "via fd 1\\n");
            console.error("via console.error");
            Deno.stderr.writeSync(new TextEncoder().encode("via Deno.stderr\\n"));
            return "done";
          },
        } } };`,
      "data/x.txt": "hello",
    },
  );
  const input = {
    map: new Map([[1, "a"]]),
    date: new Date(0),
    bytes: new Uint8Array([1, 2, 3]),
    big: 2n ** 70n,
    list: [undefined, null, -0],
  };
  assert.deepEqual(await t.engine.call("Echo", "echo", input), input);
  assert.deepEqual(await t.engine.call("Echo", "data", null), "hello");
  await rejects(
    () => t.engine.call("Echo", "read", `${ROOT}/deno.json`),
    BundleCallError,
    "Requires read access",
  );
  // Output behind the runtime's back becomes log records; the protocol stream stays intact.
  assert.deepEqual(await t.engine.call("Echo", "shout", null), "done");
  await waitFor(() => logs.some((l) => l.includes("via Deno.stderr")), 5_000, "stderr lines");
  for (const text of ["via Deno.stdout", "via process.stdout", "via fd 1", "via console.error"]) {
    assert.ok(logs.includes(text), `${text} in ${JSON.stringify(logs)}`);
  }

  await waitFor(() => instances(t.engine, "proc-echo")[0]?.memory !== undefined, 5_000, "a pong");
  const [status] = instances(t.engine, "proc-echo");
  assert.equal(status!.tier, "process");
  assert.ok(status!.memory!.rss > 10 * MIB, `rss ${status!.memory!.rss}`);
  const pid = status!.pid!;
  assert.ok(pid > 0 && pid !== Deno.pid);
  assert.deepEqual(await alive([pid]), [pid]);
  // The child runs below the engine's CPU priority, so a spinning bundle cannot starve routing.
  assert.equal(getPriority(pid), CHILD_NICENESS);
  // What the child may do, seen from inside it: its data folder and nothing else.
  const seen = await t.engine.call("Echo", "permissions", null) as Record<string, unknown>;
  assert.deepEqual(seen, {
    data: "granted",
    engine: "prompt",
    write: "prompt",
    net: "prompt",
    env: "prompt",
    run: "prompt",
    sys: "prompt",
    ffi: "prompt",
    heapCapped: true,
  });
});

Deno.test("processArgs gives the child exactly its grants, a heap cap and nothing else", () => {
  const none = noGrants();
  const args = processArgs({
    name: "x@1.0.0#1",
    memoryMb: 64,
    permissions: { ...none, read: ["/b/mod.ts", "/d"], net: ["127.0.0.1:9000"], env: ["TZ"] },
  });
  const main = args.findIndex((a) => a.startsWith("file:"));
  assert.ok(main > 0 && args[main]!.endsWith("/engine/sandbox/guest/process_main.ts"));
  assert.deepEqual(args.slice(0, main), [
    "run",
    "--no-prompt",
    "--no-config",
    "--cached-only",
    "--no-remote",
    "--v8-flags=--max-old-space-size=64",
    "--allow-read=/b/mod.ts,/d",
    "--allow-net=127.0.0.1:9000",
    "--allow-env=TZ",
  ]);
  assert.deepEqual(args.slice(main + 1), [String(256 * 1024 * 1024)]);
  const withImport = processArgs({
    name: "x",
    memoryMb: 64,
    permissions: { ...none, import: ["example.com:443"] },
  });
  assert.ok(withImport.includes("--allow-import=example.com:443"));
  assert.ok(!withImport.includes("--no-remote"));
});

Deno.test("Process tier kills a spinning bundle within deadline + 500 ms while another bundle keeps serving", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("spin", { isolation: "process", services: { Spin: "1.0.0" } }), {
    "mod.ts": `export default { services: { Spin: { forever() { while (true) {} } } } };`,
  });
  await t.deploy(manifest("steady", { services: { Echo: "1.0.0" } }), { "mod.ts": ECHO });
  const [pid] = pids(t.engine, "spin");
  assert.ok(pid);
  let killedAt: number | undefined;
  t.engine.events.on("instanceexit", (e) => {
    if (e.bundle === "spin" && !e.expected) killedAt ??= Date.now();
  });

  let served = 0;
  let stop = false;
  const errors: unknown[] = [];
  const load = (async () => {
    while (!stop) {
      try {
        assert.equal(await t.engine.call("Echo", "echo", served), served);
        served++;
      } catch (error) {
        errors.push(error);
      }
      await delay(10);
    }
  })();

  const timeoutMs = 600;
  // The engine computes the deadline after this, so `deadline` is never later than the real one.
  const deadline = Date.now() + timeoutMs;
  await rejects(
    () => t.engine.call("Spin", "forever", null, { timeoutMs }),
    CallTimeoutError,
    "timed out",
  );
  await waitFor(() => killedAt !== undefined, 5_000, "the spinning child to be killed");
  const lateBy = killedAt! - deadline;
  await waitFor(async () => (await alive([pid])).length === 0, 5_000, "the child to be reaped");
  stop = true;
  await load;

  assert.ok(lateBy <= 500, `the child was killed ${lateBy} ms after the deadline`);
  assert.deepEqual(errors, []);
  assert.ok(served > 10, `served ${served}`);
  const revision = t.engine.bundle("spin").revisions[0]!;
  assert.match(revision.lastExitReason ?? "", /unresponsive/);
  await waitFor(() => pids(t.engine, "spin").some((p) => p !== pid), 10_000, "a replacement");
});

Deno.test("Process tier confines a memory bomb to its child and fails the call with out of memory", async () => {
  await using t = await testEngine({ unresponsiveMs: 10_000 });
  await t.deploy(
    manifest("bomb", {
      isolation: "process",
      services: { Bomb: "1.0.0" },
      scaling: { memoryMb: 128 },
    }),
    {
      "mod.ts": `export default { services: { Bomb: {
        ok: () => "ok",
        explode() { const hoard = []; while (true) hoard.push(new Array(4096).fill(Math.random())); },
      } } };`,
    },
  );
  const [pid] = pids(t.engine, "bomb");
  const before = Deno.memoryUsage().rss;
  await rejects(
    () => t.engine.call("Bomb", "explode", null, { timeoutMs: 20_000 }),
    InstanceLostError,
    "out of memory (heap cap 128 MiB)",
  );
  const grown = Deno.memoryUsage().rss - before;
  assert.ok(grown < 64 * MIB, `engine RSS grew by ${Math.round(grown / MIB)} MiB`);
  assert.deepEqual(await alive([pid!]), []);
  assert.match(t.engine.bundle("bomb").revisions[0]!.lastExitReason ?? "", /out of memory/);
  // The pool replaces the child and the bundle serves again.
  await waitFor(() => instances(t.engine, "bomb")[0]?.state === "ready", 10_000, "a replacement");
  assert.equal(await t.engine.call("Bomb", "ok", null), "ok");
});

Deno.test("Process tier kills a child whose resident set outgrows its cap outside the V8 heap", async () => {
  await using t = await testEngine({ unresponsiveMs: 10_000 });
  await t.deploy(
    manifest("buffers", {
      isolation: "process",
      services: { Hoard: "1.0.0" },
      scaling: { memoryMb: 32 },
    }),
    {
      "mod.ts": `export default { services: { Hoard: {
        fill() {
          // Synchronous, so only a thread other than the bundle's can notice; bounded at 2 GiB
          // so that a broken watchdog cannot take the machine down with it.
          const keep = [];
          for (let i = 0; i < 512; i++) keep.push(new Uint8Array(4 << 20).fill(7));
          while (true) {}
        },
      } } };`,
    },
  );
  await rejects(
    () => t.engine.call("Hoard", "fill", null, { timeoutMs: 20_000 }),
    InstanceLostError,
    "exceeds the cap of 192 MiB",
  );
});

Deno.test("Process tier marks a crash-looping bundle failed with the reason and stops restarting it", async () => {
  await using t = await testEngine({ unresponsiveMs: 10_000 });
  const exits: string[] = [];
  t.engine.events.on("instanceexit", (e) => exits.push(e.reason));
  await t.deploy(
    manifest("crashy", {
      isolation: "process",
      services: { S: "1.0.0" },
      scaling: { memoryMb: 32 },
    }),
    {
      "mod.ts": `export default {
        services: { S: { x: () => 1 } },
        hooks: { onStart() {
          setTimeout(() => { const a = []; while (true) a.push(new Array(4096).fill(1.5)); }, 50);
        } },
      };`,
    },
  );
  await waitFor(() => t.engine.bundle("crashy").state === "RESOLVED", 30_000, "the crash loop");
  const revision = t.engine.bundle("crashy").revisions[0]!;
  assert.match(revision.error ?? "", /^crash loop: 5 instance failures/);
  assert.match(revision.error ?? "", /out of memory \(heap cap 32 MiB\)/);
  assert.ok(revision.restarts >= 5, `restarts ${revision.restarts}`);
  assert.deepEqual(revision.instances, []);
  const seen = exits.length;
  await delay(1_000);
  assert.equal(exits.length, seen, "no restart after the bundle failed");
  await rejects(() => t.engine.call("S", "x", null), Error, "No active bundle");
});

Deno.test("Process tier counts garbled output as violations and keeps serving", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("garble", { isolation: "process", services: { G: "1.0.0" } }), {
    "mod.ts": `import { writeSync } from "node:fs";
      const magic = [0xff, 0x42, 0x48, 0x01];
      export default { services: { G: {
        oversize() { writeSync(1, new Uint8Array([...magic, 0xff, 0xff, 0xff, 0xff])); return "a"; },
        garbage() { writeSync(1, new Uint8Array([...magic, 4, 0, 0, 0, 1, 2, 3, 4])); return "b"; },
      } } };`,
  });
  const [pid] = pids(t.engine, "garble");
  assert.equal(await t.engine.call("G", "oversize", null), "a");
  assert.equal(await t.engine.call("G", "garbage", null), "b");
  assert.deepEqual(pids(t.engine, "garble"), [pid]);
});

Deno.test("Process tier bounds a bundle's static imports by the child's own permissions", async () => {
  await using t = await testEngine();
  const outside = `${t.root}/outside.ts`;
  await Deno.writeTextFile(outside, "export const secret = 42;");
  const dir = await t.bundle(
    manifest("imports", { isolation: "process", services: { S: "1.0.0" } }),
    {
      "mod.ts": `import { v } from "./lib.ts"; export default { services: { S: { v: () => v } } };`,
      "lib.ts": "export const v = 1;",
    },
  );
  await t.engine.runtime.install(dir);
  // After vetting, the graph is changed to reach a file the child was never granted.
  await Deno.writeTextFile(`${dir}/lib.ts`, `export { secret as v } from "${outside}";`);
  await rejects(() => t.engine.runtime.start("imports"), BundleCallError, "Requires read access");
});

Deno.test("Engine close leaves no child process alive, spinning ones included", async () => {
  const t = await testEngine({ unresponsiveMs: 10_000, drainMs: 200 });
  try {
    await t.deploy(
      manifest("many", {
        isolation: "process",
        services: { Echo: "1.0.0" },
        scaling: { minWorkers: 2 },
      }),
      { "mod.ts": ECHO },
    );
    await t.deploy(manifest("stuck", { isolation: "process", services: { Spin: "1.0.0" } }), {
      "mod.ts": `export default { services: { Spin: { forever() { while (true) {} } } } };`,
    });
    const spinning = t.engine.call("Spin", "forever", null, { timeoutMs: 60_000 }).catch((e) => e);
    await delay(100);
    const all = [...pids(t.engine, "many"), ...pids(t.engine, "stuck")];
    assert.equal(all.length, 3);
    assert.deepEqual(await alive(all), all);
    await t.engine.close();
    assert.ok((await spinning) instanceof InstanceLostError);
    assert.deepEqual(await alive(all), [], "no child outlives close()");
  } finally {
    await t[Symbol.asyncDispose]();
  }
});

Deno.test("childEnv gives a child only its granted variables, the cache dir and OTel settings", () => {
  const none = noGrants();
  Deno.env.set("BUNDLEHOST_ADMIN_TOKEN", "secret-token-never-for-bundles");
  Deno.env.set("GRANTED_VAR", "yes");
  Deno.env.set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
  try {
    const env = childEnv({ ...none, env: ["GRANTED_VAR", "MISSING_VAR"] });
    assert.equal(env.GRANTED_VAR, "yes");
    assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, "http://127.0.0.1:4318");
    assert.equal(env.NO_COLOR, "1");
    assert.equal("BUNDLEHOST_ADMIN_TOKEN" in env, false);
    assert.equal("MISSING_VAR" in env, false);
    assert.equal("PATH" in env, false);
  } finally {
    Deno.env.delete("BUNDLEHOST_ADMIN_TOKEN");
    Deno.env.delete("GRANTED_VAR");
    Deno.env.delete("OTEL_EXPORTER_OTLP_ENDPOINT");
  }
});
