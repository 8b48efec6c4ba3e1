/**
 * Cluster-mode test harness: a real 3-node `nats-server` cluster and real engines (`main.ts` in
 * child processes, started as `deno task run` starts them, each with its own port and data
 * folder, all with `BUNDLEHOST_CLUSTER` naming the NATS servers), and the client helpers the
 * cluster tests share: versioned test bundles, a call that says which version served, and polling
 * with a generous bound.
 *
 * @module
 */
import { packTar } from "modern-tar";
import { admin, rpc } from "./_http.ts";
import { type EngineProcess, startEngineProcess } from "./_server.ts";
import { type NatsCluster, startNatsCluster } from "./_nats_cluster.ts";

/** A NATS cluster and engines on it; `await using` stops them all and removes their folders. */
export interface ClusterRig extends AsyncDisposable {
  /** The NATS servers. */
  nats: NatsCluster;
  /** The engines, in start order. */
  engines: EngineProcess[];
  /** Engine `i`'s data folder. */
  dataDir(i: number): string;
  /** Starts engine `i` again (after a kill) on its data folder; replaces `engines[i]`. */
  restart(i: number): Promise<EngineProcess>;
}

/**
 * Starts a 3-node NATS cluster and `count` engines in cluster mode.
 *
 * @param count Engines.
 * @param env More environment for every engine (e.g. the shared secrets key).
 * @returns The rig.
 */
export async function startClusterRig(
  count = 3,
  env: Record<string, string> = {},
): Promise<ClusterRig> {
  const root = await Deno.makeTempDir({ prefix: "bh-cluster-" });
  const nats = await startNatsCluster(`${root}/nats`);
  const dataDir = (i: number) => `${root}/engine-${i}`;
  const start = async (i: number) => {
    await Deno.mkdir(`${dataDir(i)}/empty`, { recursive: true });
    return await startEngineProcess(dataDir(i), ["--bundles", `${dataDir(i)}/empty`], {
      BUNDLEHOST_CLUSTER: nats.urls,
      ...env,
    });
  };
  const engines: EngineProcess[] = [];
  try {
    // One after another: the first creates the buckets, and two cores are shared.
    for (let i = 0; i < count; i++) engines.push(await start(i));
  } catch (error) {
    for (const engine of engines) await engine.kill9();
    await nats[Symbol.asyncDispose]();
    throw error;
  }
  return {
    nats,
    engines,
    dataDir,
    async restart(i) {
      await engines[i]!.kill9();
      engines[i] = await start(i);
      return engines[i]!;
    },
    async [Symbol.asyncDispose]() {
      for (const engine of engines) await engine.kill9();
      await nats[Symbol.asyncDispose]();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * A test bundle `id@version` whose `Hello.which` answers `id@version`, as a tar archive.
 *
 * @param id Bundle id.
 * @param version Version.
 * @returns The archive.
 */
export async function helloArchive(id: string, version: string): Promise<Uint8Array<ArrayBuffer>> {
  const files: Record<string, string> = {
    "bundle.json": JSON.stringify({ id, version, services: { Hello: "1.0.0" } }),
    "mod.ts": `export default { services: { Hello: { which: () => "${id}@${version}" } } };`,
  };
  return await packTar(
    Object.entries(files).map(([name, body]) => ({ header: { name, size: body.length }, body })),
  );
}

/**
 * Releases an archive through one engine's admin API.
 *
 * @param url Engine base URL.
 * @param archive The archive.
 * @returns Status and body.
 */
export async function releaseArchive(
  url: string,
  archive: Uint8Array<ArrayBuffer>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await admin(url, "POST", "/admin/releases", archive, {
    "content-type": "application/x-tar",
  });
  return { status: reply.status, body: reply.body as Record<string, unknown> };
}

/**
 * Which version an engine serves `Hello.which` with: `id@version`, or `status <n>`.
 *
 * @param url Engine base URL.
 * @returns The answer.
 */
export async function served(url: string): Promise<string> {
  try {
    const reply = await rpc(url, "Hello", "which", null);
    return reply.status === 200 ? String(reply.body.result) : `status ${reply.status}`;
  } catch (error) {
    return `unreachable (${(error as Error).message})`;
  }
}

/**
 * Polls until every engine's answer satisfies `done`; fails after `boundMs` with the last answers.
 *
 * @param urls Engines.
 * @param done What every answer must be.
 * @param what Shown when it fails.
 * @param boundMs Generous bound (never a speed claim).
 * @param ask What each engine answers (default: which version serves `Hello.which`).
 * @returns How long it took, ms.
 */
export async function untilAll(
  urls: string[],
  done: (answer: string) => boolean,
  what: string,
  boundMs = 30_000,
  ask: (url: string) => Promise<string> = served,
): Promise<number> {
  const started = performance.now();
  let answers: string[] = [];
  while (performance.now() - started < boundMs) {
    answers = await Promise.all(urls.map(ask));
    if (answers.every(done)) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not converged after ${boundMs} ms: ${answers.join(" | ")}`);
}
