/**
 * Hostile input, class 2: regular expressions from outside. Catastrophic `REG` route patterns
 * arrive over the `x-route-pattern` header, from a bundle's `ctx.broker` and in a rules document,
 * against many candidate bundles with long ids built to make a backtracking matcher explode,
 * while the probe checks that `/healthz`, a victim call and the admin API keep answering. Patterns
 * the linear-time engine cannot run (backreferences, lookaheads) are refused naming the source.
 *
 * @module
 */
import assert from "node:assert/strict";
import { assertHeld, type BundleSpec, hostileEngine, probe } from "./_hostile.ts";
import { runFlags, TEST_TOKEN } from "./_server.ts";
import { ROOT } from "./_helpers.ts";

/** Ids that make `(a+)+$`, `(a|a)*b` and `(x+x+)+y` backtrack for ages: long runs, no match. */
const TARGET_IDS = [
  `${"a".repeat(60)}-k1`,
  `${"a".repeat(60)}-k2`,
  `${"a".repeat(62)}9`,
  `${"x".repeat(60)}-z1`,
  `${"x".repeat(62)}9`,
  `${"a".repeat(30)}${"x".repeat(30)}-q`,
];

/** Bundles providing `TargetService` under those ids. */
const TARGETS: BundleSpec[] = TARGET_IDS.map((id) => ({
  manifest: { id, version: "1.0.0", entry: "./mod.ts", services: { TargetService: "1.0.0" } },
  files: { "mod.ts": `export default { services: { TargetService: { who: () => "${id}" } } };` },
}));

/** A bundle with no grants that routes its broker calls with whatever pattern it is given. */
const ATTACKER: BundleSpec = {
  manifest: {
    id: "attacker",
    version: "1.0.0",
    entry: "./mod.ts",
    services: { AttackService: "1.0.0" },
  },
  files: {
    "mod.ts": `export default {
  services: {
    AttackService: {
      async reg(input, ctx) {
        try {
          const who = await ctx.broker
            .get("TargetService", { type: "REG", pattern: input.pattern })
            .who({});
          return { ok: true, who };
        } catch (error) {
          return { ok: false, error: String(error?.message ?? error) };
        }
      },
    },
  },
};`,
  },
};

/** Catastrophic for a backtracking engine; harmless in linear time. */
const CATASTROPHIC = [
  "(a+)+$",
  "^(a+)+$",
  "(a|a)*b",
  "^(a|aa)+$",
  "(x+x+)+y",
  "^(([a-z])+.)+[A-Z]([a-z])+$",
  "(a*)*(x*)*(a|x)*c$",
  `${"(a|aa|a?)*".repeat(12)}c$`,
];

/** Patterns the linear-time engine cannot run. */
const REFUSED = ["(a)\\1", "^(?=a)a+$", "a(?!b)", "(?<n>a)\\k<n>"];

const ATTACK_MS = 2_500;
const CONCURRENCY = 8;

/** Runs `attack` in `CONCURRENCY` loops for `ATTACK_MS`; returns how many rounds completed. */
async function flood(attack: (round: number) => Promise<void>): Promise<number> {
  const until = performance.now() + ATTACK_MS;
  let rounds = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, lane) => {
      for (let i = lane; performance.now() < until && i < 100_000; i += CONCURRENCY) {
        await attack(i);
        rounds++;
      }
    }),
  );
  return rounds;
}

