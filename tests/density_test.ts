/**
 * Density (issue 14): a route decision reads the providers of the called service only, never
 * every installed bundle, and that index follows installs and uninstalls of real bundles; a
 * revision scaled to zero costs no autoscaler work until a call wakes it; a restart restores a
 * scale-to-zero release without starting a sandbox for it.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createEngine,
  definePlugin,
  type Engine,
  type LifecycleEvent,
  ManualClock,
  NotFoundError,
} from "../mod.ts";
import { Broker } from "../engine/broker/broker.ts";
import { ProviderIndex } from "../engine/broker/providers.ts";
import type { BundleEntry } from "../engine/broker/router.ts";
import type { Revision } from "../engine/core/revision.ts";
import {
  FAST,
  manifest,
  manualTime,
  rejects,
  testEngine,
  waitFor,
  writeBundle,
} from "./_helpers.ts";

/** What the index and the router read of a revision: id, state, manifest; `call` answers its id. */
function revision(id: string, services: string[], version = "1.0.0"): Revision {
  return {
    id,
    version,
    label: `${id}@${version}`,
    state: "ACTIVE",
    manifest: {
      id,
      version,
      services: Object.fromEntries(services.map((s) => [s, "1.0.0"])),
      attributes: {},
      mock: false,
      ranking: 0,
      governance: {},
    },
    call: () => Promise.resolve(id),
  } as unknown as Revision;
}

function entry(...revisions: Revision[]): BundleEntry {
  return {
    id: revisions[0]!.id,
    revisions: new Map(revisions.map((r) => [r.version, r])),
    current: revisions[0]!.version,
  };
}

const ids = (entries: Iterable<BundleEntry>) => [...entries].map((e) => e.id).sort();

Deno.test("ProviderIndex lists the bundles whose revisions declare a service", () => {
  const index = new ProviderIndex();
  const a = entry(revision("a", ["Greeter", "Clock"]));
  const b = entry(revision("b", ["Greeter"]));
  index.update(a);
  index.update(b);
  assert.deepEqual(ids(index.providers("Greeter")), ["a", "b"]);
  assert.deepEqual(ids(index.providers("Clock")), ["a"]);
  assert.deepEqual(ids(index.providers("Nothing")), []);

  // A second version adds a service; removing the first drops the one only it declared.
  a.revisions.set("2.0.0", revision("a", ["Greeter", "Weather"], "2.0.0"));
  index.update(a);
  assert.deepEqual(ids(index.providers("Weather")), ["a"]);
  a.revisions.delete("1.0.0");
  index.update(a);
  assert.deepEqual(ids(index.providers("Clock")), []);
  assert.deepEqual(ids(index.providers("Greeter")), ["a", "b"]);

  // An entry without revisions leaves the index.
  b.revisions.clear();
  index.update(b);
  assert.deepEqual(ids(index.providers("Greeter")), ["a"]);
  a.revisions.clear();
  index.update(a);
  assert.equal(index.size, 0);
});

Deno.test("Broker routes a call through the provider index without reading every bundle", async () => {
  const entries = new Map<string, BundleEntry>();
  const index = new ProviderIndex();
  for (let i = 0; i < 50; i++) {
    const e = entry(revision(`dense-${i}`, [`Dense${i}`]));
    entries.set(e.id, e);
    index.update(e);
  }
  const broker = new Broker({
    entries: () => {
      throw new Error("The route decision read every bundle");
    },
    entry: (id) => entries.get(id),
    providers: (service) => index.providers(service),
    onBreakerChange: () => {},
  });
  const call = (service: string) =>
    broker.call({ service, method: "hello", input: null, deadline: Date.now() + 5_000, hops: 0 });
  assert.equal((await call("Dense7")).result, "dense-7");
  assert.equal((await call("Dense49")).bundle, "dense-49@1.0.0");
  // A miss (no provider, no degradation, no mock) is answered from the index too.
  await rejects(() => call("Missing"), NotFoundError, "No active bundle provides service Missing");
});

Deno.test("BundleRuntime keeps the route index in step with installs and uninstalls", async () => {
  await using t = await testEngine();
  const mod = (service: string) =>
    `export default { services: { ${service}: { who: (_input, ctx) => ctx.bundle.id } } };`;
  await t.deploy(manifest("alpha", { services: { Alpha: "1.0.0" } }), { "mod.ts": mod("Alpha") });
  await t.deploy(manifest("beta", { services: { Beta: "1.0.0" } }), { "mod.ts": mod("Beta") });
  assert.equal(await t.engine.call("Alpha", "who", null), "alpha");
  assert.equal(await t.engine.call("Beta", "who", null), "beta");

  await t.engine.runtime.uninstall("alpha");
  await rejects(() => t.engine.call("Alpha", "who", null), NotFoundError, "service Alpha");

  // Released again under another bundle id, the service is found at its new provider.
  await t.deploy(manifest("gamma", { services: { Alpha: "1.0.0" } }), { "mod.ts": mod("Alpha") });
  assert.equal(await t.engine.call("Alpha", "who", null), "gamma");
  assert.equal(await t.engine.call("Beta", "who", null), "beta");
});

