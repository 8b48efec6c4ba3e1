/**
 * Loads a bundle's entry module in the sandbox and checks that its default export is a bundle. The
 * entry is imported with a non-literal `import()`, so Deno checks the whole bundle graph against
 * the sandbox's own permissions (not the engine's). The sandbox is hardened right before, the last
 * step before bundle code runs: the runtime and its port keep the APIs they captured.
 *
 * @module
 */
import type { GuestMessage } from "../wire/protocol.ts";
import { toWireError } from "../wire/wire_error.ts";
import type { BundleDefinition } from "../../sdk/types.ts";
import {
  collectMethods,
  describeDefinitionError,
  HOOK_NAMES,
  type ServiceEntry,
} from "./bundle_definition.ts";
import { hardenSandbox } from "./harden.ts";

/**
 * Loads the bundle, then tells the engine what it exposes (`ready`) or why it cannot load
 * (`init-failed`).
 *
 * @param entry The entry module's URL.
 * @param post Sends to the engine.
 * @param services Filled with the bundle's services and their methods.
 * @returns The bundle's definition, or `undefined` when it failed to load (the engine was told).
 */
export async function loadBundle(
  entry: string,
  post: (message: GuestMessage) => void,
  services: Map<string, ServiceEntry>,
): Promise<BundleDefinition | undefined> {
  let mod: { default?: unknown };
  try {
    hardenSandbox();
    mod = await import(entry);
  } catch (error) {
    post({ type: "init-failed", error: toWireError(error) });
    return undefined;
  }
  const problem = describeDefinitionError(mod.default);
  if (problem) {
    post({
      type: "init-failed",
      error: { name: "TypeError", message: `Invalid bundle: ${problem}`, source: "runtime" },
    });
    return undefined;
  }
  const definition = mod.default as BundleDefinition;
  const summary: Record<string, string[]> = {};
  for (const [name, target] of Object.entries(definition.services ?? {})) {
    const methods = collectMethods(target);
    services.set(name, { target, methods });
    summary[name] = [...methods.keys()];
  }
  const hooks = HOOK_NAMES.filter((h) => typeof definition.hooks?.[h] === "function");
  post({ type: "ready", services: summary, fetch: typeof definition.fetch === "function", hooks });
  return definition;
}
