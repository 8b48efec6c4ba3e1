/**
 * A bundle's imports (README "Writing a bundle"; docs/architecture.md, "A bundle's imports"):
 * `@bundlehost/sdk/bundle` and the bundle's own `deno.json` resolve identically in both tiers, the
 * engine's import map never applies to a bundle, and neither a mapping nor a file under the
 * reserved folder gets a bundle anything outside its folder.
 *
 * @module
 */
import assert from "node:assert/strict";
import { writeBundle } from "./_helpers.ts";
import { releasePath, rpc } from "./_http.ts";
import { testServer } from "./_server.ts";

const TIERS = ["worker", "process"] as const;

/** A manifest for `tier`, exposing `Greeter`. */
function greeter(id: string, tier: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    version: "1.0.0",
    entry: "./mod.ts",
    isolation: tier,
    services: { Greeter: "1.0.0" },
    ...extra,
  };
}

const SDK_ENTRY = `import { defineBundle } from "@bundlehost/sdk/bundle";
import type { BundleContext } from "@bundlehost/sdk/bundle";

function tier(ctx: BundleContext): string {
  return ctx.bundle.id;
}

export default defineBundle({
  services: {
    Greeter: {
      greet(input: { name: string }, ctx) {
        return { message: \`Hello, \${input.name}\`, id: tier(ctx), instance: ctx.bundle.instanceId };
      },
    },
  },
});
`;

