/**
 * Convergence (cluster mode): makes this engine's runtime match what the shared registry records
 * for one bundle, after another engine changed it: a new release or rollback (the new active
 * version is fetched if needed, started, then traffic moves to it as a local switch does), traffic
 * weights, stop and start, deletion, pruned versions. It reads the record as it is now, not the
 * change that woke it, so late, repeated or reordered notifications all end in the same state,
 * and running it when nothing changed does nothing.
 *
 * @module
 */
import type { RuntimePort } from "../core/port.ts";
import type { Store } from "../store/store.ts";
import type { TrafficControl } from "./traffic.ts";
import { serving } from "./registry_parts.ts";

/** What convergence needs from the registry. */
export interface ConvergeHost {
  /** The bundle runtime. */
  engine: RuntimePort;
  /** The shared store. */
  store: Store;
  /** Warm standbys and phased releases. */
  traffic: TrafficControl;
  /** Installs a released version unless it is (fetching its archive if it has to). */
  ensureInstalled(id: string, version: string): Promise<unknown>;
  /** Removes a deleted bundle's release and data folders. */
  removeFolders(id: string): Promise<void>;
  /** Removes one version's release folder. */
  removeVersion(id: string, version: string): Promise<void>;
}

function sameWeights(a?: Record<string, number>, b?: Record<string, number>): boolean {
  return JSON.stringify(Object.entries(a ?? {}).sort()) ===
    JSON.stringify(Object.entries(b ?? {}).sort());
}

/**
 * Brings one bundle in line with the store; call it under the registry's lock for `id`.
 *
 * @param host The registry's parts.
 * @param id Bundle id.
 */
export async function convergeBundle(host: ConvergeHost, id: string): Promise<void> {
  const { engine, store, traffic } = host;
  const record = await store.getBundle(id);
  const routing = engine.routing(id);
  if (!record) {
    // Deleted elsewhere (or never activated: a staged release has nothing to serve).
    if ((await store.listReleases(id)).length > 0) return;
    if (!routing) return;
    traffic.abortCanary(id, "the bundle was deleted");
    traffic.cancelStandby(id);
    await engine.uninstall(id);
    await engine.disown(id);
    await host.removeFolders(id);
    return;
  }
  // This engine drives a phased release of it: its own controller moves the traffic, unless an
  // operator ended it through another engine.
  const run = traffic.canary(id);
  if (run) {
    const same = record.canary?.status === "running" &&
      record.canary.startedAt === run.state.startedAt &&
      record.canary.version === run.state.version;
    if (same) return;
    traffic.abortCanary(id, record.canary?.reason ?? "changed through another engine");
  }
  const released = new Set((await store.listReleases(id)).map((r) => r.version));
  const wanted = serving(record);
  if (record.desired === "stopped") {
    traffic.cancelStandby(id);
    const running = (routing?.versions ?? []).filter((v) => v.state === "ACTIVE");
    await Promise.all(running.map((v) => engine.stop(id, v.version)));
  } else {
    for (const version of wanted) {
      await host.ensureInstalled(id, version);
      if (engine.stateOf(id, version) !== "ACTIVE") await engine.start(id, version);
      traffic.wake(id, version);
    }
    const now = engine.routing(id);
    if (record.weights) {
      if (now?.current !== record.active) {
        engine.activate(id, record.active, { requireActive: false });
      }
      if (!sameWeights(now?.weights, record.weights)) engine.setWeights(id, record.weights);
    } else if (now?.current !== record.active || now?.weights) {
      traffic.switchTo(id, record.active, now?.current);
    }
  }
  // Versions pruned elsewhere.
  for (const { version } of engine.routing(id)?.versions ?? []) {
    if (released.has(version) || wanted.includes(version)) continue;
    await engine.uninstall(id, version);
    await host.removeVersion(id, version);
  }
}
