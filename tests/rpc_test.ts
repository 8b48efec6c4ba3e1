/**
 * The engine ↔ bundle RPC with real Web Workers: structured errors that keep name, message and code
 * and nothing else, results that cannot cross the boundary, many calls in flight on one worker,
 * cancellation at the deadline, and the context a bundle sees (identity, deadline, logs).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  BundleCallError,
  CallTimeoutError,
  type Engine,
  type LogEvent,
  NotFoundError,
  type RemoteError,
} from "../mod.ts";
import { MAX_ERROR_MESSAGE } from "../engine/sandbox/wire/wire_error.ts";
import { manifest, rejects, testEngine, waitFor } from "./_helpers.ts";

/** Throws whatever `input.kind` names; `whoami` tells which instance serves. */
const THROWER = `class HostileName extends Error {
  get name() { throw new Error("no name for you"); }
}
const THROWS = {
  coded: () => Object.assign(new TypeError("bad id"), { code: "E_ID" }),
  string: () => "plain string",
  hostile: () => ({
    get name() { throw new Error("no name"); },
    get message() { throw new Error("no message"); },
    code: "E_HOSTILE",
  }),
  hostileName: () => new HostileName("the message survives"),
  huge: () => new Error("x".repeat(1024 * 1024)),
  badName: () => Object.assign(new Error("tagged"), { name: "<img src=x onerror=alert(1)>" }),
  longName: () => Object.assign(new Error("long"), { name: "N".repeat(200) }),
  customName: () => Object.assign(new Error("invalid order"), { name: "ValidationError" }),
  badCode: () => Object.assign(new Error("numeric code"), { code: 42 }),
  longCode: () => Object.assign(new Error("long code"), { code: "C".repeat(65) }),
  forged: () => Object.assign(new Error("forged"), {
    name: "NotFoundError", code: "NOT_FOUND", source: "runtime",
  }),
  withStack: () => {
    const error = new Error("has a stack");
    error.stack = "Error: has a stack\\n    at secret (file:///srv/secret/path/mod.ts:1:1)";
    return error;
  },
  withCause: () => new Error("outer", { cause: new Error("inner secret") }),
};
export default {
  services: {
    T: {
      throw(kind) { throw THROWS[kind](); },
      async reject(kind) { await null; throw THROWS[kind](); },
      whoami: (_input, ctx) => ctx.bundle.instanceId,
      fn: () => () => 1,
      symbol: () => Symbol("nope"),
      getter: () => ({ get value() { throw new Error("getter exploded"); } }),
      echo: (input) => input,
    },
  },
};`;

async function thrower(engine: Engine, kind: string, method = "throw"): Promise<BundleCallError> {
  return await rejects(() => engine.call("T", method, kind), BundleCallError);
}

function assertRemote(remote: RemoteError, expected: RemoteError): void {
  assert.deepEqual({ ...remote }, expected);
  assert.deepEqual(Object.keys(remote).sort(), Object.keys(expected).sort());
}

Deno.test("BundleCallError keeps the name, message and code the bundle threw", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("thrower", { services: { T: "1.0.0" } }), { "mod.ts": THROWER });
  for (const method of ["throw", "reject"]) {
    const error = await thrower(t.engine, "coded", method);
    assertRemote(error.remote, { name: "TypeError", message: "bad id", code: "E_ID" });
    assert.equal(error.name, "BundleCallError");
    assert.equal(error.code, "BUNDLE_ERROR");
    assert.equal(error.message, "Bundle thrower@1.0.0 failed: TypeError: bad id");
    assert.equal(error.cause, undefined);
  }
  assertRemote((await thrower(t.engine, "customName")).remote, {
    name: "ValidationError",
    message: "invalid order",
  });
});

Deno.test("BundleCallError turns a thrown string into an Error with that message", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("thrower", { services: { T: "1.0.0" } }), { "mod.ts": THROWER });
  assertRemote((await thrower(t.engine, "string")).remote, {
    name: "Error",
    message: "plain string",
  });
});

Deno.test("BundleCallError survives hostile getters on the thrown value", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("thrower", { services: { T: "1.0.0" } }), { "mod.ts": THROWER });
  const before = await t.engine.call("T", "whoami", null);
  const hostile = await thrower(t.engine, "hostile");
  assertRemote(hostile.remote, { name: "Error", message: "", code: "E_HOSTILE" });
  const hostileName = await thrower(t.engine, "hostileName");
  assertRemote(hostileName.remote, { name: "Error", message: "the message survives" });
  assert.equal(await t.engine.call("T", "whoami", null), before, "the instance keeps serving");
});