/** Type-checks a stored release's entry on its own (no config, no engine import map). */
async function check(file: string): Promise<{ ok: boolean; errors: string }> {
  const out = await new Deno.Command("deno", {
    args: ["check", "--no-config", "--no-lock", file],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { ok: out.success, errors: new TextDecoder().decode(out.stderr) };
}

for (const tier of TIERS) {
  Deno.test(`${tier} tier: a bundle without deno.json imports the SDK, answers, and its types check`, async () => {
    await using s = await testServer();
    const id = `sdk-${tier}`;
    const dir = await writeBundle(`${s.root}/src`, greeter(id, tier), { "mod.ts": SDK_ENTRY });
    const released = await releasePath(s.url, dir);
    assert.equal(released.status, 201, JSON.stringify(released.body));
    assert.equal(s.engine.bundle(id).revisions[0]?.isolation, tier);
    const reply = await rpc(s.url, "Greeter", "greet", { name: "Ada" });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual((reply.body.result as { message: string; id: string }).message, "Hello, Ada");
    assert.equal((reply.body.result as { id: string }).id, id);

    // The stored copy runs the SDK from inside the bundle folder, and type-checks with it.
    const stored = `${s.root}/.bundlehost/releases/${id}/1.0.0`;
    const text = await Deno.readTextFile(`${stored}/mod.ts`);
    assert.match(text, /from "\.\/\.bundlehost\/sdk\/bundle\.ts"/);
    assert.doesNotMatch(text, /"@bundlehost\/sdk\/bundle"/);
    const good = await check(`${stored}/mod.ts`);
    assert.ok(good.ok, good.errors);
    // The types are real: a wrong field of ctx fails the same check.
    const broken = `${s.root}/broken`;
    await Deno.mkdir(broken);
    await Deno.writeTextFile(
      `${broken}/mod.ts`,
      text.replaceAll("./.bundlehost/", `${stored}/.bundlehost/`).replace(
        "ctx.bundle.id",
        "ctx.bundle.nope",
      ),
    );
    const bad = await check(`${broken}/mod.ts`);
    assert.ok(!bad.ok, "a wrong ctx field is a type error");
    assert.match(bad.errors, /nope/);
  });

  Deno.test(`${tier} tier: the bundle's own deno.json maps a local alias and an allowed npm package`, async () => {
    await using s = await testServer();
    const id = `map-${tier}`;
    const dir = await writeBundle(
      `${s.root}/src`,
      greeter(id, tier, { imports: ["npm:semver@^7"] }),
      {
        "deno.json": JSON.stringify({
          imports: { "@lib/": "./lib/", "semver": "npm:semver@7.8.6" },
          compilerOptions: { strict: true },
        }),
        "lib/shout.ts": `export const shout = (text: string): string => text.toUpperCase();`,
        "lib/deep/version.ts": `import semver from "semver";
export const newest = (a: string, b: string) => (semver.gt(a, b) ? a : b);`,
        "mod.ts": `import { defineBundle } from "@bundlehost/sdk/bundle";
import { shout } from "@lib/shout.ts";
import { newest } from "@lib/deep/version.ts";
export default defineBundle({
  services: {
    Greeter: { greet: (input: { name: string }) => ({ message: shout(input.name), newest: newest("1.2.0", "1.10.0") }) },
  },
});
`,
      },
    );
    const released = await releasePath(s.url, dir);
    assert.equal(released.status, 201, JSON.stringify(released.body));
    const reply = await rpc(s.url, "Greeter", "greet", { name: "ada" });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual(reply.body.result, { message: "ADA", newest: "1.10.0" });

    // The same mapping without the manifest's allowance is refused, as any npm import is.
    const undeclared = await writeBundle(
      `${s.root}/src`,
      greeter(`undeclared-${tier}`, tier),
      {
        "deno.json": JSON.stringify({ imports: { "semver": "npm:semver@7.8.6" } }),
        "mod.ts": `import semver from "semver";
export default { services: { Greeter: { greet: () => semver.valid("1.0.0") } } };`,
      },
    );
    const refused = await releasePath(s.url, undeclared);
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.match(refused.body.error?.message ?? "", /npm package semver@7\.8\.6.*"imports"/);
  });

  Deno.test(`${tier} tier: the engine's import map does not leak: a bare "zod" is refused, naming it`, async () => {
    await using s = await testServer();
    const dir = await writeBundle(`${s.root}/src`, greeter(`zod-${tier}`, tier), {
      "mod.ts": `import { z } from "zod";
export default { services: { Greeter: { greet: (input: unknown) => z.string().parse(input) } } };`,
    });
    const refused = await releasePath(s.url, dir);
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    const message = refused.body.error?.message ?? "";
    assert.match(message, /"zod"/);
    assert.match(message, /deno\.json/);
    assert.throws(() => s.engine.bundle(`zod-${tier}`));
  });

  Deno.test(`${tier} tier: no mapping or reserved file gets a bundle a file outside its folder`, async () => {
    await using s = await testServer();
    const secret = `${s.root}/secret.txt`;
    await Deno.writeTextFile(secret, "outside-the-bundle");

    // Mapping the SDK specifier elsewhere changes nothing: the engine's SDK copy wins, and the
    // bundle still cannot read the file it pointed at.
    const id = `shadow-${tier}`;
    const dir = await writeBundle(`${s.root}/src`, greeter(id, tier), {
      "deno.json": JSON.stringify({ imports: { "@bundlehost/sdk/bundle": secret } }),
      "mod.ts": `import { defineBundle } from "@bundlehost/sdk/bundle";
export default defineBundle({
  services: {
    Greeter: {
      async greet(input: { path: string }) {
        try {
          return { read: await Deno.readTextFile(input.path) };
        } catch (error) {
          return { refused: (error as Error).name };
        }
      },
    },
  },
});
`,
    });
    const released = await releasePath(s.url, dir);
    assert.equal(released.status, 201, JSON.stringify(released.body));
    const reply = await rpc(s.url, "Greeter", "greet", { path: secret });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual(reply.body.result, { refused: "NotCapable" });

    // A mapping to a file outside the folder is refused at release, naming the specifier.
    const sneak = await writeBundle(`${s.root}/src`, greeter(`sneak-${tier}`, tier), {
      "deno.json": JSON.stringify({ imports: { "@sneak": secret } }),
      "mod.ts": `import text from "@sneak" with { type: "text" };
export default { services: { Greeter: { greet: () => text } } };`,
    });
    const outside = await releasePath(s.url, sneak);
    assert.equal(outside.status, 422, JSON.stringify(outside.body));
    assert.match(outside.body.error?.message ?? "", /"@sneak".*outside the bundle folder/);

    // A file of the bundle's own under the reserved folder is refused: the SDK cannot be shadowed.
    const shadow = await writeBundle(`${s.root}/src`, greeter(`reserved-${tier}`, tier), {
      ".bundlehost/sdk/bundle.ts": `export const defineBundle = (d: unknown) => d;`,
      "mod.ts": `import { defineBundle } from "@bundlehost/sdk/bundle";
export default defineBundle({ services: { Greeter: { greet: () => "shadowed" } } });`,
    });
    const reserved = await releasePath(s.url, shadow);
    assert.equal(reserved.status, 422, JSON.stringify(reserved.body));
    assert.match(reserved.body.error?.message ?? "", /\.bundlehost\/sdk\/bundle\.ts.*reserves/);
  });
}

Deno.test("A deno.json option that changes emitted code is refused, naming it; a deno.jsonc is named", async () => {
  await using s = await testServer();
  const jsx = await writeBundle(`${s.root}/src`, greeter("jsx", "process"), {
    "deno.json": JSON.stringify({ compilerOptions: { jsx: "react-jsx" } }),
    "mod.ts": `export default { services: { Greeter: { greet: () => "hi" } } };`,
  });
  const refused = await releasePath(s.url, jsx);
  assert.equal(refused.status, 422, JSON.stringify(refused.body));
  assert.match(refused.body.error?.message ?? "", /compilerOptions\.jsx/);

  const jsonc = await writeBundle(`${s.root}/src`, greeter("jsonc", "process"), {
    "deno.jsonc": `{ // a comment\n "imports": {} }`,
    "mod.ts": `export default { services: { Greeter: { greet: () => "hi" } } };`,
  });
  const named = await releasePath(s.url, jsonc);
  assert.equal(named.status, 422, JSON.stringify(named.body));
  assert.match(named.body.error?.message ?? "", /deno\.jsonc/);
});

Deno.test("The SDK's ./bundle entry has no runtime dependency: its graph is two files, the second type-only", async () => {
  const entry = new URL("../engine/sdk/bundle.ts", import.meta.url);
  const out = await new Deno.Command("deno", {
    args: ["info", "--json", "--no-config", "--no-lock", entry.href],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(out.success);
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: {
      specifier: string;
      dependencies?: { specifier: string; code?: unknown; type?: unknown }[];
    }[];
  };
  const names = info.modules.map((m) => m.specifier.slice(m.specifier.lastIndexOf("/") + 1));
  assert.deepEqual(names.sort(), ["bundle.ts", "types.ts"]);
  const deps = info.modules.flatMap((m) => m.dependencies ?? []);
  assert.ok(deps.length > 0 && deps.every((d) => d.code === undefined), JSON.stringify(deps));
});

Deno.test("Two releases with the same module and different deno.json mappings each run their own target", async () => {
  await using s = await testServer();
  const files = (target: string) => ({
    "deno.json": JSON.stringify({ imports: { "@lib/": target } }),
    "a/which.ts": `export const which = "a";`,
    "b/which.ts": `export const which = "b";`,
    // No grants and one module once resolved would be prepared as source; these import a file.
    "mod.ts": `import { which } from "@lib/which.ts";
export default { services: { Greeter: { greet: () => which } } };`,
  });
  const first = await writeBundle(`${s.root}/src`, greeter("which", "worker"), files("./a/"));
  assert.equal((await releasePath(s.url, first)).status, 201);
  assert.equal((await rpc(s.url, "Greeter", "greet")).body.result, "a");
  const second = await writeBundle(
    `${s.root}/src`,
    { ...greeter("which", "worker"), version: "1.0.1" },
    files("./b/"),
  );
  const released = await releasePath(s.url, second);
  assert.equal(released.status, 201, JSON.stringify(released.body));
  assert.equal((await rpc(s.url, "Greeter", "greet")).body.result, "b");
});

Deno.test("worker tier: an SDK bundle with no grants is still prepared as source and needs no read grant", async () => {
  await using s = await testServer();
  const dir = await writeBundle(`${s.root}/src`, greeter("prepared", "worker"), {
    "mod.ts": `import { defineBundle } from "@bundlehost/sdk/bundle";
export default defineBundle({
  services: {
    Greeter: { greet: (input: { path: string }) => Deno.permissions.querySync({ name: "read", path: input.path }).state },
  },
});
`,
  });
  assert.equal((await releasePath(s.url, dir)).status, 201);
  const stored = `${s.root}/.bundlehost/releases/prepared/1.0.0`;
  const own = await rpc(s.url, "Greeter", "greet", { path: `${stored}/mod.ts` });
  assert.equal(own.status, 200, JSON.stringify(own.body));
  assert.notEqual(own.body.result, "granted", "the prepared entry reads no file");
  const sdk = await rpc(s.url, "Greeter", "greet", { path: `${stored}/.bundlehost/sdk/bundle.ts` });
  assert.notEqual(sdk.body.result, "granted", "the SDK is inlined too");
});
