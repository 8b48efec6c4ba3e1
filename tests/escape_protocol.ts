/**
 * Escape attempts through the RPC path of the sandbox escape suite: hostile inputs and names sent
 * to a bundle, and hostile messages a bundle sends to the engine behind the runtime's back.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type InstanceExitEvent, type LogEvent, NotFoundError } from "../mod.ts";
import { MAX_LOG_MESSAGE } from "../engine/sandbox/wire/protocol.ts";
import { FRAME_WRITER } from "./_forge.ts";
import { manifest, rejects, waitFor } from "./_helpers.ts";
import { type Attempt, type EscapeEnv, MECHANISM } from "./escape_env.ts";

const TARGET = `export default { services: { Target: {
  inspect(input) {
    return {
      bundleRealm: ({}).polluted ?? null,
      ownKeys: Object.keys(input),
      plainPrototype: Object.getPrototypeOf(input) === Object.prototype,
    };
  },
  pollute() {
    Object.prototype.polluted = "yes";
    return JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}');
  },
  check() { return ({}).polluted ?? null; },
} } };`;

// Sends raw protocol messages to the engine behind the runtime's back: frames on fd 1 in a
// process (the format is public: magic, kind, u32 length, node:v8 payload). In a worker the raw
// postMessage is out of reach (worker_main.ts removes it), which `unreachable` counts.
const FORGER = `import v8 from "node:v8";
import fs from "node:fs";
${FRAME_WRITER}
const inWorker = typeof WorkerGlobalScope !== "undefined";
let unreachable = 0;
function post(message) {
  try { globalThis.postMessage(message); } catch { unreachable++; }
}
function sendRaw(bytes) { if (inWorker) post(bytes); else fs.writeSync(1, bytes); }
function send(message) {
  if (inWorker) return post(message);
  writeFrame(message);
}
export default { services: { Forger: {
  forge() {
    for (let id = 10_000; id < 10_020; id++) send({ type: "reply", id, ok: true, value: "forged" });
    send({ type: "response", id: 10_001, response: { status: 200, headers: [], body: null } });
    send({ type: "ready", services: { Evil: ["steal"] }, fetch: true, hooks: ["onStart"] });
    for (const junk of [null, 42, "text", { type: "nope" }, { type: "reply", id: -1, ok: true },
      { type: "log", level: "root", message: "x" }, { type: "broker-call" }]) send(junk);
    send({ type: "log", level: "info", message: "x".repeat(5_000_000) });
    return inWorker ? "real; postMessage unreachable " + unreachable + " times" : "real";
  },
  flood() {
    for (let i = 0; i < 150; i++) send({ type: "nope", i });
    sendRaw(new Uint8Array([0xff, 0x42, 0x48, 0x03, 0xff, 0xff, 0xff, 0xff]));
    return inWorker ? "postMessage unreachable " + unreachable + " times" : "flooded";
  },
  ping() { return "pong"; },
} } };`;

const VICTIM = `export default { services: { Victim: {
  async wait(ms) { await new Promise((r) => setTimeout(r, ms)); return "victim-real"; },
} } };`;

async function deployTarget(env: EscapeEnv, id = "target"): Promise<void> {
  await env.deploy(manifest(id, { services: { Target: "1.0.0" } }), { "mod.ts": TARGET });
}

function enginePolluted(): unknown {
  return ({} as Record<string, unknown>).polluted;
}

/** Attempts through RPC input, names and forged guest messages. */
export const PROTOCOL_ATTEMPTS: Attempt[] = [
  {
    name: "a __proto__ key in RPC input (JSON.parse payload)",
    mechanism: MECHANISM.clone,
    async run(env) {
      await deployTarget(env);
      const payload = JSON.parse('{"__proto__": {"polluted": "yes"}}');
      const seen = await env.engine.call("Target", "inspect", payload);
      assert.deepEqual(seen, { bundleRealm: null, ownKeys: ["__proto__"], plainPrototype: true });
      assert.equal(enginePolluted(), undefined);
      return "arrived as an own data property; neither realm polluted";
    },
  },
  {
    name: "a constructor.prototype key in RPC input",
    mechanism: MECHANISM.clone,
    async run(env) {
      await deployTarget(env);
      const payload = JSON.parse('{"constructor": {"prototype": {"polluted": "yes"}}}');
      const seen = await env.engine.call("Target", "inspect", payload);
      assert.deepEqual(seen, { bundleRealm: null, ownKeys: ["constructor"], plainPrototype: true });
      assert.equal(enginePolluted(), undefined);
      return "arrived as plain data; neither realm polluted";
    },
  },
  {
    name: "a polluted result from a bundle that poisoned its own realm",
    mechanism: MECHANISM.clone,
    async run(env) {
      await deployTarget(env);
      const result = await env.engine.call("Target", "pollute", null) as Record<string, unknown>;
      assert.equal(enginePolluted(), undefined);
      assert.equal(Object.getPrototypeOf(result), Object.prototype);
      assert.ok(Object.hasOwn(result, "__proto__"));
      return "the engine realm stays clean";
    },
  },
  {
    name: "pollution of another bundle's realm",
    mechanism: MECHANISM.isolate,
    async run(env) {
      await deployTarget(env, "poisoner");
      await env.engine.call("Target", "pollute", null, {
        route: { type: "ID", pattern: "poisoner" },
      });
      await deployTarget(env, "bystander");
      const route = { type: "ID", pattern: "bystander" } as const;
      assert.equal(await env.engine.call("Target", "check", null, { route }), null);
      return "the other bundle's Object.prototype is untouched";
    },
  },
  {
    name: "Object.prototype members called as service methods",
    mechanism: MECHANISM.methods,
    async run(env) {
      await deployTarget(env);
      const names = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];
      for (const method of [...names, "__defineGetter__", "__lookupGetter__", "isPrototypeOf"]) {
        await rejects(
          () => env.engine.call("Target", method, null),
          NotFoundError,
          "has no method",
        );
      }
      return "NotFoundError: Service Target has no method ...";
    },
  },
  {
    name: "Object.prototype members called as service names",
    mechanism: MECHANISM.routing,
    async run(env) {
      await deployTarget(env);
      for (const service of ["constructor", "toString", "hasOwnProperty", "valueOf"]) {
        await rejects(
          () => env.engine.call(service, "call", null),
          NotFoundError,
          `No active bundle provides service ${service}`,
        );
      }
      const error = await rejects(() => env.engine.call("__proto__", "x", null), TypeError);
      assert.match(error.message, /Invalid service name/);
      return "NotFoundError: No active bundle provides service constructor";
    },
  },
  {
    name: "forged replies, a fake ready, garbage types and a huge string from a bundle",
    mechanism: MECHANISM.protocol,
    async run(env) {
      const logs: string[] = [];
      env.engine.events.on("log", (e: LogEvent) => logs.push(e.message));
      await env.deploy(manifest("victim", { services: { Victim: "1.0.0" } }), { "mod.ts": VICTIM });
      await env.deploy(manifest("forger", { services: { Forger: "1.0.0" } }), { "mod.ts": FORGER });
      const victim = env.engine.call("Victim", "wait", 300);
      const forged = await env.engine.call("Forger", "forge", null);
      assert.equal(
        forged,
        env.tier === "worker" ? "real; postMessage unreachable 30 times" : "real",
      );
      assert.equal(await victim, "victim-real");
      await rejects(() => env.engine.call("Evil", "steal", null), NotFoundError);
      const services = env.engine.bundle("forger").revisions[0]!.services;
      assert.deepEqual(Object.keys(services), ["Forger"]);
      assert.equal(await env.engine.call("Forger", "ping", null), "pong");
      // The 5 MB log frame is refused from its header (over the log frame cap) and never decoded;
      // its payload then reads as stray output, which becomes bounded log lines.
      assert.ok(logs.every((m) => m.length <= MAX_LOG_MESSAGE + 1), "log records are bounded");
      return env.tier === "worker"
        ? forged as string
        : "ignored; the engine kept serving both bundles";
    },
  },
  {
    name: "a flood of malformed messages and a 4 GiB frame header",
    mechanism: MECHANISM.protocol,
    async run(env) {
      const exits: InstanceExitEvent[] = [];
      env.engine.events.on("instanceexit", (e: InstanceExitEvent) => exits.push(e));
      await env.deploy(manifest("victim", { services: { Victim: "1.0.0" } }), { "mod.ts": VICTIM });
      await env.deploy(manifest("forger", { services: { Forger: "1.0.0" } }), { "mod.ts": FORGER });
      const flooded = await env.engine.call("Forger", "flood", null).catch(() => "instance lost");
      if (env.tier === "worker") {
        assert.equal(flooded, "postMessage unreachable 151 times");
        assert.equal(exits.length, 0);
      }
      assert.equal(await env.engine.call("Victim", "wait", 1), "victim-real");
      await waitFor(
        () => env.engine.call("Forger", "ping", null).then((v) => v === "pong", () => false),
        10_000,
        "the forger to be served again",
      );
      return exits[0]?.reason ?? `${flooded}; the engine kept serving`;
    },
  },
];
