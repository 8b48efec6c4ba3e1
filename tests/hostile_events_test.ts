/**
 * Hostile input, storage growth and loops (issue 12 items 4 and 5), against the real engine in a
 * child process while a probe times `/healthz`, a victim call and the admin API: an anonymous
 * publish flood, a full event store, a subscriber that republishes every delivery to its own topic
 * from a timer, and a bundle whose `onStart` timer fans out calls and publishes. Bundles attack in
 * both isolation tiers.
 *
 * @module
 */
import assert from "node:assert/strict";
import { writeBundle } from "./_helpers.ts";
import { TEST_TOKEN } from "./_server.ts";
import {
  assertHeld,
  type BundleSpec,
  folderBytes,
  type HostileEngine,
  hostileEngine,
  probe,
} from "./_hostile.ts";

const TIERS = ["worker", "process"] as const;
const MiB = 1024 * 1024;

/** A subscriber of `topic` whose handler always fails: its deliveries stay in the store. */
function failingSink(topic: string): BundleSpec {
  return {
    manifest: {
      id: "sink",
      version: "1.0.0",
      entry: "./mod.ts",
      services: { SinkService: "1.0.0" },
      subscribe: { [topic]: { handler: "SinkService.handle", maxAttempts: 20 } },
      scaling: { minWorkers: 1, maxWorkers: 1 },
    },
    files: {
      "mod.ts": `export default {
  services: { SinkService: { handle() { throw new Error("sink refuses every event"); } } },
};`,
    },
  };
}

async function adminJson<T>(engine: HostileEngine, path: string): Promise<T> {
  const response = await fetch(`${engine.url}${path}`, {
    headers: { authorization: `Bearer ${TEST_TOKEN}` },
  });
  assert.equal(response.status, 200, path);
  return await response.json() as T;
}

interface Stats {
  storeBytes: number;
  maxStoreBytes: number;
  throttled: number;
  storeFull: number;
  hopLimited: number;
  detachedThrottled: number;
  pending: number;
}

/** Releases a new bundle through the admin API and checks it was acknowledged and serves. */
async function releaseDuring(engine: HostileEngine, name: string): Promise<void> {
  const id = name.toLowerCase();
  const dir = await writeBundle(`${engine.root}/later`, {
    id,
    version: "1.0.0",
    entry: "./mod.ts",
    services: { [`${name}Service`]: "1.0.0" },
  }, { "mod.ts": `export default { services: { ${name}Service: { hi: () => "hi" } } };` });
  const response = await fetch(`${engine.url}/admin/releases`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ path: dir }),
  });
  assert.equal(response.status, 201, await response.text());
  const call = await fetch(`${engine.url}/rpc/${name}Service/hi`, { method: "POST", body: "{}" });
  assert.deepEqual(await call.json(), { result: "hi" });
}

/** Bytes of the event store's database files. */
async function eventStoreFileBytes(dataDir: string): Promise<number> {
  let total = 0;
  for (const suffix of ["", "-wal", "-shm"]) {
    total += await Deno.stat(`${dataDir}/events.sqlite3${suffix}`).then((s) => s.size, () => 0);
  }
  return total;
}

