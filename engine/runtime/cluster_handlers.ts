/**
 * Cluster mode's side of an engine: what it does when another engine changed a bundle, its
 * settings, the governance rules or the owners of names, and what it tells the others it runs
 * (README, "Running a cluster").
 *
 * @module
 */
import type { Store } from "../store/store.ts";
import type { Registry } from "../release/registry.ts";
import type { ClusterHandlers } from "../cluster/cluster_mode.ts";
import type { BundleRuntime } from "./bundle_runtime.ts";
import type { BundleSettings } from "./bundle_settings.ts";

/** The parts of an engine its cluster handlers act on. */
export interface ClusterParts {
  /** The bundle runtime. */
  runtime: BundleRuntime;
  /** The release registry, which converges on a bundle's shared document. */
  registry: Registry;
  /** The bundles' settings, reloaded when another engine changed them. */
  settings: BundleSettings | undefined;
  /** The shared store. */
  store: Store;
  /** Reports a problem. */
  log: ClusterHandlers["log"];
}

/**
 * The handlers cluster mode calls on changes from other engines.
 *
 * @param parts The engine's runtime, registry, settings and store.
 * @returns The handlers.
 */
export function clusterHandlers(parts: ClusterParts): ClusterHandlers {
  const { runtime, registry, settings, store, log } = parts;
  const applyRules = (rules: unknown) => {
    if (rules === undefined || JSON.stringify(rules) === JSON.stringify(runtime.rules)) return;
    try {
      runtime.setRules(rules);
    } catch (error) {
      log("error", `Shared governance rules were refused: ${(error as Error).message}`);
    }
  };
  return {
    bundle: (id) => registry.converge(id),
    settings: (id) => settings?.reload(id) ?? Promise.resolve(),
    rules: applyRules,
    owners: () => runtime.ownership.open(store),
    resync: async () => {
      await runtime.ownership.open(store);
      const ids = new Set((await store.listBundles()).map((b) => b.id));
      for (const entry of runtime.entries()) ids.add(entry.id);
      const failed: string[] = [];
      for (const id of ids) {
        await registry.converge(id).catch((error) => {
          failed.push(id);
          log("error", `Cluster: could not apply ${id}: ${(error as Error).message}`);
        });
      }
      for (const id of ids) {
        await settings?.reload(id).catch((error) => {
          failed.push(`${id} (settings)`);
          log("error", `Cluster: could not apply settings of ${id}: ${(error as Error).message}`);
        });
      }
      applyRules(await store.getRules());
      if (failed.length > 0) throw new Error(`not applied: ${failed.join(", ")}`);
    },
    runs: () =>
      [...runtime.entries()].flatMap((entry) =>
        (runtime.routing(entry.id)?.versions ?? []).map((v) => ({
          id: entry.id,
          version: v.version,
          state: v.state,
        }))
      ),
    log,
  };
}
