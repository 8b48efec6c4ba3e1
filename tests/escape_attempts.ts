/**
 * The attempt table of the sandbox escape suite: each attempt names the escape, the mechanism that
 * must refuse it, and a `run` that performs it from inside a bundle (or through the engine's API)
 * and asserts both the refusal and its origin. `escape_test.ts` registers one test per attempt and
 * tier.
 *
 * @module
 */
import assert from "node:assert/strict";
import { InstanceLostError, ManifestError, NotFoundError, ReleaseRefusedError } from "../mod.ts";
import { manifest, rejects, ROOT } from "./_helpers.ts";
import {
  assertRefused,
  type Attempt,
  type EscapeEnv,
  MECHANISM,
  probeModule,
  type ProbeResult,
} from "./escape_env.ts";
import { PROTOCOL_ATTEMPTS } from "./escape_protocol.ts";
import { REALM_ATTEMPTS } from "./escape_realms.ts";

const P = MECHANISM.permissions;
const needs = (kind: string, target: string) => `Requires ${kind} access to "${target}"`;

async function refusedAtRelease(
  env: EscapeEnv,
  files: Record<string, string>,
  fragment: string,
  setup?: (dir: string) => Promise<void>,
): Promise<string> {
  const dir = await env.bundle(manifest("escapee", { permissions: { read: ["."] } }), files);
  await setup?.(dir);
  const error = await rejects(() => env.engine.runtime.install(dir), ReleaseRefusedError, fragment);
  assert.throws(() => env.engine.bundle("escapee"), NotFoundError);
  return error.message;
}

/** KV refusal: NotCapable, or no `Deno.openKv` at all in a process-tier child (no --unstable-kv). */
function assertKvRefused(env: EscapeEnv, result: ProbeResult, fragment: string): string {
  if (env.tier === "process" && !result.ok && result.name === "TypeError") {
    return assertRefused(env, result, "TypeError", "Deno.openKv is not a function");
  }
  return assertRefused(env, result, "NotCapable", fragment);
}

async function refusedManifest(
  env: EscapeEnv,
  extra: Record<string, unknown>,
  field: string,
  fragment: string,
): Promise<string> {
  const dir = await env.bundle(manifest("escapee", extra), { "mod.ts": "export default {};" });
  const error = await rejects(() => env.engine.runtime.install(dir), ManifestError, fragment);
  assert.equal(error.field, field);
  return `${error.field}: ${error.message}`;
}

/** A nested worker started by the bundle: reports what its body returned or threw. */
function nested(workerBody: string, options: string): string {
  const source = `const input = await new Promise((r) => { self.onmessage = (e) => r(e.data); });
try { postMessage({ ok: true, value: await (async () => { ${workerBody} })() }); }
catch (e) { postMessage({ ok: false, name: e.name, message: e.message }); }`;
  return `const w = new Worker("data:text/javascript," + encodeURIComponent(${
    JSON.stringify(source)
  }), ${options});
    w.postMessage(input);
    const reply = await new Promise((resolve) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => { e.preventDefault(); resolve({ ok: false, name: "ErrorEvent", message: e.message }); };
    });
    w.terminate();
    if (reply.ok) return reply.value;
    throw Object.assign(new Error(reply.message), { name: reply.name });`;
}