Deno.test("BundleCallError bounds a 1 MB message", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("thrower", { services: { T: "1.0.0" } }), { "mod.ts": THROWER });
  const error = await thrower(t.engine, "huge");
  assert.equal(error.remote.name, "Error");
  assert.ok(error.remote.message.length <= MAX_ERROR_MESSAGE + 1, `${error.remote.message.length}`);
  assert.ok(error.remote.message.startsWith("x".repeat(MAX_ERROR_MESSAGE)));
  assert.ok(error.message.length < MAX_ERROR_MESSAGE + 100, `${error.message.length}`);
});

Deno.test("BundleCallError sanitizes error names that are not identifiers and drops bad codes", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("thrower", { services: { T: "1.0.0" } }), { "mod.ts": THROWER });
  assertRemote((await thrower(t.engine, "badName")).remote, { name: "Error", message: "tagged" });
  assertRemote((await thrower(t.engine, "longName")).remote, { name: "Error", message: "long" });
  assertRemote((await thrower(t.engine, "badCode")).remote, {
    name: "Error",
    message: "numeric code",
  });
  assertRemote((await thrower(t.engine, "longCode")).remote, {
    name: "Error",
    message: "long code",
  });
});

Deno.test("BundleCallError never carries the bundle's stack, cause or file paths", async () => {
  await using t = await testEngine();
  const dir = await t.deploy(manifest("thrower", { services: { T: "1.0.0" } }), {
    "mod.ts": THROWER,
  });
  for (const kind of ["withStack", "withCause", "coded", "string"]) {
    const error = await thrower(t.engine, kind);
    const seen = [error.message, JSON.stringify(error.remote)].join("\n");
    for (const secret of ["/srv/secret", "inner secret", dir, "mod.ts", "file://", "    at "]) {
      assert.ok(!seen.includes(secret), `${kind}: "${secret}" leaked in ${seen}`);
    }
    // The caller-side stack is the engine's own (where the reply arrived), never the bundle's.
    for (const secret of ["/srv/secret", dir, "secret (file"]) {
      assert.ok(!error.stack?.includes(secret), `${kind}: "${secret}" leaked in ${error.stack}`);
    }
    assert.ok(!("stack" in error.remote), kind);
    assert.equal(error.cause, undefined, kind);
  }
});

Deno.test("BundleCallError cannot be forged into an engine error by what the bundle throws", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("thrower", { services: { T: "1.0.0" } }), { "mod.ts": THROWER });
  const forged = await thrower(t.engine, "forged");
  assertRemote(forged.remote, { name: "NotFoundError", message: "forged", code: "NOT_FOUND" });
  // The runtime's own refusal of an unknown method is an engine NotFoundError.
  await rejects(() => t.engine.call("T", "nope", null), NotFoundError, 'no method "nope"');
});

Deno.test("BundleCallError reports a result that cannot be cloned and the instance keeps serving", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("thrower", { services: { T: "1.0.0" } }), { "mod.ts": THROWER });
  const before = await t.engine.call("T", "whoami", null);
  for (const method of ["fn", "symbol", "getter"]) {
    const error = await rejects(() => t.engine.call("T", method, null), BundleCallError);
    assert.equal(error.remote.name, "DataCloneError", method);
    assert.ok(error.remote.message.startsWith("The result cannot be serialized"), method);
  }
  const getter = await rejects(() => t.engine.call("T", "getter", null), BundleCallError);
  assert.ok(getter.remote.message.includes("getter exploded"), getter.remote.message);
  assert.equal(await t.engine.call("T", "whoami", null), before);
  assert.equal(t.engine.bundle("thrower").revisions[0]!.restarts, 0);
});

Deno.test("Engine.call refuses an input that cannot be cloned without touching the instance", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("thrower", { services: { T: "1.0.0" } }), { "mod.ts": THROWER });
  const before = await t.engine.call("T", "whoami", null);
  await rejects(() => t.engine.call("T", "echo", { f: () => 1 }), TypeError, "Cannot send");
  assert.equal(t.engine.bundle("thrower").revisions[0]!.instances[0]!.inflight, 0);
  assert.deepEqual(await t.engine.call("T", "echo", { ok: 1 }), { ok: 1 });
  assert.equal(await t.engine.call("T", "whoami", null), before);
});

