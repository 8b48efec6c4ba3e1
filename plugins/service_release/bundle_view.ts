/**
 * A bundle as the admin API shows it (`GET /admin/bundles/:id` and the verbs that answer with it):
 * its durable record (active and desired versions, weights, a phased release and its live
 * progress, history, stored releases) with what the runtime runs of it now.
 *
 * @module
 */
import type { Engine } from "../../engine/engine.ts";
import { NotFoundError } from "../../engine/base/errors.ts";

/**
 * The admin view of one bundle.
 *
 * @param engine The engine.
 * @param id Bundle id.
 * @returns The view; `state` is `RESOLVED` when the runtime holds none of its versions.
 * @throws {NotFoundError} When no release of `id` is recorded.
 */
export async function bundleView(engine: Engine, id: string): Promise<Record<string, unknown>> {
  const entry = await engine.registry.get(id);
  let runtime;
  try {
    runtime = engine.bundle(id);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  const live = engine.registry.canaryProgress(id);
  return {
    id,
    state: runtime?.state ?? "RESOLVED",
    active: entry.record.active,
    desired: entry.record.desired,
    ...(entry.record.weights ? { weights: entry.record.weights } : {}),
    ...(entry.record.canary
      ? { canary: { ...entry.record.canary, ...(live ? { live } : {}) } }
      : {}),
    history: entry.record.history,
    releases: entry.releases,
    revisions: runtime?.revisions ?? [],
    ...(runtime?.governance ? { governance: runtime.governance } : {}),
    logsDropped: runtime?.logsDropped ?? 0,
  };
}
