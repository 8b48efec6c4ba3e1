/**
 * Hostile input, operator policy (issue 12 items 8, 9, 12): over real HTTP against the real engine,
 * a second bundle cannot capture the victim's service by declaring it with a huge ranking, nor
 * subscribe to a topic another bundle owns; and a ceiling that grants more than the engine's own
 * flags stops the engine at start with one clear line.
 *
 * @module
 */
import assert from "node:assert/strict";
import { assertHeld, type BundleSpec, hostileEngine, probe } from "./_hostile.ts";
import { admin, releasePath, rpc } from "./_http.ts";
import { writeBundle } from "./_helpers.ts";
import { type EngineExit, runEngineToExit } from "./_server.ts";

/** Owns the topic `order.created` (first to subscribe). */
const AUDIT: BundleSpec = {
  manifest: {
    id: "audit",
    version: "1.0.0",
    entry: "./mod.ts",
    services: { AuditService: "1.0.0" },
    subscribe: { "order.created": "AuditService.record" },
  },
  files: { "mod.ts": `export default { services: { AuditService: { record: () => true } } };` },
};

const THIEF_MOD = `export default { services: {
  VictimService: { ping: () => ({ pong: true, stolen: true }) },
  Spy: { record: () => true },
} };`;

Deno.test("Engine refuses bundles that try to capture another bundle's service or topic", async () => {
  await using engine = await hostileEngine({ bundles: [AUDIT] });
  const attack = `${engine.root}/attack`;
  const thief = (extra: Record<string, unknown>) =>
    writeBundle(attack, {
      id: "thief",
      version: "1.0.0",
      entry: "./mod.ts",
      services: { VictimService: "1.0.0" },
      ...extra,
    }, { "mod.ts": THIEF_MOD });
  const running = probe(engine.url);
  // The attacker keeps trying, round after round, while the probe measures the victim.
  for (let round = 0; round < 5; round++) await attempt();
  const report = await running.stop();
  assertHeld(report, engine);
  // Nothing of the attackers stayed, and the default route still reaches the victim.
  assert.equal((await admin(engine.url, "GET", "/admin/bundles/thief")).status, 404);
  assert.equal((await admin(engine.url, "GET", "/admin/bundles/spy")).status, 404);
  const call = await rpc(engine.url, "VictimService", "ping", {});
  assert.equal(call.headers.get("x-bundle"), "victim@1.0.0");
  assert.deepEqual(call.body.result, { pong: true, input: {} });

  async function attempt(): Promise<void> {
    // A huge ranking would win the default route: refused by the operator's bound.
    const outranking = await releasePath(engine.url, await thief({ ranking: 1_000_000 }));
    assert.equal(outranking.status, 400, JSON.stringify(outranking.body));
    assert.equal(outranking.body.error?.field, "ranking");
    assert.match(outranking.body.error!.message, /above the operator's limit limits\.maxRanking/);

    // Within the bound, the service still belongs to the victim: refused naming service and owner.
    const capture = await releasePath(engine.url, await thief({ ranking: 100 }));
    assert.equal(capture.status, 403, JSON.stringify(capture.body));
    assert.equal(capture.body.error?.code, "FORBIDDEN");
    assert.match(capture.body.error!.message, /service "VictimService" belongs to bundle "victim"/);

    // A subscription to the audit bundle's topic (under another service name): refused as well.
    const spy = await releasePath(
      engine.url,
      await writeBundle(attack, {
        id: "spy",
        version: "1.0.0",
        entry: "./mod.ts",
        services: { Spy: "1.0.0" },
        subscribe: { "order.created": "Spy.record" },
      }, { "mod.ts": THIEF_MOD }),
    );
    assert.equal(spy.status, 403, JSON.stringify(spy.body));
    assert.match(spy.body.error!.message, /topic "order\.created" belongs to bundle "audit"/);
    // Between attempts the probe gets its rounds in.
    await new Promise((r) => setTimeout(r, 100));
  }
});

/** Runs main.ts with `--ceiling <file>` and waits for it to exit; returns its code and output. */
async function startWithCeiling(ceiling: string): Promise<EngineExit> {
  const dataDir = await Deno.makeTempDir({ prefix: "bundlehost-ceiling-" });
  try {
    await Deno.writeTextFile(`${dataDir}/ceiling.json`, ceiling);
    return await runEngineToExit(dataDir, [
      "--port",
      "0",
      "--data-dir",
      dataDir,
      "--ceiling",
      `${dataDir}/ceiling.json`,
    ]);
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

Deno.test("main.ts refuses a ceiling beyond its own flags, or an invalid one, in one line", async () => {
  const cases: [string, RegExp][] = [
    [
      JSON.stringify({ net: ["127.0.0.1:9000", "example.com:443"] }),
      /grants net "example\.com:443" \(field "net\[1\]"\), which the engine itself does not hold/,
    ],
    [JSON.stringify({ env: ["AWS_SECRET_ACCESS_KEY"] }), /grants env "AWS_SECRET_ACCESS_KEY"/],
    [JSON.stringify({ run: ["sh"] }), /grants run "sh" \(field "run\[0\]"\)/],
    [JSON.stringify({ read: ["/"] }), /grants read "\/" \(field "read\[0\]"\)/],
    [
      JSON.stringify({ limits: { maxWokers: 2 } }),
      /field "limits\.maxWokers" is not a known field/,
    ],
    ["{ not json", /is not valid JSON/],
  ];
  for (const [ceiling, expected] of cases) {
    const { code, stderr, stdout } = await startWithCeiling(ceiling);
    assert.equal(code, 2, `exit code for ${ceiling}: ${stderr}`);
    assert.match(stderr, expected);
    assert.equal(stderr.trim().split("\n").length, 1, `one line, not a stack trace: ${stderr}`);
    assert.doesNotMatch(stdout, /listening on/);
  }
});

Deno.test("Engine drops a bundle's log flood beyond its budget and counts it", async () => {
  const flood: BundleSpec = {
    manifest: {
      id: "flood",
      version: "1.0.0",
      entry: "./mod.ts",
      services: { FloodService: "1.0.0" },
      scaling: { minWorkers: 2, maxWorkers: 2 },
    },
    files: {
      "mod.ts": `export default { services: { FloodService: {
  async spew(n) {
    for (let i = 0; i < n; i++) {
      console.log("flood line", i);
      // Thousands of lines a second, far beyond the budget, without pinning a core: this test
      // attacks the log path, not the CPU scheduler.
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 1));
    }
    return n;
  },
} } };`,
    },
  };
  await using engine = await hostileEngine({ bundles: [flood] });
  const running = probe(engine.url);
  const started = performance.now();
  const spews = await Promise.all(
    Array.from({ length: 4 }, () => rpc(engine.url, "FloodService", "spew", 1_500)),
  );
  const seconds = (performance.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 500));
  const report = await running.stop();
  assertHeld(report, engine);
  assert.deepEqual(spews.map((s) => s.status), [200, 200, 200, 200]);
  const status = await admin<{ bundles: { id: string; logsDropped: number }[] }>(
    engine.url,
    "GET",
    "/admin/status",
  );
  const dropped = status.body.bundles.find((b) => b.id === "flood")!.logsDropped;
  const printed = engine.proc.output().split("\n").filter((l) => l.includes("flood line")).length;
  // Default budget: a burst of 1000 lines, then 100 a second, shared by both instances.
  assert.equal(printed + dropped, 6_000, `${printed} printed, ${dropped} dropped`);
  assert.ok(printed <= 1_000 + 100 * Math.ceil(seconds + 1), `${printed} lines printed`);
  assert.ok(dropped > 0);
});
