/**
 * Which plugin hook a bundle's lifecycle transition runs: `bundleInstalled`, `bundleStarted`,
 * `bundleStopped` or `bundleUninstalled` (README, "Plugins").
 *
 * @module
 */
import type { LifecycleEvent } from "../core/lifecycle.ts";
import type { PluginHost } from "./plugin.ts";

/**
 * Runs the parallel bundle-event hook a lifecycle transition stands for, if any.
 *
 * @param plugins The engine's plugins.
 * @param event The transition.
 * @throws {PluginError} For the first plugin (in run order) that failed.
 */
export async function runBundleHook<E>(
  plugins: PluginHost<E>,
  event: LifecycleEvent,
): Promise<void> {
  const info = event.error === undefined
    ? { id: event.bundle, version: event.version }
    : { id: event.bundle, version: event.version, error: event.error };
  if (event.to === "RESOLVED" && event.from === "INSTALLED") {
    await plugins.parallel("bundleInstalled", info);
  } else if (event.to === "ACTIVE") await plugins.parallel("bundleStarted", info);
  else if (event.to === "RESOLVED" && event.from === "STOPPING") {
    await plugins.parallel("bundleStopped", info);
  } else if (event.to === "UNINSTALLED") {
    await plugins.parallel("bundleUninstalled", info);
  }
}
