/**
 * The operator's traffic verbs on a released bundle: roll back to an earlier version, split
 * traffic by hand-set weights, begin a phased release. Each runs under the registry's lock for
 * the bundle, starts what will serve before traffic moves to it, and records the move before the
 * old version is drained.
 *
 * @module
 */
import { BundleStateError, NotFoundError } from "../base/errors.ts";
import { checkWeights } from "../core/weights.ts";
import type { CanaryPlan, CanaryState } from "../store/canary_state.ts";
import { ensureInstalled } from "./installed_release.ts";
import { bundleRecord, endCanary, type RegistryParts } from "./registry_parts.ts";

/**
 * Re-activates an earlier released version (see `Registry.rollback`); call it under the lock.
 *
 * @param parts The registry's parts.
 * @param id Bundle id.
 * @param version Version to go back to; by default the stable one during a phased release, else
 * the one active before the current one.
 * @returns The version now active.
 * @throws {NotFoundError} For an unknown bundle or a version that was never released.
 * @throws {BundleStateError} When there is no earlier version.
 */
export async function rollbackBundle(
  parts: RegistryParts,
  id: string,
  version: string | undefined,
): Promise<string> {
  const record = await bundleRecord(parts, id);
  const inCanary = parts.traffic.canary(id) !== undefined ||
    record.canary?.status === "running";
  const target = version ?? (inCanary ? record.active : undefined) ??
    [...record.history].reverse().find((v) => v !== record.active);
  if (target === undefined) {
    throw new BundleStateError(`Cannot roll back bundle ${id}: no earlier version was active`);
  }
  if (target === record.active && !record.weights) return target;
  await ensureInstalled(parts, id, target);
  if (record.desired === "started") await parts.engine.start(id, target);
  const canary = endCanary(parts, id, `rolled back to ${target}`, record) ?? record.canary;
  await parts.store.commit({
    bundle: {
      id,
      active: target,
      history: [...record.history, target].slice(-50),
      desired: record.desired,
      ...(canary ? { canary } : {}),
      updatedAt: new Date().toISOString(),
    },
  });
  parts.traffic.switchTo(id, target, record.active);
  return target;
}

/**
 * Splits traffic between released versions by weight, starting every weighted version first;
 * call it under the lock.
 *
 * @param parts The registry's parts.
 * @param id Bundle id.
 * @param weights Version → non-negative weight; at least one above zero.
 * @throws {TypeError} For malformed weights.
 * @throws {NotFoundError} For an unknown bundle or a version that was never released.
 */
export async function setBundleTraffic(
  parts: RegistryParts,
  id: string,
  weights: Record<string, number>,
): Promise<void> {
  const record = await bundleRecord(parts, id);
  checkWeights(weights);
  const entries = Object.entries(weights);
  for (const [version] of entries) {
    if (!(await parts.store.getRelease(id, version))) {
      throw new NotFoundError(`Bundle ${id} has no released version "${version}"`);
    }
  }
  for (const [version, weight] of entries) {
    await ensureInstalled(parts, id, version);
    if (weight > 0 && record.desired === "started") {
      await parts.engine.start(id, version);
      parts.traffic.wake(id, version);
    }
  }
  const canary = endCanary(parts, id, "traffic weights were set by hand", record);
  if (record.desired === "started") parts.engine.setWeights(id, weights);
  await parts.store.commit({
    bundle: {
      ...record,
      weights: { ...weights },
      ...(canary ? { canary } : {}),
      updatedAt: new Date().toISOString(),
    },
  });
}

/**
 * Begins a phased release of a released version (see `Registry.canary`); call it under the lock.
 *
 * @param parts The registry's parts.
 * @param id Bundle id.
 * @param version A released version other than the active one.
 * @param plan The resolved steps and thresholds.
 * @returns The initial state; the release goes on in the background.
 * @throws {NotFoundError} For an unknown bundle or a version that was never released.
 * @throws {BundleStateError} When the bundle is stopped, the version is already active, or a
 * phased release is already in progress.
 */
export async function beginCanary(
  parts: RegistryParts,
  id: string,
  version: string,
  plan: CanaryPlan,
): Promise<CanaryState> {
  const record = await bundleRecord(parts, id);
  return await parts.traffic.startCanary(
    record,
    version,
    plan,
    async () => {
      await ensureInstalled(parts, id, version);
    },
  );
}