Deno.test("RevisionScaling pauses its ticks while scaled to zero and resumes them on the next call", async () => {
  const clock = new ManualClock(Date.now());
  await using t = await testEngine({ ...manualTime(clock), autoscaleTickMs: 1_000 });
  await t.deploy(
    manifest("sleepy", {
      services: { Sleepy: "1.0.0" },
      scaling: { minWorkers: 0, idleMs: 2_000 },
    }),
    { "mod.ts": "export default { services: { Sleepy: { ping: () => 'pong' } } };" },
  );
  const scaling = () => t.engine.bundle("sleepy").revisions[0]!.scaling!;
  const instances = () => t.engine.bundle("sleepy").revisions[0]!.instances.length;
  assert.equal(await t.engine.call("Sleepy", "ping", null), "pong");
  await clock.advance(3_000);
  await waitFor(() => instances() === 0, 10_000, "scale to zero");
  const pausedAt = scaling().lastDecision?.at;
  assert.equal(scaling().lastDecision?.reason, "idle");

  // Ten tick periods at zero: no decision is taken (the autoscaler does not run).
  await clock.advance(10_000);
  assert.equal(scaling().lastDecision?.at, pausedAt);

  // A call scales it up from zero, and the ticks resume: a new decision, then zero again.
  assert.equal(await t.engine.call("Sleepy", "ping", null), "pong");
  await clock.advance(1_000);
  assert.notEqual(scaling().lastDecision?.at, pausedAt);
  await clock.advance(3_000);
  await waitFor(() => instances() === 0, 10_000, "scale to zero again");
  assert.equal(scaling().lastDecision?.reason, "idle");
});

Deno.test("Registry restores a scale-to-zero release without an instance, showing what it exposes", async () => {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-density-" });
  const options = { ...FAST, dataDir: `${root}/.bundlehost` };
  const mod = (service: string) =>
    `export default { services: { ${service}: { ping: () => '${service}' } }, fetch: () => new Response('hi') };`;
  try {
    {
      await using engine = await createEngine(options);
      for (
        const [id, service, minWorkers] of [["lazy", "Lazy", 0], ["eager", "Eager", 1]] as const
      ) {
        const dir = await writeBundle(`${root}/src`, {
          ...manifest(id, { services: { [service]: "1.0.0" } }),
          scaling: { minWorkers, idleMs: 60_000 },
        }, { "mod.ts": mod(service) });
        await engine.registry.release({ path: dir });
      }
      // At its release the scale-to-zero bundle was loaded and started once, like any other.
      assert.equal(engine.bundle("lazy").revisions[0]!.instances.length, 1);
    }
    await using engine = await createEngine(options);
    const lazy = () => engine.bundle("lazy").revisions[0]!;
    assert.equal(engine.bundle("lazy").state, "ACTIVE");
    assert.equal(lazy().instances.length, 0);
    assert.deepEqual(lazy().services.Lazy?.methods, ["ping"]);
    assert.equal(lazy().fetch, true);
    // A bundle that keeps an instance still gets it at restore.
    assert.equal(engine.bundle("eager").revisions[0]!.instances.length, 1);

    // The first call starts the sandbox, as after an idle scale-down.
    assert.equal(await engine.call("Lazy", "ping", null), "Lazy");
    assert.equal(lazy().instances.length, 1);
    assert.equal(lazy().scaling?.lastScale?.reason, "cold-start");
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("Registry restore installs every bundle before it starts any, then starts them in order", async () => {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-density-" });
  const options = { ...FAST, dataDir: `${root}/.bundlehost` };
  const ids = ["r-a", "r-b", "r-c", "r-d", "r-e", "r-f"];
  try {
    {
      await using engine = await createEngine(options);
      for (const [i, id] of ids.entries()) {
        const service = `Restore${i}`;
        const dir = await writeBundle(
          `${root}/src`,
          manifest(id, { services: { [service]: "1.0.0" } }),
          { "mod.ts": `export default { services: { ${service}: { ping: () => '${id}' } } };` },
        );
        await engine.registry.release({ path: dir });
      }
    }
    const seen: string[] = [];
    const watch = definePlugin<Engine>({
      name: "watch-restore",
      setup(engine) {
        engine.events.on("statechange", (e: LifecycleEvent) => seen.push(`${e.to} ${e.bundle}`));
      },
    });
    await using engine = await createEngine({ ...options, plugins: [watch] });
    const resolved = seen.filter((s) => s.startsWith("RESOLVED "));
    const starting = seen.filter((s) => s.startsWith("STARTING "));
    assert.equal(resolved.length, ids.length);
    // Installs (vetting) overlap; starts keep the registry's order.
    assert.ok(seen.indexOf(starting[0]!) > seen.indexOf(resolved.at(-1)!), seen.join(", "));
    assert.deepEqual(starting, ids.map((id) => `STARTING ${id}`));
    for (const [i, id] of ids.entries()) {
      assert.equal(await engine.call(`Restore${i}`, "ping", null), id);
    }
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
