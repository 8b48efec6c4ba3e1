/**
 * Escape attempts through every path that hands a pre-spawned worker to a bundle
 * (`engine/sandbox/host/worker_reserve.ts`), besides a release's start (`escape_handout_test.ts`):
 * the first call to a version restored scaled to zero, the first call after the autoscaler took a
 * version to zero, and the one-off sandbox that vets a release moving no traffic. Each test first
 * checks that the bundle really ran in a spare (the spare's worker name), then that it reached
 * nothing beyond its grants, which are none. A spare also runs its warm-up
 * (`engine/sandbox/guest/warm_up.ts`) while it waits: the probes check it left the realm hardened
 * and held nothing for the bundle.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type EscapeEnv, handoutEnv, probeModule, type ProbeResult, SPARE } from "./escape_env.ts";
import { waitFor } from "./_helpers.ts";

/** What each probe attempts; every attempt must be refused. */
const ATTEMPTS = `
const tries = {
  secret: () => Deno.readTextFileSync(input.secret),
  token: () => Deno.readTextFileSync(input.token),
  victim: () => Deno.readTextFileSync(input.victim),
  passwd: () => Deno.readTextFileSync("/etc/passwd"),
  write: () => Deno.writeTextFileSync(input.root + "/escaped.txt", "x"),
  env: () => Deno.env.get(input.envName),
  run: () => new Deno.Command("true").outputSync(),
  sys: () => Deno.hostname(),
  listen: () => Deno.listen({ port: 0 }).close(),
};
const refused = {};
for (const [name, attempt] of Object.entries(tries)) {
  try {
    attempt();
    refused[name] = "allowed";
  } catch (error) {
    refused[name] = String(error?.name);
  }
}
let net;
try {
  await (await fetch("http://127.0.0.1:" + input.port + "/")).text();
  net = "allowed";
} catch (error) {
  net = String(error?.name);
}
const hardened = [typeof caches, typeof BroadcastChannel, typeof localStorage];
return { worker: self.name, refused, net, hardened };`;

interface Report {
  worker: string;
  refused: Record<string, string>;
  net: string;
  hardened: string[];
}

/** Asserts a probe's report: it ran in a spare, and every attempt was refused. */
function assertContained(env: EscapeEnv, result: unknown): void {
  const probe = result as ProbeResult;
  assert.ok(probe.ok, Deno.inspect(probe));
  const report = probe.value as Report;
  assert.equal(report.worker, SPARE, "the probe ran in a handed-out spare");
  for (const [name, outcome] of Object.entries(report.refused)) {
    assert.equal(outcome, "NotCapable", `${name} is refused`);
  }
  assert.equal(report.net, "NotCapable", "the network is refused");
  assert.deepEqual(report.hardened, ["undefined", "undefined", "undefined"]);
  assert.ok(!JSON.stringify(report).includes(env.secretText), "no secret in the report");
}

/** Writes and installs a probe bundle with scaling that lets it reach zero instances. */
async function installProbe(env: EscapeEnv, id: string): Promise<void> {
  const dir = await env.bundle(
    {
      id,
      version: "1.0.0",
      services: { Probe: "1.0.0" },
      scaling: { minWorkers: 0, idleMs: 200 },
    },
    { "mod.ts": probeModule(ATTEMPTS) },
  );
  await env.engine.runtime.install(dir);
}

function instances(env: EscapeEnv, id: string): number {
  return env.engine.bundle(id).revisions.flatMap((r) => r.instances).length;
}

Deno.test("A spare handed out at the first call to a version restored at zero reaches nothing", async () => {
  await using env = await handoutEnv();
  await installProbe(env, "restored");
  await env.engine.runtime.start("restored", "1.0.0", { atZero: true });
  assert.equal(instances(env, "restored"), 0, "no sandbox before the first call");
  assertContained(env, await env.engine.call("Probe", "run", probeInput(env)));
});

Deno.test("A spare handed out at the first call after scale to zero reaches nothing", async () => {
  await using env = await handoutEnv();
  await installProbe(env, "idle");
  await env.engine.runtime.start("idle");
  // The release's own instance: its first answer refills the reserve.
  assertContained(env, await env.engine.call("Probe", "run", probeInput(env)));
  await waitFor(() => instances(env, "idle") === 0, 15_000, "scale to zero");
  assertContained(env, await env.engine.call("Probe", "run", probeInput(env)));
  assert.equal(instances(env, "idle"), 1);
});

Deno.test("A spare handed out to vet a release that moves no traffic reaches nothing", async () => {
  await using env = await handoutEnv();
  // Top-level code of the vetted module: it fails the release unless every attempt was refused.
  const input = JSON.stringify(probeInput(env));
  const check = `
const input = ${input};
const report = await (async () => {${ATTEMPTS}
})();
const bad = Object.entries(report.refused).filter(([, outcome]) => outcome !== "NotCapable");
if (report.worker !== ${
    JSON.stringify(SPARE)
  }) throw new Error("vetted outside a spare: " + report.worker);
if (bad.length > 0 || report.net !== "NotCapable") throw new Error("not refused: " + JSON.stringify(report));
if (report.hardened.some((t) => t !== "undefined")) throw new Error("not hardened");
`;
  const source = (version: string) =>
    env.bundle({ id: "staged", version, services: { Staged: "1.0.0" } }, {
      "mod.ts": `${check}
export default { services: { Staged: { version() { return ${JSON.stringify(version)}; } } } };`,
    });
  await env.engine.registry.release({ path: await source("1.0.0") });
  // The first version's own sandbox answered: the reserve refills before the staged release.
  assert.equal(await env.engine.call("Staged", "version", null), "1.0.0");
  await new Promise((resolve) => setTimeout(resolve, 50));
  const staged = await env.engine.registry.release({ path: await source("1.1.0") }, {
    activate: false,
  });
  assert.equal(staged.version, "1.1.0");
  assert.equal(await env.engine.call("Staged", "version", null), "1.0.0");
});

function probeInput(env: EscapeEnv) {
  return {
    secret: env.secret,
    token: env.token,
    victim: env.victim,
    root: env.root,
    port: env.port,
    envName: env.envName,
  };
}