Deno.test("Hostile regex: catastrophic route patterns never stall the engine", async (t) => {
  await using engine = await hostileEngine({
    bundles: [...TARGETS, ATTACKER],
    // Six bundles provide TargetService on purpose: the policy grants it to any id.
    policy: { services: { TargetService: ["*"] } },
  });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${engine.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });

  await t.step("a REG route still selects by pattern", async () => {
    const response = await post("/rpc/TargetService/who", {}, {
      "x-route-type": "REG",
      "x-route-pattern": "^x+-z1$",
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { result: `${"x".repeat(60)}-z1` });
  });

  await t.step("over the x-route-pattern header", async () => {
    const watch = probe(engine.url);
    const statuses = new Set<number>();
    const rounds = await flood(async (i) => {
      const response = await post("/rpc/TargetService/who", {}, {
        "x-route-type": "REG",
        "x-route-pattern": CATASTROPHIC[i % CATASTROPHIC.length]!,
      });
      await response.body?.cancel();
      statuses.add(response.status);
    });
    assertHeld(await watch.stop(), engine);
    assert.ok(rounds >= CATASTROPHIC.length, `only ${rounds} attack requests completed`);
    // None of the ids match, so every attack is a clean 404, never a 500 or a hang.
    assert.deepEqual([...statuses], [404]);
  });

  await t.step("from a bundle's ctx.broker", async () => {
    const watch = probe(engine.url);
    const answers: { ok: boolean; error?: string }[] = [];
    await flood(async (i) => {
      const response = await post("/rpc/AttackService/reg", {
        pattern: CATASTROPHIC[i % CATASTROPHIC.length],
      });
      assert.equal(response.status, 200);
      answers.push((await response.json()).result);
    });
    assertHeld(await watch.stop(), engine);
    assert.ok(answers.length >= CATASTROPHIC.length);
    for (const answer of answers) {
      assert.equal(answer.ok, false);
      assert.match(answer.error!, /No active bundle provides service TargetService on route REG/);
    }
  });

  await t.step("in a rules document, then on every call that uses it", async () => {
    const watch = probe(engine.url);
    const rounds = await flood(async (i) => {
      const put = await fetch(`${engine.url}/admin/rules`, {
        method: "PUT",
        headers: { authorization: `Bearer ${TEST_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({
          services: {
            TargetService: {
              route: { type: "REG", pattern: CATASTROPHIC[i % CATASTROPHIC.length] },
            },
          },
        }),
        signal: AbortSignal.timeout(5_000),
      });
      await put.body?.cancel();
      assert.equal(put.status, 200);
      const call = await post("/rpc/TargetService/who", {});
      await call.body?.cancel();
      assert.equal(call.status, 404);
    });
    assertHeld(await watch.stop(), engine);
    assert.ok(rounds >= CATASTROPHIC.length);
  });

  await t.step(
    "patterns that cannot run in linear time are refused, naming the source",
    async () => {
      for (const pattern of REFUSED) {
        const header = await post("/rpc/TargetService/who", {}, {
          "x-route-type": "REG",
          "x-route-pattern": pattern,
        });
        assert.equal(header.status, 400, pattern);
        const body = await header.json();
        assert.equal(body.error.code, "BAD_INPUT");
        assert.match(body.error.message, /^Header x-route-pattern: .*linear time/, pattern);

        const broker = await (await post("/rpc/AttackService/reg", { pattern })).json();
        assert.equal(broker.result.ok, false);
        assert.match(broker.result.error, /cannot run in linear time/, pattern);

        const rules = await fetch(`${engine.url}/admin/rules`, {
          method: "PUT",
          headers: { authorization: `Bearer ${TEST_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({
            services: { TargetService: { route: { type: "REG", pattern } } },
          }),
        });
        assert.equal(rules.status, 400, pattern);
        assert.match(
          (await rules.json()).error.message,
          /services\.TargetService\.route\.pattern: .*linear time/,
        );
      }
      const long = await post("/rpc/TargetService/who", {}, {
        "x-route-type": "REG",
        "x-route-pattern": `${"(a+)+".repeat(60)}$`,
      });
      assert.equal(long.status, 400);
      assert.match((await long.json()).error.message, /^Header x-route-pattern: .*256 characters/);
    },
  );
});

Deno.test("Hostile regex: the engine refuses to start without linear-time regular expressions", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "bundlehost-hostile-" });
  try {
    const flags = runFlags(dataDir).filter((flag) => !flag.startsWith("--v8-flags"));
    const output = await new Deno.Command("deno", {
      args: [...flags, `${ROOT}/main.ts`, "--port", "0", "--data-dir", dataDir],
      cwd: ROOT,
      env: { BUNDLEHOST_ADMIN_TOKEN: TEST_TOKEN, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr).trim();
    assert.equal(output.code, 2);
    assert.equal(stderr.split("\n").length, 1, stderr);
    assert.match(stderr, /--v8-flags=--enable-experimental-regexp-engine/);
    assert.equal(new TextDecoder().decode(output.stdout), "", "it never listened");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
