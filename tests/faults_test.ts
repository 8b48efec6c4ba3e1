/**
 * Fault handling with real Web Workers: a bundle that crashes, exits, closes its worker, loops or
 * floods the engine with garbage never takes the engine down; calls in flight fail with a clear
 * error, the instance is replaced, and status says what happened.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  CallTimeoutError,
  type Engine,
  type InstanceExitEvent,
  InstanceLostError,
  type LifecycleEvent,
  NotFoundError,
  type RevisionStatus,
  UnavailableError,
} from "../mod.ts";
import { Instance, type TransportFactory } from "../engine/sandbox/host/instance.ts";
import { workerTransport } from "../engine/sandbox/host/worker.ts";
import { noGrants, type ResolvedPermissions } from "../engine/manifest/permissions.ts";
import { pathToFileURL } from "node:url";
import { type Clock, systemClock } from "../engine/base/clock.ts";
import type { BusyReport } from "./fixtures/busy_engine.ts";
import { manifest, rejects, ROOT, testEngine, waitFor } from "./_helpers.ts";

/** A bundle that triggers one fault per kind, a short while after a call arrives. */
const FAULTY = `function revoked() {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}
const FAULTS = {
  timer() { throw new Error("boom in a timer"); },
  rejection() { Promise.reject(new RangeError("nobody catches this")); },
  close() { self.close(); },
  exit() { Deno.exit(3); },
  hostileThrow() { throw revoked(); },
  hostileRejection() { Promise.reject(revoked()); },
  noPreventDefault() {
    Event.prototype.preventDefault = () => {};
    ErrorEvent.prototype.preventDefault = () => {};
    throw new Error("thrown with preventDefault disabled");
  },
};
export default {
  services: {
    F: {
      whoami: (_input, ctx) => ctx.bundle.instanceId,
      fault(kind) {
        setTimeout(() => FAULTS[kind](), 20);
        return new Promise(() => {});
      },
    },
  },
};`;

/** Every exit event the engine dispatches, in order. */
function recordExits(engine: Engine): InstanceExitEvent[] {
  const exits: InstanceExitEvent[] = [];
  engine.events.on("instanceexit", (event) => exits.push(event));
  return exits;
}

function revision(engine: Engine, id: string): RevisionStatus {
  const status = engine.bundle(id).revisions[0];
  assert.ok(status, `bundle ${id} has a revision`);
  return status;
}

function readyIds(engine: Engine, id: string): string[] {
  return revision(engine, id).instances.filter((i) => i.state === "ready").map((i) => i.id);
}

interface FaultCase {
  /** Test name suffix. */
  title: string;
  /** Key in FAULTY's FAULTS table. */
  kind: string;
  /** Fragment the exit reason and the caller's error must contain. */
  reason: string;
}

const FAULT_CASES: FaultCase[] = [
  { title: "a timer throws", kind: "timer", reason: "uncaught exception: Error: boom in a timer" },
  {
    title: "a promise rejection goes unhandled",
    kind: "rejection",
    reason: "unhandled promise rejection: RangeError: nobody catches this",
  },
  { title: "the bundle calls self.close()", kind: "close", reason: "self.close() called" },
  { title: "the bundle calls Deno.exit(3)", kind: "exit", reason: "Deno.exit(3) called" },
  {
    // Deno cannot even format this error, so it reaches the engine as the worker's error event.
    title: "a timer throws a revoked proxy",
    kind: "hostileThrow",
    reason: "uncaught error in worker: Uncaught TypeError: Cannot perform 'getPrototypeOf'",
  },
  {
    title: "a promise rejects with a revoked proxy",
    kind: "hostileRejection",
    reason: "unhandled promise rejection: Error: The thrown value cannot be described",
  },
  {
    title: "the bundle disables preventDefault and throws",
    kind: "noPreventDefault",
    reason: "uncaught exception: Error: thrown with preventDefault disabled",
  },
];

