/**
 * The README's claims about secrets, attacked in both tiers (README, "Secrets"): a bundle cannot
 * read another bundle's secret, even under the same name; it cannot read a name its manifest does
 * not declare; a secret is never in a process-tier child's environment or command line; the key
 * file is 0600 and out of reach of a bundle with read grants inside the engine's folder; and a
 * rotated key seals every stored secret again.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, testEngine, writeBundle } from "./_helpers.ts";
import { createEngine, Engine } from "../mod.ts";
import { SECRETS_KEY_FILE } from "../engine/store/secret_box.ts";

const TIERS = ["worker", "process"] as const;

const READER = `
export default {
  services: {
    Reader: {
      async read(input, ctx) {
        try {
          const value = await ctx.secrets.get(input.name);
          return { value: value ?? "(undefined)" };
        } catch (error) {
          return { refused: error.message };
        }
      },
      async file(input) {
        try {
          return { read: await Deno.readTextFile(input.path) };
        } catch (error) {
          return { refused: error.name };
        }
      },
      where(_input, ctx) {
        return { dataDir: ctx.bundle.dataDir, folder: new URL(".", import.meta.url).pathname };
      },
    },
  },
};`;

for (const tier of TIERS) {
  Deno.test(`A ${tier}-tier bundle reads only its own declared secrets, never another bundle's`, async () => {
    await using t = await testEngine();
    const extra = (service: string, secrets: string[]) => ({
      isolation: tier,
      services: { [service]: "1.0.0" },
      secrets,
      // Read grants in the engine's own folder: its release folder and its data folder.
      permissions: { read: ["./", "$DATA/"] },
    });
    const reader = (service: string) => READER.replace("Reader:", `${service}:`);
    for (
      const [id, service, secrets] of [["alpha", "Alpha", ["TOKEN"]], ["beta", "Beta", [
        "TOKEN",
        "OWN",
      ]]] as const
    ) {
      const dir = await t.bundle(manifest(id, extra(service, [...secrets])), {
        "mod.ts": reader(service),
      });
      await t.engine.release({ path: dir });
    }
    const alphaSecret = `alpha-${crypto.randomUUID()}`;
    await t.engine.settings.putSecret("alpha", "TOKEN", alphaSecret);
    // Same name, another bundle: its own value (unset), never alpha's.
    assert.deepEqual(await t.engine.call("Beta", "read", { name: "TOKEN" }), {
      value: "(undefined)",
    });
    await t.engine.settings.putSecret("beta", "TOKEN", "beta-token");
    assert.deepEqual(await t.engine.call("Beta", "read", { name: "TOKEN" }), {
      value: "beta-token",
    });
    assert.deepEqual(await t.engine.call("Alpha", "read", { name: "TOKEN" }), {
      value: alphaSecret,
    });
    // A name alpha does not declare, though beta does: refused in the sandbox and by the API.
    await t.engine.settings.putSecret("beta", "OWN", "beta-own");
    const refused = await t.engine.call("Alpha", "read", { name: "OWN" }) as { refused: string };
    assert.match(
      refused.refused,
      /Secret "OWN" is not declared in bundle.json "secrets" \(declared: TOKEN\)/,
    );
    await assert.rejects(
      () => t.engine.settings.putSecret("alpha", "OWN", "x"),
      /Bundle alpha does not declare secret OWN/,
    );

    // The key file: owner-only, and not readable with read grants inside the engine's folder.
    const keyFile = `${t.engine.dataDir}/${SECRETS_KEY_FILE}`;
    assert.equal((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
    const where = await t.engine.call("Beta", "where", {}) as { dataDir: string; folder: string };
    for (
      const path of [
        keyFile,
        `${where.dataDir}/../../${SECRETS_KEY_FILE}`,
        `${where.folder}../../../${SECRETS_KEY_FILE}`,
      ]
    ) {
      assert.deepEqual(
        await t.engine.call("Beta", "file", { path }),
        { refused: "NotCapable" },
        path,
      );
    }
    // The probe can read what it is granted, so the refusals above are the grants at work.
    assert.ok(
      "read" in (await t.engine.call("Beta", "file", { path: `${where.folder}mod.ts` }) as object),
    );

    // A process-tier child holds its secrets in memory only: not in its environment or argv.
    if (tier === "process") {
      const pids = t.engine.bundle("alpha").revisions.flatMap((r) => r.instances)
        .map((i) => i.pid).filter((pid) => pid !== undefined);
      assert.ok(pids.length > 0);
      for (const pid of pids) {
        // Reading another process's /proc entries needs --allow-all, which the test task does not
        // have: a `deno eval` (all permissions) reads them and says what it found.
        const script = `for (const part of ["environ", "cmdline"]) {
          const text = Deno.readTextFileSync("/proc/${pid}/" + part);
          console.log(part, text.length, text.includes(${JSON.stringify(alphaSecret)}));
        }`;
        const { stdout, success } = await new Deno.Command("deno", {
          args: ["eval", script],
          env: { NO_COLOR: "1" },
        }).output();
        assert.ok(success, `reading /proc/${pid}`);
        const report = new TextDecoder().decode(stdout).trim().split("\n").map((l) => l.split(" "));
        assert.deepEqual(report.map(([part, , found]) => [part, found]), [
          ["environ", "false"],
          ["cmdline", "false"],
        ]);
        assert.ok(report.every(([, length]) => Number(length) > 0), `/proc/${pid} was read`);
      }
    }
  });
}

Deno.test("SecretBox rotation: a new key seals stored secrets again, and an unknown key leaves them unset", async () => {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-rotation-" });
  const dataDir = `${root}/.bundlehost`;
  const key = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  const [k1, k2] = [key(), key()];
  const files = {
    "mod.ts":
      `export default { services: { Vault: { async get(_i, ctx) { return (await ctx.secrets.get("TOKEN")) ?? "(unset)"; } } } };`,
  };
  const bundle = { services: { Vault: "1.0.0" }, secrets: ["TOKEN"], isolation: "process" };
  const logs: string[] = [];
  const open = async (secrets: { key?: string; previousKeys?: string[] }) => {
    // Listening before setup: the key is loaded and secrets opened there.
    const engine = new Engine({ dataDir, secrets, rollbackWarmMs: 0 });
    engine.events.on("log", (event) => logs.push(event.message));
    await engine.setup();
    await engine.restore();
    await engine.ready();
    return engine;
  };
  try {
    const dir = await writeBundle(`${root}/src`, manifest("vault", bundle), files);
    {
      // First the key file the engine makes, then k1 from the environment: the file's key is
      // kept as a previous key, so nothing is lost.
      await using engine = await open({});
      await engine.release({ path: dir });
      await engine.settings.putSecret("vault", "TOKEN", "v-1");
    }
    const steps: { key: string; previousKeys?: string[] }[] = [
      { key: k1 },
      { key: k2, previousKeys: [k1] },
      { key: k2 },
    ];
    for (const secrets of steps) {
      await using engine = await open(secrets);
      assert.equal(await engine.call("Vault", "get", {}), "v-1", JSON.stringify(secrets));
    }
    // The key file is gone: k2 alone opens the records (they were sealed again under it).
    await Deno.remove(`${dataDir}/${SECRETS_KEY_FILE}`);
    {
      await using engine = await open({ key: k2 });
      assert.equal(await engine.call("Vault", "get", {}), "v-1");
    }
    // A key that never sealed them: the secret is unset and the log names it, not its value.
    {
      await using engine = await open({ key: key() });
      assert.equal(await engine.call("Vault", "get", {}), "(unset)");
    }
    assert.ok(
      logs.some((l) => /Secret TOKEN of bundle vault was sealed under another key/.test(l)),
    );
    assert.ok(!logs.some((l) => l.includes("v-1")));
    await assert.rejects(
      () => createEngine({ dataDir, secrets: { key: "short" } }),
      /must be base64 of 32 bytes/,
    );
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
