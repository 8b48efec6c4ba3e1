/**
 * The worker tier's runtime built as one module (`engine/sandbox/host/guest_module.ts`): the build
 * writes a file named by its content, real workers boot from it (their stack shows it), a file
 * planted under that name is replaced, a failed build keeps the TypeScript entry, and an earlier
 * version's file is removed. An engine builds it
 * at setup (checked in its data folder).
 *
 * @module
 */
import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";
import { GUEST_ENTRY, GuestModule } from "../engine/sandbox/host/guest_module.ts";
import { Instance } from "../engine/sandbox/host/instance.ts";
import { workerTransport } from "../engine/sandbox/host/worker.ts";
import { noGrants } from "../engine/manifest/permissions.ts";
import { manifest, testEngine } from "./_helpers.ts";

/** The stack of a bundle method, as seen from inside a worker booted from `guest`. */
async function stackInside(guest: GuestModule, dir: string): Promise<string> {
  const entry = `${dir}/mod.ts`;
  await Deno.writeTextFile(
    entry,
    `export default { services: { S: { stack: () => new Error("here").stack } } };`,
  );
  const instance = new Instance(
    workerTransport({ name: "stack", permissions: { ...noGrants(), read: [entry] }, guest }),
    {
      tier: "worker",
      bundle: { id: "stack", version: "1.0.0", instanceId: "stack-1", dataDir: dir },
      entry: pathToFileURL(entry).href,
    },
  );
  try {
    await instance.start(Date.now() + 30_000);
    const stack = await instance.call({
      service: "S",
      method: "stack",
      input: null,
      deadline: Date.now() + 30_000,
      hops: 0,
    });
    assert.equal(typeof stack, "string");
    return stack as string;
  } finally {
    instance.kill("test over");
  }
}

Deno.test("GuestModule builds the runtime as one file named by its content, and workers boot from it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-guest-" });
  try {
    await Deno.mkdir(`${dir}/guest`);
    await Deno.writeTextFile(`${dir}/guest/guest-runtime-000000000000000000000000.js`, "old");
    await Deno.writeTextFile(`${dir}/guest/other.txt`, "not ours");
    const guest = new GuestModule();
    assert.equal(guest.url.href, GUEST_ENTRY.href, "the source entry until built");
    assert.equal(await guest.prepare(`${dir}/guest`, "deno"), undefined);
    const names = [...Deno.readDirSync(`${dir}/guest`)].map((e) => e.name).sort();
    assert.equal(names.length, 2, `the old runtime is removed, other files stay: ${names}`);
    assert.ok(names.includes("other.txt"));
    const file = names.find((n) => n.startsWith("guest-runtime-"))!;
    assert.match(file, /^guest-runtime-[0-9a-f]{24}\.js$/);
    assert.equal(guest.url.href, pathToFileURL(`${dir}/guest/${file}`).href);
    const text = await Deno.readTextFile(`${dir}/guest/${file}`);
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
    );
    const hex = Array.from(digest.slice(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
    assert.equal(file, `guest-runtime-${hex}.js`, "named by its content");
    assert.doesNotMatch(text, /^import .* from "\.\.?\//m, "no relative import is left");

    const stack = await stackInside(guest, dir);
    assert.match(stack, new RegExp(file.replaceAll(".", "\\.")), stack);
    assert.doesNotMatch(stack, /sandbox\/guest\/runtime\.ts/, stack);

    // A second engine's folder gets the same file, from the same build.
    const again = new GuestModule();
    assert.equal(await again.prepare(`${dir}/again`, "deno"), undefined);
    assert.deepEqual([...Deno.readDirSync(`${dir}/again`)].map((e) => e.name), [file]);

    // A file planted under the expected name with other content is replaced, never run.
    await Deno.writeTextFile(`${dir}/guest/${file}`, `globalThis.planted = true;`);
    const third = new GuestModule();
    assert.equal(await third.prepare(`${dir}/guest`, "deno"), undefined);
    assert.equal(await Deno.readTextFile(`${dir}/guest/${file}`), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GuestModule keeps the TypeScript entry when the build fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-guest-" });
  try {
    const guest = new GuestModule();
    const failure = await guest.prepare(`${dir}/guest`, `${dir}/no-such-deno`);
    assert.ok(failure !== undefined && failure.length > 0, "a reason is given");
    assert.equal(guest.url.href, GUEST_ENTRY.href);
    const stack = await stackInside(guest, dir);
    assert.match(stack, /sandbox\/guest\/runtime\.ts/, stack);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("An engine builds the worker runtime into its data folder at setup", async () => {
  await using t = await testEngine({ isolation: "worker" });
  const files = [...Deno.readDirSync(`${t.engine.runtime.dataDir}/guest`)].map((e) => e.name);
  assert.equal(files.length, 1, `${files}`);
  assert.match(files[0]!, /^guest-runtime-[0-9a-f]{24}\.js$/);
  await t.deploy(manifest("booted", { services: { B: "1.0.0" } }), {
    "mod.ts": `export default { services: { B: { stack: () => new Error("x").stack } } };`,
  });
  const stack = await t.engine.call("B", "stack", null);
  assert.match(String(stack), new RegExp(files[0]!.replaceAll(".", "\\.")));
});

Deno.test("The bundled runtime keeps hardenGuestScope self-contained: nested workers run its source alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-guest-" });
  try {
    const guest = new GuestModule();
    assert.equal(await guest.prepare(dir, "deno"), undefined);
    const text = await Deno.readTextFile(guest.url);
    const start = text.indexOf("function hardenGuestScope(");
    assert.ok(start >= 0, "the function is in the bundle under its own name");
    // Its body, up to the next top-level function: no helper of the bundler's may appear in it.
    const end = text.indexOf("\nfunction ", start + 1);
    const body = text.slice(start, end < 0 ? undefined : end);
    assert.doesNotMatch(body, /__name|__export|__require/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