const FILESYSTEM: Attempt[] = [
  {
    name: "a read of an absolute path outside the bundle",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe("return await Deno.readTextFile(input.secret);"),
        "NotCapable",
        needs("read", env.secret),
      ),
  },
  {
    name: "a ../ relative read out of a bundle that may read its own folder",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(
          `return await Deno.readTextFile(new URL("../../secret.txt", import.meta.url));`,
          { permissions: { read: ["."] } },
        ),
        "NotCapable",
        needs("read", env.secret),
      ),
  },
  {
    name: "a symlink to a file outside the bundle",
    mechanism: MECHANISM.links,
    run: (env) =>
      refusedAtRelease(
        env,
        { "mod.ts": probeModule(`return await Deno.readTextFile("./leak.txt");`) },
        `points to ${env.secret}, outside the bundle folder`,
        (dir) => Deno.symlink(env.secret, `${dir}/leak.txt`),
      ),
  },
  {
    name: "a symlink to a folder outside the bundle",
    mechanism: MECHANISM.links,
    run: (env) =>
      refusedAtRelease(
        env,
        { "mod.ts": probeModule(`return await Deno.readTextFile("./data/secret.txt");`) },
        `points to ${env.root}, outside the bundle folder`,
        (dir) => Deno.symlink(env.root, `${dir}/data`),
      ),
  },
  {
    name: "creating a symlink out of its data folder at run time",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(`await Deno.symlink(input.secret, ctx.bundle.dataDir + "/leak");`, {
          permissions: { read: ["$DATA"], write: ["$DATA"] },
        }),
        "NotCapable",
        "Deno.symlink() requires unscoped --allow-read and --allow-write",
      ),
  },
  {
    name: "a hard link to a file outside the bundle at run time",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(`await Deno.link(input.secret, ctx.bundle.dataDir + "/leak");`, {
          permissions: { read: ["$DATA"], write: ["$DATA"] },
        }),
        "NotCapable",
        needs("read", env.secret),
      ),
  },
  {
    name: "a write outside the bundle",
    mechanism: P,
    async run(env) {
      const target = `${env.root}/pwned.txt`;
      const result = await env.probe(`await Deno.writeTextFile(input.root + "/pwned.txt", "x");`);
      await rejects(() => Deno.stat(target), Deno.errors.NotFound);
      return assertRefused(env, result, "NotCapable", needs("write", target));
    },
  },
  {
    name: "a write into its own release folder",
    mechanism: P,
    async run(env) {
      const result = await env.probe(
        `const path = new URL("./pwned.js", import.meta.url).pathname;
        await Deno.writeTextFile(path, "export default 1;");`,
        { permissions: { read: ["$DATA"], write: ["$DATA"] } },
      );
      return assertRefused(env, result, "NotCapable", "pwned.js");
    },
  },
  {
    name: "a manifest asking to write its own release folder",
    mechanism: MECHANISM.ceiling,
    run: (env) =>
      refusedManifest(
        env,
        { permissions: { write: ["."] } },
        "permissions.write[0]",
        "outside the engine's permission ceiling",
      ),
  },
  {
    name: "a read of another bundle's data folder through $DATA/..",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(
          `return await Deno.readTextFile(ctx.bundle.dataDir + "/../victim/secret.txt");`,
          {
            permissions: { read: ["$DATA"] },
          },
        ),
        "NotCapable",
        needs("read", env.victim),
      ),
  },
  {
    name: "a read of the engine's admin token",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe("return await Deno.readTextFile(input.token);"),
        "NotCapable",
        needs("read", env.token),
      ),
  },
  {
    name: "listing a folder outside the bundle",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(
          `const names = []; for await (const e of Deno.readDir(input.root)) names.push(e.name);
          return names;`,
        ),
        "NotCapable",
        needs("read", env.root),
      ),
  },
  {
    name: "a KV database on a path outside the bundle",
    mechanism: (tier) => tier === "worker" ? P(tier) : MECHANISM.noKv,
    run: async (env) =>
      assertKvRefused(
        env,
        await env.probe(`await Deno.openKv(input.root + "/kv.sqlite3");`),
        needs("read", `${env.root}/kv.sqlite3`),
      ),
  },
];

const SYSTEM: Attempt[] = [
  {
    name: "a fetch to a loopback server",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(`return await (await fetch("http://127.0.0.1:" + input.port)).text();`),
        "NotCapable",
        needs("net", `127.0.0.1:${env.port}`),
      ),
  },
  {
    name: "a raw TCP connection to a loopback server",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(`await Deno.connect({ hostname: "127.0.0.1", port: input.port });`),
        "NotCapable",
        needs("net", `127.0.0.1:${env.port}`),
      ),
  },
  {
    name: "a node:net connection to a loopback server",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(
          `return await new Promise((resolve, reject) => {
            const socket = net.connect(input.port, "127.0.0.1");
            socket.on("error", reject);
            socket.on("connect", () => resolve("connected"));
          });`,
          { prelude: `import net from "node:net";` },
        ),
        "NotCapable",
        needs("net", `127.0.0.1:${env.port}`),
      ),
  },
  {
    name: "listening on a port",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(`Deno.listen({ hostname: "127.0.0.1", port: 0 });`),
        "NotCapable",
        needs("net", "127.0.0.1:0"),
      ),
  },
  {
    name: "reading a secret environment variable",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe("return Deno.env.get(input.envName);"),
        "NotCapable",
        needs("env", env.envName),
      ),
  },
  {
    name: "reading the environment through node:process",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe("return process.env[input.envName];", {
          prelude: `import process from "node:process";`,
        }),
        "NotCapable",
        needs("env", env.envName),
      ),
  },
  {
    name: "dumping the whole environment",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe("return JSON.stringify(Deno.env.toObject());"),
        "NotCapable",
        "Requires env access",
      ),
  },
  {
    name: "running a subprocess",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(
          // An absolute path: an attacker need not rely on PATH, and neither does the refusal.
          `return String((await new Deno.Command("/bin/sh", { args: ["-c", "id"] }).output()).code);`,
        ),
        "NotCapable",
        needs("run", "/bin/sh"),
      ),
  },
  {
    name: "loading a native library through FFI",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(
          `Deno.dlopen("libc.so.6", { getpid: { parameters: [], result: "i32" } });`,
        ),
        "NotCapable",
        needs("ffi", "libc.so.6"),
      ),
  },
  {
    name: "reading the host name",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe("return Deno.hostname();"),
        "NotCapable",
        needs("sys", "hostname"),
      ),
  },
  {
    name: "reading the OS release",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe("return Deno.osRelease();"),
        "NotCapable",
        needs("sys", "osRelease"),
      ),
  },
];

