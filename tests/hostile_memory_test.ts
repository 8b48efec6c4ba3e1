/**
 * Hostile input, memory (issue 12 item 10): in the default configuration a bundle that asks for
 * the worker tier and allocates without bound cannot abort the engine. Web Workers have no heap
 * cap (docs/architecture.md, "Platform facts", hole 3: a worker that exhausts the V8 heap aborts the whole process), so the
 * default operator policy trusts no bundle with the worker tier: the bundle runs in a child
 * process with a heap cap, and only that child dies.
 *
 * @module
 */
import assert from "node:assert/strict";
import { alive, assertHeld, type BundleSpec, hostileEngine, probe, rssMiB } from "./_hostile.ts";
import { adminJson } from "./_server.ts";
import { waitFor } from "./_helpers.ts";

/** Asks for the worker tier (the manifest default) and allocates until something stops it. */
const HOG: BundleSpec = {
  manifest: {
    id: "hog",
    version: "1.0.0",
    entry: "./mod.ts",
    services: { HogService: "1.0.0" },
    isolation: "worker",
    // A small heap cap keeps this test kind to a shared machine; the default (256) behaves alike.
    scaling: { minWorkers: 1, maxWorkers: 1, memoryMb: 64 },
  },
  files: {
    "mod.ts": `const keep = [];
export default { services: { HogService: {
  eat() {
    for (;;) keep.push(Array.from({ length: 100_000 }, (_, i) => ({ i, s: "x" + i })));
  },
} } };`,
  },
};

interface RevisionView {
  isolation: string;
  isolationReason?: string;
  lastExitReason?: string;
  restarts: number;
  instances: { pid?: number; state: string }[];
}

async function revision(url: string, id: string): Promise<RevisionView> {
  const response = await fetch(`${url}/admin/bundles/${id}`, { headers: adminJson() });
  const view = await response.json() as { revisions: RevisionView[] };
  return view.revisions[0]!;
}

Deno.test("Engine survives a worker-tier bundle that allocates without bound (default policy)", async () => {
  await using engine = await hostileEngine({ bundles: [HOG] });
  const before = await revision(engine.url, "hog");
  assert.equal(before.isolation, "process", "an untrusted bundle runs in the process tier");
  assert.match(before.isolationReason ?? "", /does not trust it/);
  const victim = await revision(engine.url, "victim");
  assert.equal(victim.isolation, "process", "the default policy trusts no bundle");
  const hogPid = before.instances[0]?.pid;
  assert.ok(hogPid !== undefined && alive(hogPid), "the hog runs in its own child process");

  const running = probe(engine.url);
  const reply = await fetch(`${engine.url}/rpc/HogService/eat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
    signal: AbortSignal.timeout(60_000),
  });
  const body = await reply.json() as { error?: { code: string; message: string } };
  // Keep probing a little after the child died: the engine must also hold while it reaps it.
  await new Promise((r) => setTimeout(r, 500));
  const report = await running.stop();

  assert.equal(reply.status, 502, JSON.stringify(body));
  assert.equal(body.error?.code, "BUNDLE_CRASHED");
  assertHeld(report, engine);
  assert.ok(!alive(hogPid), `the hog's child ${hogPid} is gone`);
  // The child dies at its heap cap, or (thrashing in GC just below it) stops answering
  // heartbeats and is SIGKILLed: either way only the child ends, and the pool starts a new one.
  await waitFor(
    async () =>
      /out of memory|unresponsive/.test((await revision(engine.url, "hog")).lastExitReason ?? ""),
    10_000,
    "the hog's exit reason",
  );
  assert.ok(rssMiB(engine.proc.pid) < 400, "the engine did not take the allocation itself");
});