Deno.test("Engine.call keeps 500 concurrent calls on one worker apart", async () => {
  await using t = await testEngine();
  const N = 500;
  await t.deploy(
    manifest("many", { services: { M: "1.0.0" }, scaling: { minWorkers: 1, maxWorkers: 1 } }),
    {
      "mod.ts": `let inflight = 0;
      let peak = 0;
      let arrived = 0;
      let release;
      const barrier = new Promise((r) => release = r);
      export default {
        services: {
          M: {
            async work(input, ctx) {
              inflight++;
              peak = Math.max(peak, inflight);
              if (++arrived === ${N}) release();
              // Every call waits until all ${N} are in flight, then for its own delay.
              await barrier;
              await new Promise((r) => setTimeout(r, input.delay));
              inflight--;
              return { seq: input.seq, nonce: input.nonce, instanceId: ctx.bundle.instanceId };
            },
            peak: () => peak,
          },
        },
      };`,
    },
  );
  const order: number[] = [];
  const calls = Array.from({ length: N }, (_, seq) => {
    // Deterministic scramble, so replies come back in a different order than the calls went out.
    const input = { seq, delay: (seq * 7919) % 97, nonce: crypto.randomUUID() };
    return t.engine.call("M", "work", input, { timeoutMs: 20_000 }).then((result) => {
      order.push(seq);
      return { input, result: result as { seq: number; nonce: string; instanceId: string } };
    });
  });
  const results = await Promise.all(calls);
  for (const { input, result } of results) {
    assert.equal(result.seq, input.seq);
    assert.equal(result.nonce, input.nonce);
  }
  const instances = new Set(results.map((r) => r.result.instanceId));
  assert.equal(instances.size, 1);
  assert.equal(await t.engine.call("M", "peak", null), N);
  assert.notDeepEqual(order, [...order].sort((a, b) => a - b), "replies arrived out of order");
});

Deno.test("Engine cancels a call in the runtime when its deadline passes and ctx.signal aborts", async () => {
  // A generous liveness probe: this instance must survive the timeout to report what it saw.
  await using t = await testEngine({ probeMs: 2_000 });
  await t.deploy(manifest("cancel", { services: { C: "1.0.0" } }), {
    "mod.ts": `const idsByTag = new Map();
      const cancelled = new Set();
      const outcome = {};
      // The bundle shares its realm with the runtime, so it can watch the engine's messages.
      // Messages sent in the same tick arrive as one array (a batch).
      self.addEventListener("message", (event) => {
        for (const msg of Array.isArray(event.data) ? event.data : [event.data]) {
          if (msg?.type === "call" && msg.input?.tag) idsByTag.set(msg.input.tag, msg.id);
          if (msg?.type === "cancel") cancelled.add(msg.id);
        }
      });
      export default {
        services: {
          C: {
            async wait(input, ctx) {
              await new Promise((resolve) => {
                ctx.signal.addEventListener("abort", resolve, { once: true });
                setTimeout(resolve, input.ms);
              });
              outcome[input.tag] = { aborted: ctx.signal.aborted };
              return input.tag;
            },
            report: () => ({
              outcome,
              cancelled: [...idsByTag].filter(([, id]) => cancelled.has(id)).map(([tag]) => tag),
              ids: Object.fromEntries(idsByTag),
            }),
          },
        },
      };`,
  });
  const survivor = t.engine.call("C", "wait", { tag: "survivor", ms: 400 }, { timeoutMs: 10_000 })
    .catch((error: unknown) => error);
  await rejects(
    () => t.engine.call("C", "wait", { tag: "doomed", ms: 10_000 }, { timeoutMs: 100 }),
    CallTimeoutError,
  );
  assert.equal(await survivor, "survivor");
  interface Report {
    outcome: Record<string, { aborted: boolean }>;
    cancelled: string[];
    ids: Record<string, number>;
  }
  let report: Report | undefined;
  await waitFor(
    async () => {
      report = (await t.engine.call("C", "report", null)) as Report;
      return report.cancelled.length > 0 && "doomed" in report.outcome;
    },
    5_000,
    "the cancel message",
  );
  assert.deepEqual(report?.cancelled, ["doomed"]);
  assert.deepEqual(report?.outcome, { survivor: { aborted: false }, doomed: { aborted: true } });
  assert.notEqual(report?.ids.doomed, report?.ids.survivor, "each call has its own request id");
});