const SHARED_STATE: Attempt[] = [
  {
    name: "the default KV database, stored outside the bundle",
    mechanism: (tier) => tier === "worker" ? MECHANISM.guard : MECHANISM.noKv,
    run: async (env) =>
      assertKvRefused(
        env,
        await env.probe(`const kv = await Deno.openKv(); await kv.set(["x"], 1); kv.close();`),
        "Deno.openKv() without a path is refused in a bundle",
      ),
  },
  {
    name: "the Cache API, written to the Deno dir and shared by every bundle",
    mechanism: MECHANISM.guard,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(`await (await caches.open("x")).put("http://x/", new Response("x"));`),
        "ReferenceError",
        "caches is not defined",
      ),
  },
  {
    name: "a BroadcastChannel to other bundles",
    mechanism: MECHANISM.guard,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(`new BroadcastChannel("bundles").postMessage("hello");`),
        "ReferenceError",
        "BroadcastChannel is not defined",
      ),
  },
  {
    name: "a Web Lock shared with other bundles",
    mechanism: MECHANISM.guard,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(`return await navigator.locks.request("bundles", () => "held");`),
        "TypeError",
        "request",
      ),
  },
  {
    name: "changing the engine's working directory",
    mechanism: MECHANISM.guard,
    async run(env) {
      const before = Deno.cwd();
      const result = await env.probe("Deno.chdir(input.root);", { permissions: { read: ["."] } });
      assert.equal(Deno.cwd(), before);
      return assertRefused(env, result, "NotCapable", "Deno.chdir() is refused in a bundle");
    },
  },
  {
    name: "holding the engine's SIGTERM through node:process",
    mechanism: MECHANISM.guard,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(`process.on("SIGTERM", () => {});`, {
          prelude: `import process from "node:process";`,
        }),
        "NotCapable",
        "Deno.addSignalListener() is refused in a bundle",
      ),
  },
  {
    name: "the Cache API from a nested worker",
    mechanism: MECHANISM.guard,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(
          nested(
            `await (await caches.open("x")).put("http://x/", new Response("x"));`,
            env.tier === "worker"
              ? `{ type: "module", deno: { permissions: "inherit" } }`
              : `{ type: "module" }`,
          ),
        ),
        "ReferenceError",
        "caches is not defined",
      ),
  },
  {
    name: "reading engine files found through leaked paths (Deno.execPath, Deno.cwd)",
    mechanism: P,
    async run(env) {
      const result = await env.probe(`const leaks = [Deno.execPath(), Deno.cwd() + "/deno.json"];
        return leaks.map((path) => { try { Deno.readFileSync(path); return "read " + path; }
          catch (e) { return e.name + ": " + e.message; } });`);
      assert.ok(result.ok, Deno.inspect(result));
      const outcomes = result.value as string[];
      assert.equal(outcomes.length, 2);
      for (const outcome of outcomes) assert.match(outcome, /^NotCapable: Requires read access/);
      return "the paths leak (info only); reading them is refused";
    },
  },
];