for (const fault of FAULT_CASES) {
  Deno.test(`Engine fails calls in flight and replaces the instance when ${fault.title}`, async () => {
    await using t = await testEngine();
    const id = `fault-${fault.kind.toLowerCase()}`;
    await t.deploy(
      manifest(id, { services: { F: "1.0.0" }, scaling: { minWorkers: 1, maxWorkers: 1 } }),
      { "mod.ts": FAULTY },
    );
    await t.deploy(manifest("bystander", { services: { Echo: "1.0.0" } }), {
      "mod.ts": `export default { services: { Echo: { echo: (input) => input } } };`,
    });
    const bystander = readyIds(t.engine, "bystander");
    const exits = recordExits(t.engine);
    const before = await t.engine.call("F", "whoami", null);
    assert.deepEqual(readyIds(t.engine, id), [before]);

    // The call's own timeout is far away: only fault detection can end it.
    const error = await rejects(
      () => t.engine.call("F", "fault", fault.kind, { timeoutMs: 20_000 }),
      InstanceLostError,
      fault.reason,
    );
    assert.equal(error.code, "BUNDLE_CRASHED");
    assert.ok(error.message.includes(`${id}@1.0.0 instance ${before}`), error.message);

    const exit = exits.find((e) => e.instanceId === before);
    assert.ok(exit, "an instanceexit event names the lost instance");
    assert.equal(exit.bundle, id);
    assert.equal(exit.version, "1.0.0");
    assert.equal(exit.expected, false);
    assert.ok(exit.reason.includes(fault.reason), exit.reason);

    await waitFor(
      () => readyIds(t.engine, id).some((i) => i !== before),
      10_000,
      "a replacement instance",
    );
    const after = await t.engine.call("F", "whoami", null);
    assert.notEqual(after, before);
    assert.deepEqual(readyIds(t.engine, id), [after]);
    const status = revision(t.engine, id);
    assert.equal(status.state, "ACTIVE");
    assert.equal(status.restarts, 1);
    assert.ok(status.lastExitReason?.includes(fault.reason), status.lastExitReason);
    assert.equal(status.leakedWorkers, 0);
    assert.deepEqual(exits.filter((e) => !e.expected).length, 1);

    // The engine and its other bundles carry on untouched.
    assert.equal(await t.engine.call("Echo", "echo", "still here"), "still here");
    assert.deepEqual(readyIds(t.engine, "bystander"), bystander);
    assert.equal(revision(t.engine, "bystander").restarts, 0);
  });
}

Deno.test("Worker runtime wraps the only close() a bundle can reach", async () => {
  // Re-checks a platform fact: Deno 2.9 defines close() on the worker's global object itself, not on
  // DedicatedWorkerGlobalScope.prototype, so the runtime's reporting wrapper replaces the only
  // reference. A silent end is still possible in principle (see the heartbeat tests).
  await using t = await testEngine();
  await t.deploy(manifest("noclose", { services: { F: "1.0.0" } }), {
    "mod.ts": `export default { services: { F: { probe: () => ({
      prototype: typeof DedicatedWorkerGlobalScope.prototype.close,
      base: typeof WorkerGlobalScope.prototype.close,
      own: typeof Object.getOwnPropertyDescriptor(self, "close")?.value,
    }) } } };`,
  });
  assert.deepEqual(await t.engine.call("F", "probe", null), {
    prototype: "undefined",
    base: "undefined",
    own: "function",
  });
});