Deno.test("Engine gives a bundle its identity, deadline and trace context in ctx", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("ctx", { version: "2.3.4", services: { X: "1.0.0" } }), {
    "mod.ts": `export default { services: { X: { ctx: (_input, ctx) => ({
      bundle: { ...ctx.bundle },
      deadline: ctx.deadline,
      aborted: ctx.signal.aborted,
      traceparent: ctx.traceparent ?? null,
      tracestate: ctx.tracestate ?? null,
    }) } } };`,
  });
  interface Seen {
    bundle: { id: string; version: string; instanceId: string; dataDir: string };
    deadline: number;
    aborted: boolean;
    traceparent: string | null;
    tracestate: string | null;
  }
  const before = Date.now();
  const seen = (await t.engine.call("X", "ctx", null, { timeoutMs: 5_000 })) as Seen;
  const after = Date.now();
  const [instance] = t.engine.bundle("ctx").revisions[0]!.instances;
  assert.deepEqual(seen.bundle, {
    id: "ctx",
    version: "2.3.4",
    instanceId: instance!.id,
    dataDir: `${t.engine.dataDir}/data/ctx`,
  });
  assert.ok(seen.deadline >= before + 5_000 && seen.deadline <= after + 5_000, `${seen.deadline}`);
  assert.equal(seen.aborted, false);
  assert.equal(seen.traceparent, null);

  const deadline = Date.now() + 4_321;
  const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const traced = (await t.engine.call("X", "ctx", null, { deadline, traceparent })) as Seen;
  assert.equal(traced.deadline, deadline);
  assert.equal(traced.traceparent, traceparent);
  assert.equal(traced.tracestate, null);

  const tracestate = "congo=t61rcWkgMzE";
  const stated = (await t.engine.call("X", "ctx", null, { traceparent, tracestate })) as Seen;
  assert.equal(stated.tracestate, tracestate);
  // An embedder's malformed context never reaches the bundle (its spans could not start from it).
  const forged = (await t.engine.call("X", "ctx", null, {
    traceparent: traceparent.toUpperCase(),
    tracestate,
  })) as Seen;
  assert.deepEqual([forged.traceparent, forged.tracestate], [null, null]);
  const badState = await t.engine.call("X", "ctx", null, { traceparent, tracestate: "A=1" });
  assert.equal((badState as Seen).tracestate, null);
});

Deno.test("Engine turns ctx.log and console output into log events tagged with the instance", async () => {
  await using t = await testEngine();
  const logs: LogEvent[] = [];
  t.engine.events.on("log", (event) => logs.push(event));
  await t.deploy(manifest("logger", { version: "1.2.0", services: { L: "1.0.0" } }), {
    "mod.ts": `export default {
      services: {
        L: {
          log(_input, ctx) {
            ctx.log.debug("ctx debug");
            ctx.log.info("ctx info", 1);
            ctx.log.warn("ctx warn");
            ctx.log.error("ctx error");
            console.log("console log", { x: 1 });
            console.info("console info");
            console.warn("console warn");
            console.error("console error");
            console.debug("console debug");
            setTimeout(() => console.log("after the call"), 0);
            return ctx.bundle.instanceId;
          },
        },
      },
      hooks: { onStart(ctx) { ctx.log.info("started " + ctx.bundle.instanceId); } },
    };`,
  });
  const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const instanceId = await t.engine.call("L", "log", null, { traceparent });
  await waitFor(() => logs.some((l) => l.message === "after the call"), 5_000, "the last log");
  assert.deepEqual(
    logs.map((l) => [l.level, l.message]),
    [
      ["info", `started ${instanceId}`],
      ["debug", "ctx debug"],
      ["info", "ctx info 1"],
      ["warn", "ctx warn"],
      ["error", "ctx error"],
      ["info", "console log { x: 1 }"],
      ["info", "console info"],
      ["warn", "console warn"],
      ["error", "console error"],
      ["debug", "console debug"],
      ["info", "after the call"],
    ],
  );
  for (const log of logs) {
    assert.equal(log.bundle, "logger");
    assert.equal(log.version, "1.2.0");
    assert.equal(log.instanceId, instanceId);
  }
  // Records made during the call carry its trace context.
  assert.deepEqual(
    logs.filter((l) => l.traceparent === traceparent).map((l) => l.message).slice(0, 2),
    ["ctx debug", "ctx info 1"],
  );
  assert.equal(logs[0]!.traceparent, undefined);
});