const PERMISSIONS_API: Attempt[] = [
  {
    name: "Deno.permissions.request without a prompt",
    mechanism: MECHANISM.noPrompt,
    async run(env) {
      // The engine's own command must never prompt: a prompt would ask the operator to grant it.
      const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
      assert.match(config.tasks.run, /^deno run .*--no-prompt /);
      return assertRefused(
        env,
        await env.probe(
          `const { state } = await Deno.permissions.request({ name: "read", path: input.secret });
          if (state !== "denied") return "request answered " + state;
          return Deno.readTextFileSync(input.secret);`,
        ),
        "NotCapable",
        needs("read", env.secret),
      );
    },
  },
  {
    name: "Deno.permissions.revoke then query to regain access",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(`await Deno.permissions.revoke({ name: "read", path: input.secret });
          const { state } = await Deno.permissions.query({ name: "read", path: input.secret });
          if (state === "granted") return "query answered " + state;
          return Deno.readTextFileSync(input.secret);`),
        "NotCapable",
        needs("read", env.secret),
      ),
  },
  {
    name: "a nested worker asking for more permissions than its parent",
    mechanism: (tier) => tier === "worker" ? MECHANISM.nested : MECHANISM.noWorkerOptions,
    async run(env) {
      const body = nested("return 1;", `{ type: "module", deno: { permissions: { read: true } } }`);
      if (env.tier === "process") {
        // The child runs without --unstable-worker-options: Deno ends it rather than comply.
        return (await rejects(() => env.probe(body), InstanceLostError, "exit code 70")).message;
      }
      return assertRefused(
        env,
        await env.probe(body),
        "NotCapable",
        "Can't escalate parent thread permissions",
      );
    },
  },
  {
    name: "a nested worker inheriting its parent's permissions to read a secret",
    mechanism: MECHANISM.nested,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(
          nested(
            "return Deno.readTextFileSync(input.secret);",
            env.tier === "worker"
              ? `{ type: "module", deno: { permissions: "inherit" } }`
              : `{ type: "module" }`,
          ),
        ),
        "NotCapable",
        needs("read", env.secret),
      ),
  },
  {
    name: "a nested worker whose entry module is outside the bundle",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(
          `const w = new Worker("file://" + input.root + "/outside.js", { type: "module" });
          const reply = await new Promise((resolve) => {
            w.onmessage = () => resolve("the outside module ran");
            w.onerror = (e) => { e.preventDefault(); resolve(e); };
          });
          w.terminate();
          if (typeof reply === "string") return reply;
          throw Object.assign(new Error(reply.message), { name: "ErrorEvent" });`,
        ),
        "ErrorEvent",
        needs("read", `${env.root}/outside.js`),
      ),
  },
];

const IMPORTS: Attempt[] = [
  {
    name: "a static import of a file outside the bundle",
    mechanism: MECHANISM.vetting,
    run: (env) =>
      refusedAtRelease(
        env,
        { "mod.ts": probeModule("return secret;", `import secret from "../../outside.js";`) },
        `it imports ${env.root}/outside.js, a file outside the bundle folder`,
      ),
  },
  {
    name: "a literal dynamic import of a file outside the bundle",
    mechanism: MECHANISM.vetting,
    run: (env) =>
      refusedAtRelease(
        env,
        { "mod.ts": probeModule(`return (await import("../../outside.js")).default;`) },
        `it imports ${env.root}/outside.js, a file outside the bundle folder`,
      ),
  },
  {
    name: "a non-literal dynamic import of a file outside the bundle",
    mechanism: P,
    run: async (env) =>
      assertRefused(
        env,
        await env.probe(
          `return (await import(["file:/", input.root, "outside.js"].join("/"))).default;`,
        ),
        "TypeError",
        needs("read", `${env.root}/outside.js`),
      ),
  },
  {
    name: "a text import of /etc/passwd",
    mechanism: MECHANISM.vetting,
    run: (env) =>
      refusedAtRelease(
        env,
        {
          "mod.ts": probeModule(
            "return passwd;",
            `import passwd from "/etc/passwd" with { type: "text" };`,
          ),
        },
        "it imports /etc/passwd, a file outside the bundle folder",
      ),
  },
  {
    name: "a bytes import of a secret outside the bundle",
    mechanism: MECHANISM.vetting,
    run: (env) =>
      refusedAtRelease(
        env,
        {
          "mod.ts": probeModule(
            "return bytes.length;",
            `import bytes from "${env.secret}" with { type: "bytes" };`,
          ),
        },
        // deno info refuses the unstable "bytes" type outright, naming the outside file.
        `Specifier: file://${env.secret}`,
      ),
  },
  {
    name: "a JSON import of a file outside the bundle",
    mechanism: MECHANISM.vetting,
    run: (env) =>
      refusedAtRelease(
        env,
        {
          "mod.ts": probeModule(
            "return data;",
            `import data from "../../secret.json" with { type: "json" };`,
          ),
        },
        `it imports ${env.root}/secret.json, a file outside the bundle folder`,
      ),
  },
  {
    name: "an outside file smuggled through a data: module",
    mechanism: MECHANISM.vetting,
    run: (env) =>
      refusedAtRelease(
        env,
        {
          "mod.ts": probeModule(
            "return leaked;",
            `import leaked from "data:text/javascript,import s from 'file://${env.secret}' with {type:'text'}; export default s;";`,
          ),
        },
        `it imports ${env.secret}, a file outside the bundle folder`,
      ),
  },
  {
    name: "an outside import added after vetting (the second layer)",
    mechanism: P,
    async run(env) {
      // A grant keeps it loading from its files: a bundle with none runs its vetted source in the
      // worker tier (escape_handout_test.ts covers that case).
      const late = manifest("late", {
        services: { Probe: "1.0.0" },
        permissions: { read: ["./data"] },
      });
      const dir = await env.bundle(late, {
        "mod.ts": probeModule("return 1;"),
        "data/x.txt": "x",
      });
      await env.engine.runtime.install(dir);
      await Deno.writeTextFile(
        `${dir}/mod.ts`,
        probeModule("return secret;", `import secret from "../../outside.js";`),
      );
      const error = await rejects(
        () => env.engine.runtime.start("late"),
        Error,
        needs("read", `${env.root}/outside.js`),
      );
      assert.equal(env.engine.bundle("late").state, "RESOLVED");
      return error.message;
    },
  },
  {
    name: "an npm import the manifest does not declare",
    mechanism: MECHANISM.vetting,
    run: (env) =>
      refusedAtRelease(
        env,
        {
          "mod.ts": probeModule(
            `return semver.valid("1.0.0");`,
            `import semver from "npm:semver@7.8.6";`,
          ),
        },
        `npm package semver@7.8.6, which the manifest's "imports" does not declare`,
      ),
  },
  {
    name: "an https import the manifest does not declare",
    mechanism: MECHANISM.vetting,
    run: (env) =>
      refusedAtRelease(
        env,
        {
          "mod.ts": probeModule(
            "return remote;",
            `import remote from "https://example.invalid/mod.js";`,
          ),
        },
        "example.invalid",
      ),
  },
];

