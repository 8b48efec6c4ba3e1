/**
 * Durability of the real engine (`main.ts` in a child process, Deno KV on disk): SIGKILL at
 * several points of a sequence of releases, then a restart on the same data folder. Every release
 * that was acknowledged (2xx) must be listed and callable with its own content; releases that were
 * never acknowledged must neither break the restart nor leave files behind.
 *
 * @module
 */
import assert from "node:assert/strict";
import { packTar } from "modern-tar";
import { Engine } from "../mod.ts";
import type { RestoreReport } from "../engine/release/registry.ts";
import { FAST, sharing } from "./_helpers.ts";
import { admin, type BundleView, rpc } from "./_http.ts";
import { type EngineProcess, startEngineProcess, TEST_TOKEN } from "./_server.ts";

/** One release of the sequence: a distinct id@version whose method answers `word`. */
interface Item {
  index: number;
  id: string;
  version: string;
  word: string;
  archive: Uint8Array<ArrayBuffer>;
}

const IDS = 6;

async function item(index: number, id = `dur-${index % IDS}`, version?: string): Promise<Item> {
  version ??= `1.${Math.floor(index / IDS)}.0`;
  const word = `${id}@${version} says ${index}`;
  const files: Record<string, string> = {
    "bundle.json": JSON.stringify({ id, version, services: { Durable: "1.0.0" } }),
    "mod.ts": `export default { services: { Durable: { which: () => ${JSON.stringify(word)} } } };`,
  };
  const archive = await packTar(
    Object.entries(files).map(([name, body]) => ({ header: { name, size: body.length }, body })),
  );
  return { index, id, version, word, archive };
}

/** What the client knows: which releases were acknowledged, which are in doubt. */
class Ledger {
  readonly acked = new Set<Item>();
  readonly inDoubt = new Set<Item>();
  readonly refused: string[] = [];