Deno.test("Hostile: an anonymous publish flood gets 429s, the store stays bounded and a release goes through", async () => {
  await using engine = await hostileEngine({
    bundles: [failingSink("flood")],
    args: ["--topic-rate", "10", "--event-store-mib", "4"],
  });
  const watch = probe(engine.url);
  const statuses = new Map<number, number>();
  const payload = JSON.stringify({ pad: "f".repeat(8 * 1024) });
  const started = Date.now();
  const until = started + 4_000;
  const flooder = async () => {
    for (let i = 0; i < 100_000 && Date.now() < until; i++) {
      const status = await fetch(`${engine.url}/events/flood`, { method: "POST", body: payload })
        .then(async (r) => (await r.body?.cancel(), r.status), () => 0); // 0: no answer at all
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  const flood = Promise.all(Array.from({ length: 6 }, flooder));
  await new Promise((r) => setTimeout(r, 1_500));
  const released = await releaseDuring(engine, "Later").then(() => "ok", (e) => String(e));
  await flood;
  assert.equal(released, "ok");
  const report = await watch.stop();
  assertHeld(report, engine);
  const seen = Object.fromEntries(statuses);
  for (const status of statuses.keys()) {
    assert.ok(
      [202, 429, 507].includes(status),
      `unexpected status ${status}: ${JSON.stringify(seen)}`,
    );
  }
  // A burst of 10, then 10 per second (whatever the machine's speed); the rest is refused.
  const seconds = (Date.now() - started) / 1000 + 1;
  assert.ok((statuses.get(202) ?? 0) <= 10 + 10 * seconds, `accepted: ${JSON.stringify(seen)}`);
  assert.ok((statuses.get(429) ?? 0) > 0, `refused: ${JSON.stringify(seen)}`);
  const stats = await adminJson<Stats>(engine, "/admin/events/stats");
  assert.ok(stats.throttled > 0);
  assert.ok(stats.storeBytes <= 4 * MiB, `${stats.storeBytes} bytes held`);
  const files = await eventStoreFileBytes(engine.dataDir);
  const folder = await folderBytes(engine.dataDir);
  console.log(
    `flood: ${JSON.stringify(seen)}; store ${(stats.storeBytes / MiB).toFixed(2)} MiB, files ${
      (files / MiB).toFixed(2)
    } MiB, data folder ${(folder / MiB).toFixed(2)} MiB; probe max ${JSON.stringify(report.maxMs)}`,
  );
  assert.ok(files < 32 * MiB, `event store files ${files} bytes`);
  assert.ok(folder < 64 * MiB, `data folder ${folder} bytes`);
});

Deno.test("Hostile: a full event store refuses publishes with 507 while releases still succeed", async () => {
  await using engine = await hostileEngine({
    bundles: [failingSink("fill")],
    args: ["--event-store-mib", "0.1"],
  });
  const watch = probe(engine.url);
  const payload = JSON.stringify({ pad: "x".repeat(16 * 1024) });
  const statuses: number[] = [];
  let refusal = "";
  for (let i = 0; i < 50 && !statuses.includes(507); i++) {
    const r = await fetch(`${engine.url}/events/fill`, { method: "POST", body: payload });
    statuses.push(r.status);
    const body = await r.json() as { error?: { message: string } };
    if (r.status === 507) refusal = body.error!.message;
  }
  assert.equal(statuses.at(-1), 507, `statuses ${statuses}`);
  assert.match(refusal, /budget \(events\.maxStoreBytes\)/);
  await releaseDuring(engine, "Full");
  const again = await fetch(`${engine.url}/events/fill`, { method: "POST", body: payload });
  assert.equal(again.status, 507);
  await again.body?.cancel();
  assertHeld(await watch.stop(), engine);
  const stats = await adminJson<Stats>(engine, "/admin/events/stats");
  assert.ok(stats.storeFull >= 2);
});

/** Republishes every delivery to its own topic from a timer, after the handler returned. */
const ECHO: BundleSpec = {
  manifest: {
    id: "echo",
    version: "1.0.0",
    entry: "./mod.ts",
    services: { EchoService: "1.0.0" },
    subscribe: { "echo.loop": "EchoService.handle" },
    scaling: { minWorkers: 1, maxWorkers: 1 },
  },
  files: {
    "mod.ts": `const seen = [];
const errors = [];
export default {
  services: {
    EchoService: {
      handle(event, ctx) {
        seen.push(event.payload.n);
        // Outside the call: the engine must still count the hops of the delivery.
        setTimeout(() => {
          ctx.events.publish("echo.loop", { n: event.payload.n + 1 })
            .catch((error) => errors.push(error.code + ": " + error.message));
        }, 0);
        return "ok";
      },
      report: () => ({ seen, errors }),
    },
  },
};`,
  },
};

for (const tier of TIERS) {
  Deno.test(`Hostile (${tier}): a subscriber republishing to its own topic from a timer stops at the hop limit`, async () => {
    await using engine = await hostileEngine({ bundles: [ECHO], args: ["--isolation", tier] });
    const watch = probe(engine.url);
    const start = await fetch(`${engine.url}/events/echo.loop`, {
      method: "POST",
      body: JSON.stringify({ n: 0 }),
    });
    assert.equal(start.status, 202);
    await start.body?.cancel();
    const report = async () => {
      const r = await fetch(`${engine.url}/rpc/EchoService/report`, { method: "POST", body: "{}" });
      return (await r.json() as { result: { seen: number[]; errors: string[] } }).result;
    };
    let state = await report();
    for (let i = 0; i < 200 && state.errors.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      state = await report();
    }
    assert.equal(state.errors.length, 1, `errors: ${state.errors}`);
    assert.match(state.errors[0]!, /^HOP_LIMIT: .*exceeds 8 hops/);
    // Nothing more happens once the chain was refused.
    await new Promise((r) => setTimeout(r, 1_000));
    const after = await report();
    assert.deepEqual(after.seen, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assertHeld(await watch.stop(), engine);
    const stats = await adminJson<Stats>(engine, "/admin/events/stats");
    assert.equal(stats.hopLimited, 1);
    assert.equal(stats.pending, 0);
    // Operators see the refusal on /metrics too.
    const metrics = await (await fetch(`${engine.url}/metrics`)).text();
    assert.match(
      metrics,
      /^bundlehost_events_refused\{bundlehost_events_refusal="hop_limit"\} 1$/m,
    );
  });
}

/** `onStart` starts a timer that fans out calls to itself and publishes, far over any budget. */
const STORM: BundleSpec = {
  manifest: {
    id: "storm",
    version: "1.0.0",
    entry: "./mod.ts",
    services: { StormService: "1.0.0" },
    scaling: { minWorkers: 1, maxWorkers: 1 },
  },
  files: {
    "mod.ts": `const counts = { calls: 0, publishes: 0, refused: 0, other: [], lastError: "" };
const refused = (error) => {
  if (error.code === "THROTTLED") {
    counts.refused++;
    counts.lastError = error.code + ": " + error.message;
  } else if (!counts.other.includes(error.code)) counts.other.push(error.code);
};
export default {
  services: {
    StormService: {
      spin: () => "spun",
      counts: () => counts,
    },
  },
  hooks: {
    onStart(ctx) {
      setInterval(() => {
        for (let i = 0; i < 5; i++) {
          ctx.broker.call("StormService", "spin", {}).then(() => counts.calls++, refused);
          ctx.events.publish("storm.topic", { i }).then(() => counts.publishes++, refused);
        }
      }, 20);
    },
  },
};`,
  },
};

for (const tier of TIERS) {
  Deno.test(`Hostile (${tier}): an onStart timer fanning out detached calls and publishes stops at the bundle's budget`, async () => {
    await using engine = await hostileEngine({ bundles: [STORM], args: ["--isolation", tier] });
    const watch = probe(engine.url);
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    const report = await watch.stop();
    console.log(`storm (${tier}): probe max ${JSON.stringify(report.maxMs)}`);
    const r = await fetch(`${engine.url}/rpc/StormService/counts`, { method: "POST", body: "{}" });
    const counts = (await r.json() as {
      result: {
        calls: number;
        publishes: number;
        refused: number;
        other: string[];
        lastError: string;
      };
    }).result;
    const seconds = (Date.now() - started) / 1000 + 10; // Generous: the bundle started earlier.
    assertHeld(report, engine);
    assert.ok(counts.refused > 100, JSON.stringify(counts));
    // Calls made while the bundle was still starting find no serving bundle: that is all else.
    assert.deepEqual(counts.other.filter((c) => c !== "NOT_FOUND"), [], JSON.stringify(counts));
    assert.match(counts.lastError, /over its budget of 20\/s .*outside any call/);
    // Burst of 100, then 20 per second, calls and publishes together.
    assert.ok(counts.calls + counts.publishes <= 100 + 20 * seconds, JSON.stringify(counts));
    const stats = await adminJson<Stats>(engine, "/admin/events/stats");
    assert.ok(stats.detachedThrottled >= counts.refused, JSON.stringify(stats));
    const metrics = await (await fetch(`${engine.url}/metrics`)).text();
    const refused =
      /^bundlehost_events_refused\{bundlehost_events_refusal="detached_throttled"\} (\d+)$/m
        .exec(metrics);
    assert.ok(refused && Number(refused[1]) >= counts.refused, metrics.slice(0, 2000));
  });
}
