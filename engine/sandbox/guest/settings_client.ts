/**
 * `ctx.config` and `ctx.secrets` inside the sandbox: the settings the engine sent with `init` and
 * with each `settings` message. The engine sends only this bundle's config and the secrets its
 * manifest declares; the check here gives a bundle that asks for another name a clear error
 * (the engine never sent that value, so there is nothing else to find).
 *
 * @module
 */
import type { WireSettings } from "../wire/protocol.ts";
import type { BundleSecrets } from "../../sdk/types.ts";

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** The settings a runtime holds, replaced as a whole on each update. */
export interface GuestSettings {
  /** The current config, deeply frozen. */
  readonly config: Readonly<Record<string, unknown>>;
  /** `ctx.secrets`. */
  readonly secrets: BundleSecrets;
  /** Replaces the settings (calls already running keep the config object they read). */
  apply(settings: WireSettings | undefined): void;
}

/**
 * Creates the holder of a runtime's settings, empty until the first {@linkcode GuestSettings.apply}.
 *
 * @returns The holder.
 */
export function makeSettings(): GuestSettings {
  let config: Readonly<Record<string, unknown>> = Object.freeze({});
  let values = new Map<string, string | null>();
  const secrets: BundleSecrets = Object.freeze({
    get(name: string): Promise<string | undefined> {
      if (typeof name !== "string" || !values.has(name)) {
        const declared = [...values.keys()].join(", ") || "none";
        return Promise.reject(
          new TypeError(
            `Secret "${
              String(name).slice(0, 64)
            }" is not declared in bundle.json "secrets" (declared: ${declared})`,
          ),
        );
      }
      return Promise.resolve(values.get(name) ?? undefined);
    },
  });
  return {
    get config() {
      return config;
    },
    secrets,
    apply(settings) {
      if (settings === undefined) return;
      config = deepFreeze(settings.config);
      values = new Map(Object.entries(settings.secrets));
    },
  };
}
