/**
 * Cluster mode on this machine (`deno task bench:cluster`): a 3-node `nats-server` cluster and
 * three engines (`main.ts` with `task run`'s flags, each its own process, port and data folder) on
 * loopback, one bundle released through the first.
 *
 * - **Release → all engines**: time from sending `POST /admin/releases` of a new version to its
 *   acknowledgement, and to every engine answering with it (each engine polled every 5 ms); the
 *   difference is what convergence adds (the other engines fetch, vet and start the version).
 *   Medians of the rounds.
 * - **Requests/s with 1, 2, 3 engines**: a closed-loop client (64 concurrent callers in this
 *   process, `POST /rpc/Hello/which`) spreads calls round-robin over the first 1, 2 or 3 engines for
 *   a fixed time; median of the rounds and the ratio to one engine.
 *
 * Everything (NATS servers, engines, their sandboxes and the client) shares this machine's cores:
 * on a 2-core machine more engines add processes competing for the same two cores, so req/s cannot
 * scale and this measures the cost of spreading rather than capacity. Knobs: `--rounds` (3),
 * `--seconds` (4), `--callers` (64).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startNatsCluster } from "../tests/_nats_cluster.ts";
import { startEngineProcess } from "../tests/_server.ts";
import { helloArchive, releaseArchive } from "../tests/_cluster_engines.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    seconds: { type: "string", default: "4" },
    callers: { type: "string", default: "64" },
  },
});
const rounds = Number(args.values.rounds);
const seconds = Number(args.values.seconds);
const callers = Number(args.values.callers);

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function which(url: string): Promise<string> {
  const response = await fetch(`${url}/rpc/Hello/which`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "null",
  });
  const body = await response.json() as { result?: string };
  return response.ok ? String(body.result) : `status ${response.status}`;
}

/** Calls completed per second over `seconds`, round-robin over `urls`. */
async function throughput(urls: string[]): Promise<{ rps: number; errors: number }> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  let next = 0;
  await Promise.all(Array.from({ length: callers }, async () => {
    while (performance.now() < end) {
      const url = urls[next++ % urls.length]!;
      try {
        if ((await which(url)).startsWith("bench@")) done++;
        else errors++;
      } catch {
        errors++;
      }
    }
  }));
  return { rps: done / seconds, errors };
}

const root = await Deno.makeTempDir({ prefix: "bh-cluster-bench-" });
const nats = await startNatsCluster(`${root}/nats`);
const engines = [];
try {
  for (let i = 0; i < 3; i++) {
    const dir = `${root}/engine-${i}`;
    await Deno.mkdir(`${dir}/empty`, { recursive: true });
    engines.push(
      await startEngineProcess(dir, ["--bundles", `${dir}/empty`], {
        BUNDLEHOST_CLUSTER: nats.urls,
      }),
    );
  }
  const urls = engines.map((e) => e.url);

  const reach: number[] = [];
  const acked: number[] = [];
  for (let round = 0; round <= rounds; round++) {
    const version = `1.${round}.0`;
    const archive = await helloArchive("bench", version);
    const started = performance.now();
    const released = await releaseArchive(urls[0]!, archive);
    if (released.status !== 201) throw new Error(`release failed: ${JSON.stringify(released)}`);
    const ackedAt = performance.now() - started;
    const pending = new Set(urls);
    while (pending.size > 0) {
      for (const url of [...pending]) {
        if ((await which(url).catch(() => "")) === `bench@${version}`) pending.delete(url);
      }
      if (performance.now() - started > 60_000) throw new Error("release did not converge");
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 5));
    }
    // The first round also warms every engine's sandbox; it is not counted.
    if (round > 0) {
      reach.push(performance.now() - started);
      acked.push(ackedAt);
    }
  }

  const rps: Record<number, number[]> = { 1: [], 2: [], 3: [] };
  let errors = 0;
  await throughput(urls); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const n of [1, 2, 3]) {
      const result = await throughput(urls.slice(0, n));
      rps[n]!.push(result.rps);
      errors += result.errors;
    }
  }

  const cores = navigator.hardwareConcurrency;
  console.log(`cluster bench: 3 NATS servers, 3 engines, ${callers} callers, ${cores} cores`);
  const after = reach.map((ms, i) => ms - acked[i]!);
  console.log(
    `release acknowledged by the first engine: median ${median(acked).toFixed(0)} ms; ` +
      `all 3 engines serving it: median ${median(reach).toFixed(0)} ms ` +
      `(${reach.map((ms) => ms.toFixed(0)).join(", ")}), ` +
      `${median(after).toFixed(0)} ms after the acknowledgement`,
  );
  const one = median(rps[1]!);
  for (const n of [1, 2, 3]) {
    const m = median(rps[n]!);
    console.log(
      `${n} engine${n > 1 ? "s" : " "}: ${m.toFixed(0).padStart(6)} req/s  (x${
        (m / one).toFixed(2)
      } of one)`,
    );
  }
  console.log(`failed calls: ${errors}`);
  if (cores <= 2) {
    console.log(
      "note: the client, the engines, their sandboxes and NATS share these cores: more engines " +
        "add processes competing for them, so this shows the cost of spreading, not capacity.",
    );
  }
} finally {
  for (const engine of engines) await engine.kill9();
  await nats[Symbol.asyncDispose]();
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
