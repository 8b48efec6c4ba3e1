/**
 * `permissions.env` grants in both tiers, with the engine run exactly as `deno task run` runs it
 * (issue: a bundle granted `env: ["TZ"]` read `undefined` in the process tier). Also: the secrets
 * key is removed from the engine's environment once read, so no `env` grant reaches it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, writeBundle } from "./_helpers.ts";
import { admin, releasePath, rpc } from "./_http.ts";
import { startEngineProcess } from "./_server.ts";

const TIERS = ["worker", "process"] as const;

const ENV_READER = (service: string) => `
export default {
  services: {
    ${service}: {
      read(input) {
        const out = {};
        for (const name of input.names) {
          try { out[name] = Deno.env.get(name) ?? "(undefined)"; } catch (error) { out[name] = error.name; }
        }
        return out;
      },
      async secret(_input, ctx) { return (await ctx.secrets.get("TOKEN")) ?? "(unset)"; },
    },
  },
};`;

Deno.test("A bundle granted env TZ reads the engine's TZ in both tiers, with the engine run as deno task run", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "bundlehost-env-" });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  try {
    await Deno.writeTextFile(
      `${dataDir}/policy.json`,
      JSON.stringify({ env: ["TZ", "BUNDLEHOST_SECRETS_KEY"], trusted: ["tz-worker"] }),
    );
    await using engine = await startEngineProcess(
      dataDir,
      ["--ceiling", `${dataDir}/policy.json`, "--bundles", `${dataDir}/none`],
      { TZ: "Europe/Paris", BUNDLEHOST_SECRETS_KEY: key },
    );
    for (const tier of TIERS) {
      const service = `Tz${tier === "worker" ? "Worker" : "Process"}`;
      const dir = await writeBundle(
        `${dataDir}/src`,
        manifest(`tz-${tier}`, {
          isolation: tier,
          services: { [service]: "1.0.0" },
          secrets: ["TOKEN"],
          permissions: { env: ["TZ", "BUNDLEHOST_SECRETS_KEY"] },
        }),
        { "mod.ts": ENV_READER(service) },
      );
      const released = await releasePath(engine.url, dir);
      assert.equal(released.status, 201, JSON.stringify(released.body));
      const reply = await rpc(engine.url, service, "read", {
        names: ["TZ", "BUNDLEHOST_SECRETS_KEY"],
      });
      // The secrets key was read, then removed from the engine's environment: a grant for it
      // finds nothing.
      assert.deepEqual(reply.body.result, {
        TZ: "Europe/Paris",
        BUNDLEHOST_SECRETS_KEY: "(undefined)",
      }, tier);
      const set = await admin(engine.url, "PUT", `/admin/bundles/tz-${tier}/secrets/TOKEN`, {
        value: "from-env-key",
      });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.equal((await rpc(engine.url, service, "secret", {})).body.result, "from-env-key");
    }
    // The key came from the environment: no key file was made.
    await assert.rejects(() => Deno.stat(`${dataDir}/secrets.key`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});
