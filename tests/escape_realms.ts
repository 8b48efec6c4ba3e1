/**
 * Escape attempts through a fresh global scope or process-wide state (issue 12 item 7): a
 * `node:worker_threads` thread (fresh globals, measured: the Cache API, `BroadcastChannel`, Web
 * Locks and signal listeners come back), its `BroadcastChannel` export, `node:vm` contexts,
 * `ShadowRealm`, nested workers from `blob:` URLs, and the files the Deno dir's location data
 * would receive. Part of {@linkcode ATTEMPTS}, so each runs in both tiers.
 *
 * A computed `import()` stands for the import release vetting cannot see: the runtime guard must
 * refuse it on its own.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ReleaseRefusedError } from "../mod.ts";
import { manifest, rejects } from "./_helpers.ts";
import { assertRefused, type Attempt, MECHANISM, probeModule } from "./escape_env.ts";

/** A `node:worker_threads` import that release vetting cannot see. */
const COMPUTED_THREADS = `const threads = await import(["node", "worker_threads"].join(":"));`;
const WORKER_REFUSED = "node:worker_threads Worker is refused in a bundle";
const CHANNEL_REFUSED = "node:worker_threads BroadcastChannel is refused in a bundle";

/** Files under `dir`, each with its size and modification time; empty when it does not exist. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (path: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(path));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const entry of entries) {
      const full = `${path}/${entry.name}`;
      if (entry.isDirectory) await walk(full);
      else {
        const info = await Deno.lstat(full);
        files.set(full, `${info.size}@${info.mtime?.getTime()}`);
      }
    }
  };
  await walk(dir);
  return files;
}

function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after].filter(([path, stamp]) => before.get(path) !== stamp).map(([path]) => path);
}

async function denoDir(): Promise<string> {
  const { stdout } = await new Deno.Command("deno", { args: ["info", "--json"] }).output();
  return (JSON.parse(new TextDecoder().decode(stdout)) as { denoDir: string }).denoDir;
}

/** Every realm attempt. */
export const REALM_ATTEMPTS: Attempt[] = [
  {
    name: "a static import of node:worker_threads",
    mechanism: MECHANISM.vetting,
    async run(env) {
      const error = await rejects(
        () => env.probe("return 1;", { prelude: `import { Worker } from "node:worker_threads";` }),
        ReleaseRefusedError,
        "it imports node:worker_threads, refused in a bundle",
      );
      return error.message;
    },
  },
  {
    name: "a node:worker_threads worker (fresh globals) reading a secret and the Cache API",
    mechanism: MECHANISM.guard,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(`${COMPUTED_THREADS}
          const code = "const { parentPort, workerData } = require('node:worker_threads');" +
            "parentPort.postMessage([typeof caches, require('node:fs').readFileSync(workerData, 'utf8')]);";
          const w = new threads.Worker(code, { eval: true, workerData: input.secret });
          const reply = await new Promise((resolve, reject) => { w.on("message", resolve); w.on("error", reject); });
          await w.terminate();
          return reply;`),
        "NotCapable",
        WORKER_REFUSED,
      ),
  },
  {
    name: "putting back the prototype of the refused node:worker_threads Worker",
    mechanism: MECHANISM.guard,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(`${COMPUTED_THREADS}
          const { EventEmitter } = await import("node:events");
          let restored = "restored";
          try { Object.setPrototypeOf(threads.Worker, EventEmitter); }
          catch (e) { restored = e.name; }
          const w = new threads.Worker("1", { eval: true });
          await w.terminate();
          return "a thread started after the prototype was " + restored;`),
        "NotCapable",
        WORKER_REFUSED,
      ),
  },
  {
    name: "a node:worker_threads BroadcastChannel to another bundle",
    mechanism: MECHANISM.guard,
    async run(env) {
      const listener = probeModule(
        `globalThis.heard ??= []; if (input === "listen") {
          const threads = await import(["node", "worker_threads"].join(":"));
          new threads.BroadcastChannel("bundles").onmessage = (e) => heard.push(e.data); return [];
        }
        return heard;`,
      ).replace("Probe:", "Listener:");
      await env.deploy(manifest("listener", { services: { Listener: "1.0.0" } }), {
        "mod.ts": listener,
      });
      const listening = await env.engine.call("Listener", "run", "listen");
      assert.deepEqual(listening, { ok: false, name: "NotCapable", message: msg(CHANNEL_REFUSED) });
      const sent = await env.probe(`${COMPUTED_THREADS}
        const c = new threads.BroadcastChannel("bundles"); c.postMessage(input.secret); c.close();
        return "sent";`);
      assert.deepEqual(await env.engine.call("Listener", "run", "check"), { ok: true, value: [] });
      return assertRefused(env, sent, "NotCapable", CHANNEL_REFUSED);
    },
  },
  {
    name: "a fresh realm through node:vm",
    mechanism: "V8 context without web or Deno APIs (node:vm)",
    async run(env) {
      const result = await env.probe(`const vm = await import("node:vm");
        return vm.runInNewContext(
          "[typeof caches, typeof BroadcastChannel, typeof navigator, typeof localStorage, typeof Deno, typeof Worker].join()",
        );`);
      const none = Array(6).fill("undefined").join();
      assert.deepEqual(result, { ok: true, value: none }, Deno.inspect(result));
      return "caches, BroadcastChannel, navigator, localStorage, Deno, Worker: all undefined";
    },
  },
  {
    name: "a fresh realm through ShadowRealm",
    mechanism: "not enabled in Deno",
    async run(env) {
      const result = await env.probe(`return new ShadowRealm().evaluate("typeof caches");`);
      return assertRefused(env, result, "ReferenceError", "ShadowRealm is not defined");
    },
  },
  {
    name: "the Cache API from a nested worker started from a blob: URL",
    mechanism: MECHANISM.guard,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(
          `const source = "self.onmessage = async () => { try { await caches.open('x'); postMessage('opened'); } catch (e) { postMessage(e.name + ': ' + e.message); } };";
          const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
          const w = new Worker(url, { type: "module" });
          const reply = await new Promise((resolve) => {
            w.onmessage = (e) => resolve(e.data);
            w.onerror = (e) => { e.preventDefault(); resolve("ErrorEvent: " + e.message); };
            w.postMessage(0);
          });
          w.terminate();
          const [name, message] = String(reply).split(": ");
          throw Object.assign(new Error(message), { name });`,
        ),
        "ReferenceError",
        "caches is not defined",
      ),
  },
  {
    name:
      "writing outside its folders through the Deno dir (caches, localStorage, KV without a path)",
    mechanism: (tier) =>
      `${MECHANISM.guard}; ${tier === "process" ? MECHANISM.noKv : "KV refused"}`,
    async run(env) {
      const dir = `${await denoDir()}/location_data`;
      const cwd = Deno.cwd();
      const names = () => [...Deno.readDirSync(cwd)].map((entry) => entry.name);
      const before = await snapshot(dir);
      const beforeNames = new Set(names());
      const result = await env.probe(`const tried = [];
        const attempt = async (what, f) => { try { await f(); tried.push(what + ": written"); } catch (e) { tried.push(what + ": " + e.name); } };
        await attempt("caches", async () => (await caches.open("x")).put("http://x/", new Response("x")));
        await attempt("localStorage", () => localStorage.setItem("k", "v"));
        await attempt("kv", async () => { const kv = await Deno.openKv(); await kv.set(["k"], 1); kv.close(); });
        await attempt("thread caches", async () => {
          ${COMPUTED_THREADS}
          const w = new threads.Worker("caches.open('x').then((c) => c.put('http://x/', new Response('x')))", { eval: true });
          await new Promise((r) => setTimeout(r, 300));
          await w.terminate();
        });
        return tried;`);
      const after = await snapshot(dir);
      const written = changes(before, after);
      const created = names().filter((name) => !beforeNames.has(name));
      assert.deepEqual(written, [], `the bundle wrote under ${dir}`);
      assert.deepEqual(created, [], `the bundle created files in ${cwd}`);
      assert.ok(result.ok, Deno.inspect(result));
      const tried = result.value as string[];
      assert.ok(tried.every((t) => !t.endsWith(": written")), tried.join("; "));
      return tried.join(", ");
    },
  },
];

function msg(text: string): string {
  return `${text}: its channel reaches every worker of the engine process`;
}