const MANIFEST: Attempt[] = [
  {
    name: 'a bundle id "../x"',
    mechanism: MECHANISM.manifest,
    run: (env) => refusedManifest(env, { id: "../x" }, "id", 'field "id" must match'),
  },
  {
    name: 'an entry "../../etc/x.ts"',
    mechanism: MECHANISM.manifest,
    run: (env) => refusedManifest(env, { entry: "../../etc/x.ts" }, "entry", 'field "entry"'),
  },
  {
    name: 'an absolute entry "/abs.ts"',
    mechanism: MECHANISM.manifest,
    run: (env) => refusedManifest(env, { entry: "/abs.ts" }, "entry", "must be a relative path"),
  },
  {
    name: 'a read permission "../"',
    mechanism: MECHANISM.manifest,
    run: (env) =>
      refusedManifest(
        env,
        { permissions: { read: ["../"] } },
        "permissions.read[0]",
        "escapes the bundle folder",
      ),
  },
  {
    name: 'a read permission "/etc"',
    mechanism: MECHANISM.manifest,
    run: (env) =>
      refusedManifest(
        env,
        { permissions: { read: ["/etc"] } },
        "permissions.read[0]",
        "must be relative",
      ),
  },
  {
    name: 'a write permission "$DATA/../.."',
    mechanism: MECHANISM.manifest,
    run: (env) =>
      refusedManifest(
        env,
        { permissions: { write: ["$DATA/../.."] } },
        "permissions.write[0]",
        "escapes the bundle's data folder",
      ),
  },
  {
    name: "a net permission beyond the ceiling",
    mechanism: MECHANISM.ceiling,
    run: (env) =>
      refusedManifest(
        env,
        { permissions: { net: ["127.0.0.1"] } },
        "permissions.net[0]",
        "permission ceiling",
      ),
  },
  {
    name: "an env permission beyond the ceiling",
    mechanism: MECHANISM.ceiling,
    run: (env) =>
      refusedManifest(
        env,
        { permissions: { env: [env.envName] } },
        "permissions.env[0]",
        "permission ceiling",
      ),
  },
  {
    name: "a run permission beyond the ceiling",
    mechanism: MECHANISM.ceiling,
    run: (env) =>
      refusedManifest(
        env,
        { permissions: { run: ["deno"] } },
        "permissions.run[0]",
        "permission ceiling",
      ),
  },
];

/** Every attempt, in the order the suite runs them. */
export const ATTEMPTS: readonly Attempt[] = [
  ...FILESYSTEM,
  ...SYSTEM,
  ...SHARED_STATE,
  ...PERMISSIONS_API,
  ...IMPORTS,
  ...MANIFEST,
  ...PROTOCOL_ATTEMPTS,
  ...REALM_ATTEMPTS,
];