  /** Sends one release; a 2xx acknowledges it, a dropped connection leaves it in doubt. */
  async release(url: string, it: Item): Promise<void> {
    this.inDoubt.add(it);
    let response: Response;
    try {
      response = await fetch(`${url}/admin/releases`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_TOKEN}`, "content-type": "application/x-tar" },
        body: it.archive,
      });
    } catch {
      return; // The engine died before it answered.
    }
    const text = await response.text().catch(() => "");
    if (response.status !== 200 && response.status !== 201) {
      this.refused.push(`${it.id}@${it.version}: ${response.status} ${text}`);
      return;
    }
    this.inDoubt.delete(it);
    this.acked.add(it);
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Leftovers a crash could have left: a folder without a record, a temporary folder. */
async function plantOrphans(dataDir: string): Promise<string[]> {
  const orphans = ["dur-0/9.9.9", "dur-1/1.0.0.tmp-deadbeef", "ghost/1.0.0"];
  for (const orphan of orphans) {
    await Deno.mkdir(`${dataDir}/releases/${orphan}`, { recursive: true });
    await Deno.writeTextFile(`${dataDir}/releases/${orphan}/mod.ts`, "export default {};");
  }
  return orphans;
}

/**
 * After a restart: every acknowledged release is listed, each bundle serves its newest committed
 * release, nothing unacknowledged is half there; releases in doubt are retried like a client would.
 */
async function verify(
  engine: EngineProcess,
  dataDir: string,
  ledger: Ledger,
  items: Item[],
  where: string,
): Promise<void> {
  const url = engine.url;
  assert.deepEqual(ledger.refused, [], where);
  const list = await admin<BundleView[]>(url, "GET", "/admin/bundles");
  assert.equal(list.status, 200, where);
  const listed = new Map(list.body.map((b) => [b.id, b]));
  const committed = (it: Item) => listed.get(it.id)?.releases.some((r) => r.version === it.version);
  for (const it of ledger.acked) {
    assert.ok(committed(it), `${where}: acknowledged ${it.id}@${it.version} is listed`);
  }
  for (const bundle of list.body) {
    for (const release of bundle.releases) {
      const it = items.find((i) => i.id === bundle.id && i.version === release.version);
      assert.ok(
        it && (ledger.acked.has(it) || ledger.inDoubt.has(it)),
        `${where}: ${bundle.id}@${release.version} was sent`,
      );
    }
    const newest = items.filter((i) => i.id === bundle.id && committed(i)).at(-1)!;
    assert.deepEqual(
      [bundle.active, bundle.state],
      [newest.version, "ACTIVE"],
      `${where}: ${bundle.id}`,
    );
    const reply = await rpc(url, "Durable", "which", null, { "x-route-id": bundle.id });
    assert.equal(reply.status, 200, `${where}: ${JSON.stringify(reply.body)}`);
    assert.equal(reply.headers.get("x-bundle"), `${bundle.id}@${newest.version}`);
    assert.equal(reply.body.result, newest.word, where);
  }
  assert.doesNotMatch(engine.output(), /Could not restore/, where);
  // A client retries what it never saw acknowledged: created now, or already there.
  for (const it of [...ledger.inDoubt]) {
    const stored = `${dataDir}/releases/${it.id}/${it.version}`;
    if (!committed(it)) assert.equal(await exists(stored), false, `${where}: ${stored} cleaned`);
    const retried = await admin(url, "POST", "/admin/releases", it.archive, {
      "content-type": "application/x-tar",
    });
    assert.equal(
      retried.status,
      committed(it) ? 200 : 201,
      `${where}: retry ${it.id}@${it.version}`,
    );
    ledger.inDoubt.delete(it);
    ledger.acked.add(it);
  }
}

interface Cluster extends AsyncDisposable {
  dataDir: string;
  start(): Promise<EngineProcess>;
}

async function cluster(): Promise<Cluster> {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-durability-" });
  const dataDir = `${root}/.bundlehost`;
  // `--bundles` must be readable by the engine: an empty folder inside its data folder.
  await Deno.mkdir(`${dataDir}/no-bundles`, { recursive: true });
  // Every test bundle provides the service "Durable": the operator policy grants it to all.
  await Deno.writeTextFile(
    `${dataDir}/policy.json`,
    JSON.stringify({ services: { Durable: ["*"] } }),
  );
  let current: EngineProcess | undefined;
  return {
    dataDir,
    async start() {
      await current?.kill9();
      current = await startEngineProcess(dataDir, [
        "--bundles",
        `${dataDir}/no-bundles`,
        "--ceiling",
        `${dataDir}/policy.json`,
      ]);
      return current;
    },
    async [Symbol.asyncDispose]() {
      await current?.kill9();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

Deno.test("Engine keeps every acknowledged release across kill -9 at several points", async () => {
  await using c = await cluster();
  const items = await Promise.all(Array.from({ length: 20 }, (_, i) => item(i)));
  const ledger = new Ledger();
  let next = 0;
  const fire = (engine: EngineProcess, count: number) =>
    Promise.all(items.slice(next, next += count).map((it) => ledger.release(engine.url, it)));

  // 1. One at a time; killed while the next release is in flight.
  let engine = await c.start();
  const first = randomInt(3, 5);
  while (next < first) await fire(engine, 1);
  const inFlight = fire(engine, 1);
  await pause(randomInt(0, 60));
  await engine.kill9();
  await inFlight;
  const orphans = await plantOrphans(c.dataDir);
  // What the restart does, seen through the registry's own report.
  let report: RestoreReport;
  {
    // The same grant as the engine's policy file.
    await using probe = new Engine({
      ...FAST,
      ...sharing({ Durable: ["*"] }),
      dataDir: c.dataDir,
    });
    await probe.setup();
    report = await probe.restore();
  }
  assert.deepEqual(report.failed, []);
  for (const orphan of orphans) assert.ok(report.orphansRemoved.includes(orphan), orphan);
  for (const it of ledger.acked) {
    assert.ok(report.restored.some((r) => r.startsWith(`${it.id}@`)), `${it.id} restored`);
  }
  engine = await c.start();
  await verify(engine, c.dataDir, ledger, items, `after kill 1 (${first} sent)`);

  // 2. Two at a time (distinct ids); killed while a pair is in flight.
  const pairs = randomInt(1, 3);
  for (let p = 0; p < pairs; p++) await fire(engine, 2);
  const pairInFlight = fire(engine, 2);
  await pause(randomInt(0, 80));
  await engine.kill9();
  await pairInFlight;
  await plantOrphans(c.dataDir);
  engine = await c.start();
  for (const orphan of orphans) {
    assert.equal(await exists(`${c.dataDir}/releases/${orphan}`), false);
  }
  await verify(engine, c.dataDir, ledger, items, `after kill 2 (${pairs} pairs)`);

  // 3. Three at once; killed the moment the first is acknowledged.
  const before = ledger.acked.size;
  let settled = false;
  const three = fire(engine, 3).finally(() => settled = true);
  while (ledger.acked.size === before && !settled) await pause(1);
  await engine.kill9();
  await three;
  engine = await c.start();
  await verify(engine, c.dataDir, ledger, items, "after kill 3");

  // The rest, then a last kill with nothing in flight.
  while (next < items.length) await fire(engine, 1);
  await engine.kill9();
  engine = await c.start();
  await verify(engine, c.dataDir, ledger, items, "after the last kill");
  assert.equal(ledger.acked.size, items.length);
  const leftovers = [];
  for await (const id of Deno.readDir(`${c.dataDir}/releases`)) {
    for await (const version of Deno.readDir(`${c.dataDir}/releases/${id.name}`)) {
      leftovers.push(`${id.name}/${version.name}`);
    }
  }
  assert.deepEqual(
    leftovers.sort(),
    items.map((i) => `${i.id}/${i.version}`).sort(),
    "only acknowledged releases are stored",
  );
});

Deno.test("Engine restores a rollback, traffic weights and a stopped bundle after kill -9", async () => {
  await using c = await cluster();
  let engine = await c.start();
  const ledger = new Ledger();
  const a1 = await item(0, "alpha", "1.0.0");
  const releases = [a1, await item(1, "alpha", "2.0.0"), await item(2, "beta", "1.0.0")];
  releases.push(await item(3, "beta", "2.0.0"), await item(4, "gamma", "1.0.0"));
  for (const it of releases) await ledger.release(engine.url, it);
  assert.deepEqual(ledger.refused, []);
  const ok = async (method: string, path: string, body?: unknown) =>
    assert.equal((await admin(engine.url, method, path, body)).status, 200, path);
  await ok("POST", "/admin/bundles/alpha/rollback");
  await ok("PUT", "/admin/bundles/beta/traffic", { weights: { "1.0.0": 1, "2.0.0": 1 } });
  await ok("POST", "/admin/bundles/gamma/stop");
  await engine.kill9();

  engine = await c.start();
  const view = async (id: string) =>
    (await admin<BundleView>(engine.url, "GET", `/admin/bundles/${id}`)).body;
  const which = (id: string) => rpc(engine.url, "Durable", "which", null, { "x-route-id": id });
  const alpha = await view("alpha");
  assert.deepEqual([alpha.active, alpha.state], ["1.0.0", "ACTIVE"]);
  assert.equal((await which("alpha")).body.result, a1.word);

  assert.deepEqual((await view("beta")).weights, { "1.0.0": 1, "2.0.0": 1 });
  const served = new Set<string | null>();
  for (let i = 0; i < 40; i++) served.add((await which("beta")).headers.get("x-bundle"));
  assert.deepEqual([...served].sort(), ["beta@1.0.0", "beta@2.0.0"]);

  const gamma = await view("gamma");
  assert.deepEqual([gamma.desired, gamma.state], ["stopped", "RESOLVED"]);
  assert.equal((await which("gamma")).status, 404);
  await ok("POST", "/admin/bundles/gamma/start");
  assert.equal((await which("gamma")).headers.get("x-bundle"), "gamma@1.0.0");
});
