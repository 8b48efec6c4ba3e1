/**
 * The soak benchmark's release driver: every few seconds a new version of one of the good bundles
 * (taking turns) is released through the admin API, and half a period later rolled back to the
 * previous version, while the fixed-rate load keeps calling it.
 *
 * @module
 */
import { type GoodBundle, writeGoodBundle } from "./bundles.ts";

/** One admin operation and what it answered. */
export interface AdminOp {
  /** `release` or `rollback`. */
  kind: "release" | "rollback";
  /** Bundle id. */
  bundle: string;
  /** The version released, or the version rolled back from. */
  version: string;
  /** Seconds after the soak started. */
  atS: number;
  /** HTTP status (0 when the request itself failed). */
  status: number;
  /** Request → reply, ms. */
  ms: number;
  /** Whether it did what was asked (release ACTIVE, rollback 2xx). */
  ok: boolean;
  /** The reply (or error) when not ok, shortened. */
  detail?: string;
}

/** Calls the admin API with the engine's token (`BundlehostServer.admin`). */
export type Admin = (method: string, path: string, body?: unknown) => Promise<Response>;

function stateOf(body: string): unknown {
  try {
    return (JSON.parse(body) as { state?: unknown }).state;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * Releases and rolls back until `until` (a `performance.now()` time).
 *
 * @param admin Admin API caller.
 * @param bundles The good bundles (they take turns).
 * @param dir Where new versions are written (readable by the engine).
 * @param everyMs Period between two releases, ms (the rollback comes half-way).
 * @param until End time on `performance.now()`.
 * @returns Every operation, in order.
 */
export async function driveReleases(
  admin: Admin,
  bundles: readonly GoodBundle[],
  dir: string,
  everyMs: number,
  until: number,
): Promise<AdminOp[]> {
  const ops: AdminOp[] = [];
  const start = performance.now();
  const patch = new Map(bundles.map((b) => [b.id, 0]));
  const run = async (
    kind: AdminOp["kind"],
    bundle: string,
    version: string,
    call: () => Promise<Response>,
    accept: (status: number, body: string) => boolean,
  ) => {
    const started = performance.now();
    const op: AdminOp = {
      kind,
      bundle,
      version,
      atS: (started - start) / 1000,
      status: 0,
      ms: 0,
      ok: false,
    };
    try {
      const response = await call();
      const body = await response.text();
      op.status = response.status;
      op.ok = accept(response.status, body);
      if (!op.ok) op.detail = body.slice(0, 300);
    } catch (error) {
      op.detail = String((error as Error).message).slice(0, 300);
    }
    op.ms = performance.now() - started;
    ops.push(op);
  };
  for (let turn = 0;; turn++) {
    const releaseAt = start + (turn + 1) * everyMs;
    if (releaseAt + everyMs / 2 >= until) break;
    await sleep(releaseAt - performance.now());
    const bundle = bundles[turn % bundles.length]!;
    const n = patch.get(bundle.id)! + 1;
    patch.set(bundle.id, n);
    const version = `1.0.${n}`;
    const folder = await writeGoodBundle(dir, bundle, version);
    await run(
      "release",
      bundle.id,
      version,
      () => admin("POST", "/admin/releases", { path: folder }),
      (status, body) => status === 201 && stateOf(body) === "ACTIVE",
    );
    await sleep(releaseAt + everyMs / 2 - performance.now());
    await run(
      "rollback",
      bundle.id,
      version,
      () => admin("POST", `/admin/bundles/${bundle.id}/rollback`, {}),
      (status) => status >= 200 && status < 300,
    );
  }
  return ops;
}