Deno.test("Instance evicts a worker that ended without a word once heartbeats go unanswered", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-silent-" });
  try {
    const entry = `${dir}/mod.ts`;
    await Deno.writeTextFile(
      entry,
      `export default { services: { S: { hang: () => new Promise(() => {}) } } };`,
    );
    const grants: ResolvedPermissions = { ...noGrants(), read: [entry] };
    // Ends the worker behind the instance's back, like a close() the runtime never saw.
    let endSilently = () => {};
    const factory: TransportFactory = (sink) => {
      const transport = workerTransport({ name: "silent", permissions: grants })(sink);
      endSilently = () => transport.kill();
      return transport;
    };
    const exits: string[] = [];
    const instance = new Instance(factory, {
      tier: "worker",
      bundle: { id: "silent", version: "1.0.0", instanceId: "silent-1", dataDir: dir },
      entry: pathToFileURL(entry).href,
      heartbeatMs: 50,
      unresponsiveMs: 300,
      onExit: (reason) => exits.push(reason),
    });
    await instance.start(Date.now() + 20_000);
    instance.startHeartbeat();
    const call = instance.call({
      service: "S",
      method: "hang",
      input: null,
      deadline: Date.now() + 60_000,
      hops: 0,
    });
    const lost = rejects(() => call, InstanceLostError, "no heartbeat reply for 300 ms");
    endSilently();
    const error = await lost;
    assert.ok(error.message.includes("silent@1.0.0 instance silent-1"), error.message);
    assert.deepEqual(exits, ["unresponsive: no heartbeat reply for 300 ms"]);
    assert.equal(instance.state, "dead");
    assert.equal(instance.unresponsive, true);
    await rejects(
      () =>
        instance.call({
          service: "S",
          method: "hang",
          input: null,
          deadline: Date.now() + 1_000,
          hops: 0,
        }),
      UnavailableError,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Instance treats an answer that arrives after the call's deadline as a timeout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-late-" });
  try {
    const entry = `${dir}/mod.ts`;
    await Deno.writeTextFile(
      entry,
      `export default { services: { S: { now: () => "on time" } } };`,
    );
    const grants: ResolvedPermissions = { ...noGrants(), read: [entry] };
    // The engine's clock jumps past the deadline after the call is sent and before the answer is
    // read, as when the engine's thread is held up: the deadline timer has not run yet.
    let skew = 0;
    const clock: Clock = { ...systemClock, now: () => Date.now() + skew };
    const instance = new Instance(workerTransport({ name: "late", permissions: grants }), {
      tier: "worker",
      bundle: { id: "late", version: "1.0.0", instanceId: "late-1", dataDir: dir },
      entry: pathToFileURL(entry).href,
      clock,
    });
    try {
      await instance.start(Date.now() + 20_000);
      const call = (deadline: number) =>
        instance.call({ service: "S", method: "now", input: null, deadline, hops: 0 });
      assert.equal(await call(Date.now() + 10_000), "on time");
      const late = call(Date.now() + 10_000);
      skew = 20_000;
      await rejects(() => late, CallTimeoutError, "Call S.now to late@1.0.0 timed out");
    } finally {
      instance.kill("test over");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Engine gives up on a crash loop and leaves the bundle RESOLVED with the error", async () => {
  await using t = await testEngine();
  const states: LifecycleEvent[] = [];
  t.engine.events.on("statechange", (e) => states.push(e));
  const exits = recordExits(t.engine);
  await t.deploy(manifest("crashloop", { services: { F: "1.0.0" } }), {
    "mod.ts": `export default {
      services: { F: { x: () => 1 } },
      hooks: { onStart() { setTimeout(() => Deno.exit(1), 30); } },
    };`,
  });
  await waitFor(
    () => t.engine.bundle("crashloop").state === "RESOLVED",
    20_000,
    "the crash loop to stop the bundle",
  );
  const status = revision(t.engine, "crashloop");
  assert.ok(status.error?.includes("crash loop"), status.error);
  assert.ok(status.error?.includes("Deno.exit(1) called"), status.error);
  assert.deepEqual(status.instances, []);
  const last = states.at(-1);
  assert.equal(last?.to, "RESOLVED");
  assert.ok(last?.error?.includes("crash loop"), last?.error);
  const crashes = exits.filter((e) => !e.expected);
  // The pool's default crash limit: five unexpected exits within a minute.
  assert.equal(crashes.length, 5);
  assert.ok(status.error?.includes("5 instance failures"), status.error);
  assert.equal(status.restarts, crashes.length);

  // Not restarted again: the next backoff would have been well within this window.
  const seen = exits.length;
  await new Promise((r) => setTimeout(r, 2_500));
  assert.equal(exits.length, seen, "no instance exits after the crash loop was declared");
  assert.equal(t.engine.bundle("crashloop").state, "RESOLVED");
  await rejects(() => t.engine.call("F", "x", null), NotFoundError);
});

/** A bundle whose starts `fails(n)` (1-based, counted in its data folder) throw in `onStart`. */
function flakyBundle(fails: string): Record<string, string> {
  return {
    "mod.ts": `let start = 0;
      export default {
        services: {
          F: { whoami: (_input, ctx) => ({ id: ctx.bundle.instanceId, start }), die: () => Deno.exit(1) },
        },
        hooks: {
          onStart(ctx) {
            const file = ctx.bundle.dataDir + "/starts";
            let n = 0;
            try { n = Number(Deno.readTextFileSync(file)); } catch { /* first start */ }
            start = n + 1;
            Deno.writeTextFileSync(file, String(start));
            if ((${fails})(start)) throw new Error("database not ready yet");
          },
        },
      };`,
  };
}

function flakyManifest(id: string): Record<string, unknown> {
  return manifest(id, {
    services: { F: "1.0.0" },
    permissions: { read: ["$DATA"], write: ["$DATA"] },
    scaling: { minWorkers: 1, maxWorkers: 1 },
  });
}

Deno.test("Engine retries a replacement whose own start fails until one comes up", async () => {
  await using t = await testEngine();
  // Start number 2 (the first replacement) fails; the pool must try again without waiting for a call.
  await t.deploy(flakyManifest("flaky"), flakyBundle("(n) => n === 2"));
  const exits = recordExits(t.engine);
  const first = (await t.engine.call("F", "whoami", null)) as { id: string; start: number };
  assert.equal(first.start, 1);
  await rejects(() => t.engine.call("F", "die", null), InstanceLostError, "Deno.exit(1)");
  await waitFor(
    () => readyIds(t.engine, "flaky").length === 1 && exits.length >= 2,
    10_000,
    "a replacement after a failed one",
  );
  assert.ok(exits[1]!.reason.includes("database not ready yet"), exits[1]!.reason);
  const [id] = readyIds(t.engine, "flaky");
  assert.deepEqual(await t.engine.call("F", "whoami", null), { id, start: 3 });
  assert.equal(revision(t.engine, "flaky").restarts, 2);
});

Deno.test("Engine declares a crash loop when every replacement fails to start", async () => {
  await using t = await testEngine();
  await t.deploy(flakyManifest("neverback"), flakyBundle("(n) => n >= 2"));
  const exits = recordExits(t.engine);
  await rejects(() => t.engine.call("F", "die", null), InstanceLostError, "Deno.exit(1)");
  // No call arrives meanwhile: the pool itself keeps trying, then gives up.
  await waitFor(
    () => t.engine.bundle("neverback").state === "RESOLVED",
    20_000,
    "the crash loop to stop the bundle",
  );
  const status = revision(t.engine, "neverback");
  assert.ok(status.error?.includes("crash loop"), status.error);
  assert.ok(status.error?.includes("database not ready yet"), status.error);
  assert.equal(exits.filter((e) => !e.expected).length, 5);
});

Deno.test("Engine replaces every instance when several die at once", async () => {
  await using t = await testEngine();
  await t.deploy(
    manifest("pair", { services: { F: "1.0.0" }, scaling: { minWorkers: 2, maxWorkers: 2 } }),
    { "mod.ts": FAULTY },
  );
  const before = readyIds(t.engine, "pair");
  assert.equal(before.length, 2);
  // One fatal call per instance: the second is sent once the first is in flight, so least-loaded
  // routing picks the other instance. Both die within one replacement backoff.
  const inflight = () => revision(t.engine, "pair").instances.map((i) => i.inflight);
  let settled = false;
  const fatal = () =>
    rejects(
      () => t.engine.call("F", "fault", "exit", { timeoutMs: 20_000 }),
      InstanceLostError,
      "Deno.exit(3)",
    );
  const first = fatal().finally(() => settled = true);
  await waitFor(() => settled || inflight().includes(1), 5_000, "the first call in flight");
  await Promise.all([first, fatal()]);
  await waitFor(
    () => readyIds(t.engine, "pair").filter((i) => !before.includes(i)).length === 2,
    10_000,
    "two replacements",
  );
  assert.equal(revision(t.engine, "pair").restarts, 2);
});

const SLOW = `const seen = [];
export default {
  services: {
    S: {
      async slow(input, ctx) {
        const aborted = new Promise((resolve) =>
          ctx.signal.addEventListener("abort", () => resolve(ctx.signal.reason?.name), { once: true })
        );
        const reason = await Promise.race([
          aborted,
          new Promise((r) => setTimeout(() => r("not aborted"), input.ms)),
        ]);
        seen.push({ tag: input.tag, reason, aborted: ctx.signal.aborted });
        return "finished";
      },
      seen: () => seen,
      whoami: (_input, ctx) => ctx.bundle.instanceId,
    },
  },
};`;

Deno.test("Engine.call fails with CallTimeoutError past EngineCallOptions.timeoutMs and the bundle sees ctx.signal abort", async () => {
  // A generous probe: the instance must survive the timeout to report what it saw.
  await using t = await testEngine({ probeMs: 2_000 });
  await t.deploy(manifest("slow", { services: { S: "1.0.0" } }), { "mod.ts": SLOW });
  const error = await rejects(
    () => t.engine.call("S", "slow", { tag: "a", ms: 5_000 }, { timeoutMs: 100 }),
    CallTimeoutError,
    "timed out",
  );
  assert.equal(error.code, "TIMEOUT");
  assert.ok(
    error.message.includes("S.slow") && error.message.includes("slow@1.0.0"),
    error.message,
  );
  await waitFor(async () => ((await t.engine.call("S", "seen", null)) as unknown[]).length > 0);
  const [seen] = (await t.engine.call("S", "seen", null)) as { tag: string; aborted: boolean }[];
  assert.equal(seen?.tag, "a");
  assert.equal(seen?.aborted, true);
});

Deno.test("Engine.call times out at the earlier of EngineCallOptions.timeoutMs and the manifest's governance.timeoutMs", async () => {
  // A generous probe: the instances must survive the timeouts to report what they saw.
  await using t = await testEngine({ probeMs: 2_000 });
  await t.deploy(
    manifest("govshort", { services: { S: "1.0.0" }, governance: { timeoutMs: 150 } }),
    { "mod.ts": SLOW },
  );
  await t.deploy(
    manifest("govlong", { services: { L: "1.0.0" }, governance: { timeoutMs: 10_000 } }),
    { "mod.ts": SLOW.replace("S: {", "L: {") },
  );
  // The manifest caps a caller that would wait longer.
  await rejects(
    () => t.engine.call("S", "slow", { tag: "capped", ms: 5_000 }, { timeoutMs: 10_000 }),
    CallTimeoutError,
    "S.slow to govshort@1.0.0 timed out",
  );
  // A caller may ask for less than the manifest allows.
  await rejects(
    () => t.engine.call("L", "slow", { tag: "caller", ms: 5_000 }, { timeoutMs: 100 }),
    CallTimeoutError,
    "L.slow to govlong@1.0.0 timed out",
  );
  // Within both limits the call finishes.
  assert.equal(await t.engine.call("L", "slow", { tag: "within", ms: 300 }), "finished");

  type Seen = { tag: string; aborted: boolean }[];
  await waitFor(async () => ((await t.engine.call("S", "seen", null)) as Seen).length > 0);
  const short = (await t.engine.call("S", "seen", null)) as Seen;
  assert.deepEqual(short.map((s) => [s.tag, s.aborted]), [["capped", true]]);
  const long = (await t.engine.call("L", "seen", null)) as Seen;
  assert.deepEqual(long.map((s) => [s.tag, s.aborted]), [["caller", true], ["within", false]]);
});

Deno.test("Engine keeps an instance that answers the liveness probe after a call timed out", async () => {
  const probeMs = 500;
  await using t = await testEngine({ probeMs });
  await t.deploy(
    manifest("asyncslow", { services: { S: "1.0.0" }, scaling: { minWorkers: 1, maxWorkers: 1 } }),
    { "mod.ts": SLOW },
  );
  const exits = recordExits(t.engine);
  const before = await t.engine.call("S", "whoami", null);
  await rejects(
    () => t.engine.call("S", "slow", { tag: "t", ms: 5_000 }, { timeoutMs: 100 }),
    CallTimeoutError,
  );
  // Past the probe's limit and several heartbeats: an unresponsive instance would be gone by now.
  await new Promise((r) => setTimeout(r, probeMs * 2));
  assert.equal(exits.length, 0);
  assert.equal(await t.engine.call("S", "whoami", null), before);
  const status = revision(t.engine, "asyncslow");
  assert.equal(status.restarts, 0);
  assert.equal(status.leakedWorkers, 0);
  assert.deepEqual(readyIds(t.engine, "asyncslow"), [before]);
});

Deno.test("Engine survives a bundle flooding it with malformed messages and kills it at 100", async () => {
  // The worker tier's raw channel is out of a bundle's reach (worker_main.ts); a process-tier
  // bundle can still write frames to fd 1 behind the runtime's back, so that is the attack.
  await using t = await testEngine({ isolation: "process" });
  await t.deploy(
    manifest("garbage", { services: { G: "1.0.0" }, scaling: { minWorkers: 1, maxWorkers: 1 } }),
    {
      // An array on the wire is a batch of messages (see engine/sandbox/wire/batcher.ts), so the
      // list holds only single malformed values: each counts once.
      "mod.ts": `import { serialize } from "node:v8";
      const raw = Object.getPrototypeOf(Deno.stdout); // the real stdout, under the runtime's wrapper
      const kind = (v) => v?.type === "log" ? 2 : ["pong", "fatal"].includes(v?.type) ? 1 : 3;
      const frame = (v) => {
        const payload = serialize(v);
        const bytes = new Uint8Array(8 + payload.byteLength);
        bytes.set([0xff, 0x42, 0x48, kind(v)]);
        new DataView(bytes.buffer).setUint32(4, payload.byteLength, true);
        bytes.set(payload, 8);
        return bytes;
      };
      const GARBAGE = [
        42, null, "reply", new Uint8Array(2), { type: "bogus" }, { type: "reply", id: -1, ok: true },
        { type: "reply", id: "1", ok: true }, { type: "log", level: "shout", message: "x" },
        { type: "log", level: "info", message: 7 }, { type: "pong", id: 1 }, { type: "fatal" },
        { type: "response", id: 1, response: { status: 99, headers: [], body: null } },
        { type: "ready", services: [], fetch: "yes", hooks: [] },
        { type: "broker-call", id: 1, service: 5, method: "m" },
      ];
      export default {
        services: {
          G: {
            spam(n) {
              for (let i = 0; i < n; i++) raw.writeSync(frame(GARBAGE[i % GARBAGE.length]));
              return n;
            },
            whoami: (_input, ctx) => ctx.bundle.instanceId,
          },
        },
      };`,
    },
  );
  const exits = recordExits(t.engine);
  const first = await t.engine.call("G", "whoami", null);
  assert.equal(await t.engine.call("G", "spam", 60), 60);
  assert.equal(await t.engine.call("G", "spam", 39), 39);
  assert.equal(await t.engine.call("G", "whoami", null), first, "99 violations are tolerated");
  assert.equal(exits.length, 0);

  await rejects(() => t.engine.call("G", "spam", 1), InstanceLostError, "100 malformed messages");
  assert.equal(exits.length, 1);
  assert.equal(exits[0]!.expected, false);
  await waitFor(() => readyIds(t.engine, "garbage").some((i) => i !== first));
  const second = await t.engine.call("G", "whoami", null);
  assert.notEqual(second, first);
  assert.equal(
    await t.engine.call("G", "spam", 10),
    10,
    "the replacement starts with a clean slate",
  );
  assert.ok(revision(t.engine, "garbage").lastExitReason?.includes("malformed"));
});

Deno.test({
  name:
    "Engine evicts, replaces and reports as leaked a worker stuck in a busy loop or a blocking wait (subprocess)",
  async fn() {
    // A stuck worker thread can never be stopped and keeps its process alive (docs/architecture.md, "Platform facts", hole 2):
    // the scenario runs in a child process that ends itself with Deno.exit(0).
    const tmp = await Deno.makeTempDir({ prefix: "bundlehost-busy-" });
    try {
      const child = new Deno.Command("deno", {
        args: [
          "run",
          `--config=${ROOT}/deno.json`,
          `--allow-read=${ROOT},${tmp}`,
          `--allow-write=${tmp}`,
          "--allow-run=deno",
          `${ROOT}/tests/fixtures/busy_engine.ts`,
          tmp,
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let killed = false;
      const guard = setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
      }, 60_000);
      const output = await child.output().finally(() => clearTimeout(guard));
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(killed, false, `the child had to be killed; stderr:\n${stderr}`);
      // Deno.exit(0) ends the process although two worker threads are still stuck.
      assert.equal(output.code, 0, `the child failed; stderr:\n${stderr}`);
      const report = JSON.parse(new TextDecoder().decode(output.stdout)) as BusyReport;

      // The busy loop: the call times out, the liveness probe fails, the instance is evicted.
      assert.equal(report.spin.error.name, "CallTimeoutError");
      assert.ok(report.spin.error.message.includes("B.spin"), report.spin.error.message);
      assert.deepEqual(report.spin.exits.map((e) => e.expected), [false]);
      assert.ok(
        report.spin.exits[0]!.reason.startsWith("unresponsive: no reply to a liveness probe"),
        report.spin.exits[0]!.reason,
      );
      assert.notEqual(report.spin.after, report.spin.before);

      // The blocking wait with a far deadline: only the heartbeat can notice.
      assert.equal(report.block.error.name, "InstanceLostError");
      assert.ok(
        report.block.error.message.includes("no heartbeat reply for 1000 ms"),
        report.block.error.message,
      );
      assert.deepEqual(report.block.exits.map((e) => e.expected), [false]);
      assert.notEqual(report.block.after, report.block.before);
      assert.notEqual(report.block.after, report.spin.before);

      assert.equal(report.status.state, "ACTIVE");
      assert.equal(report.status.restarts, 2);
      assert.equal(report.status.leakedWorkers, 2);
      assert.equal(report.engineLeakedWorkers, 2);
      assert.ok(report.status.lastExitReason?.includes("no heartbeat reply"));
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
