/**
 * The operator's settings of each bundle: config overrides (versioned, merged over the manifest's
 * defaults) and secrets (sealed at rest by the {@linkcode SecretBox}, held open in the engine's
 * memory only). A change is stored durably first, then sent to every instance of the bundle,
 * which runs `onRefresh` (README, "Config" and "Secrets"). Secret values leave this class only
 * in {@linkcode BundleSettings.snapshot}, to the bundle's own sandboxes: never in a return value
 * of the admin verbs, an error, a log record or an event.
 *
 * @module
 */
import { BundlehostError, NotFoundError } from "../base/errors.ts";
import type { Clock } from "../base/clock.ts";
import {
  configProblem,
  type JsonObject,
  mergeConfig,
  SECRET_NAME_PATTERN,
} from "../manifest/settings_schema.ts";
import type { ConfigRevision, ConfigStore } from "../store/config_store.ts";
import type { SecretBox } from "../store/secret_box.ts";
import { KeyedQueue } from "../base/keyed_queue.ts";

/** Largest secret value, bytes of UTF-8. */
export const MAX_SECRET_BYTES = 8 * 1024;

/**
 * What a version's manifest says about settings: its config defaults and declared secrets.
 *
 * @example The settings part of a manifest
 * ```ts
 * import type { SettingsDefaults } from "@bundlehost/sdk";
 *
 * const defaults: SettingsDefaults = { id: "shop", version: "1.0.0", config: { currency: "EUR" }, secrets: ["PSP_KEY"] };
 * ```
 */
export interface SettingsDefaults {
  /** Bundle id. */
  id: string;
  /** Version. */
  version: string;
  /** `bundle.json` `config`. */
  config: Record<string, unknown>;
  /** `bundle.json` `secrets`. */
  secrets: string[];
}

/**
 * The settings one version's instances get: `ctx.config`, and each declared secret's value.
 *
 * @example What a sandbox is sent
 * ```ts
 * import type { SettingsSnapshot } from "@bundlehost/sdk";
 *
 * const snapshot: SettingsSnapshot = { config: { currency: "EUR" }, secrets: { PSP_KEY: null } };
 * ```
 */
export interface SettingsSnapshot {
  /** The merged config. */
  config: Record<string, unknown>;
  /** Declared name → value, or `null` when not set. */
  secrets: Record<string, string | null>;
}

/**
 * A bundle's config as the admin API shows it.
 *
 * @example Read a bundle's config
 * ```ts
 * import { type BundleConfigView, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * await engine.release({ path: "./bundles/notifier" });
 * const view: BundleConfigView = await engine.settings.getConfig("notifier");
 * console.log(view.config, view.revision);
 * ```
 */
export interface BundleConfigView {
  /** The merged config the active version's instances get (`ctx.config`). */
  config: Record<string, unknown>;
  /** The operator's overrides (`{}` before the first PUT). */
  overrides: Record<string, unknown>;
  /** The overrides' revision (0 before the first PUT). */
  revision: number;
  /** Version whose defaults were merged. */
  version: string;
}

/**
 * One secret as the admin API lists it: its name and when it was set, never its value.
 *
 * @example List a bundle's secrets
 * ```ts
 * import { createEngine, type SecretListing } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const secrets: SecretListing[] = await engine.settings.listSecrets("notifier").catch(() => []);
 * console.log(secrets.map((s) => s.name));
 * ```
 */
export interface SecretListing {
  /** Name. */
  name: string;
  /** Whether an installed version declares it. */
  declared: boolean;
  /** Whether a value is set. */
  set: boolean;
  /** When it was set, ISO time (absent when not set). */
  updatedAt?: string;
}

/**
 * What {@linkcode BundleSettings} needs from the engine (the engine builds it in `setup`).
 *
 * @example A settings service over a memory store, outside an engine
 * ```ts
 * import { BundleSettings, MemoryStore, SecretBox, type SettingsHost, systemClock } from "@bundlehost/sdk";
 *
 * const host: SettingsHost = {
 *   store: new MemoryStore().settings,
 *   box: await SecretBox.open(await Deno.makeTempDir()),
 *   clock: systemClock,
 *   exists: (id) => Promise.resolve(id === "shop"),
 *   manifests: () => [{ id: "shop", version: "1.0.0", config: { currency: "EUR" }, secrets: [] }],
 *   changed: () => Promise.resolve(),
 *   log: (level, message) => console.log(level, message),
 * };
 * const settings = new BundleSettings(host);
 * console.log((await settings.putConfig("shop", { currency: "CHF" })).config);
 * ```
 */
export interface SettingsHost {
  /** Durable storage. */
  store: ConfigStore;
  /** Seals and opens secret values. */
  box: SecretBox;
  /** Time of the records. */
  clock: Clock;
  /** Whether the registry holds the bundle. */
  exists(id: string): Promise<boolean>;
  /** Manifests of the installed versions of a bundle, the active one first. */
  manifests(id: string): SettingsDefaults[];
  /** Sends the new settings to the bundle's instances. */
  changed(id: string): Promise<void>;
  /** An engine log line (names only, never a value). */
  log(level: "info" | "error", message: string): void;
}

interface OpenSecret {
  value: string;
  updatedAt: string;
}

/**
 * The engine's settings service; reach it as `engine.settings`. See the module documentation.
 *
 * @example Override a config key and set a secret
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * await engine.release({ path: "./bundles/notifier" });
 * await engine.settings.putConfig("notifier", { sender: "Shop" });
 * await engine.settings.putSecret("notifier", "NOTIFIER_API_KEY", "k-123");
 * ```
 */
export class BundleSettings {
  readonly #host: SettingsHost;
  readonly #overrides = new Map<string, ConfigRevision>();
  readonly #secrets = new Map<string, Map<string, OpenSecret>>();
  readonly #queues = new KeyedQueue();

  /**
   * Creates the service; {@linkcode BundleSettings.load} fills it.
   *
   * @param host Storage, key, clock and engine links.
   */
  constructor(host: SettingsHost) {
    this.#host = host;
  }

  /**
   * Loads the settings of the given bundles, opening every secret; a secret sealed under a
   * previous key is sealed again under the current one. A secret that does not open is logged
   * by name and left unset.
   *
   * @param ids Bundle ids in the registry.
   */
  async load(ids: string[]): Promise<void> {
    const { store, box } = this.#host;
    for (const id of ids) {
      const config = await store.getConfig(id);
      if (config) this.#overrides.set(id, config);
      const open = new Map<string, OpenSecret>();
      for (const sealed of await store.listSecrets(id)) {
        try {
          const value = await box.unseal(id, sealed);
          open.set(sealed.name, { value, updatedAt: sealed.updatedAt });
          if (box.stale(sealed)) {
            await store.putSecret(id, await box.seal(id, sealed.name, value, sealed.updatedAt));
            this.#host.log("info", `Sealed secret ${sealed.name} of ${id} under the new key`);
          }
        } catch (error) {
          this.#host.log("error", (error as Error).message);
        }
      }
      if (open.size > 0) this.#secrets.set(id, open);
    }
  }

  /**
   * The settings an instance of this version gets: its defaults with the overrides merged in, and
   * the values of the secrets it declares (`null` when not set).
   *
   * @param manifest The version's manifest.
   * @returns Settings for the sandbox.
   */
  snapshot(manifest: SettingsDefaults): SettingsSnapshot {
    const overrides = this.#overrides.get(manifest.id)?.values ?? {};
    const open = this.#secrets.get(manifest.id);
    const secrets: Record<string, string | null> = {};
    for (const name of manifest.secrets) secrets[name] = open?.get(name)?.value ?? null;
    return { config: mergeConfig(manifest.config, overrides), secrets };
  }

  /**
   * Reads one bundle's settings from the store again, and updates its instances when they changed
   * (cluster mode: another engine wrote them).
   *
   * @param id Bundle id.
   */
  reload(id: string): Promise<void> {
    return this.#serial(id, async () => {
      const { store, box } = this.#host;
      const before = JSON.stringify(this.#snapshotOf(id));
      const config = await store.getConfig(id);
      if (config) this.#overrides.set(id, config);
      else this.#overrides.delete(id);
      const open = new Map<string, OpenSecret>();
      for (const sealed of await store.listSecrets(id)) {
        try {
          open.set(sealed.name, {
            value: await box.unseal(id, sealed),
            updatedAt: sealed.updatedAt,
          });
        } catch (error) {
          this.#host.log("error", (error as Error).message);
        }
      }
      if (open.size > 0) this.#secrets.set(id, open);
      else this.#secrets.delete(id);
      if (JSON.stringify(this.#snapshotOf(id)) !== before) await this.#host.changed(id);
    });
  }

  /** What this engine holds for a bundle, to tell whether a reload changed anything. */
  #snapshotOf(id: string): unknown {
    const secrets = [...(this.#secrets.get(id)?.entries() ?? [])];
    return { config: this.#overrides.get(id), secrets };
  }

  /**
   * Forgets a deleted bundle's settings (the registry drops them from the store).
   *
   * @param id Bundle id.
   */
  forget(id: string): void {
    this.#overrides.delete(id);
    this.#secrets.delete(id);
  }

  /**
   * The merged config of the active version and the overrides.
   *
   * @param id Bundle id.
   * @returns The config view.
   * @throws {NotFoundError} For a bundle the registry does not hold.
   */
  async getConfig(id: string): Promise<BundleConfigView> {
    const manifest = await this.#active(id);
    const current = this.#overrides.get(id);
    const overrides = current?.values ?? {};
    return {
      config: mergeConfig(manifest?.config ?? {}, overrides),
      overrides: structuredClone(overrides),
      revision: current?.revision ?? 0,
      version: manifest?.version ?? "",
    };
  }

  /**
   * The kept revisions of a bundle's overrides, oldest first.
   *
   * @param id Bundle id.
   * @returns The revisions.
   * @throws {NotFoundError} For a bundle the registry does not hold.
   */
  async configHistory(id: string): Promise<ConfigRevision[]> {
    await this.#active(id);
    return await this.#host.store.configHistory(id);
  }

  /**
   * Replaces a bundle's overrides with a new revision, then sends the merged config to every
   * instance (`onRefresh` runs).
   *
   * @param id Bundle id.
   * @param overrides A JSON object, merged over each version's defaults (RFC 7386).
   * @returns The new config view.
   * @throws {NotFoundError} For a bundle the registry does not hold.
   * @throws {BundlehostError} `BAD_INPUT` for a value that is not an object, too large or too deep
   * (the merged result too).
   */
  putConfig(id: string, overrides: unknown): Promise<BundleConfigView> {
    return this.#serial(id, async () => {
      const manifests = await this.#installed(id);
      const problem = configProblem(overrides);
      if (problem !== undefined) throw badInput(`Config overrides of bundle ${id} ${problem}`);
      for (const manifest of manifests) {
        const merged = configProblem(mergeConfig(manifest.config, overrides as JsonObject));
        if (merged !== undefined) {
          throw badInput(`Config of bundle ${id}@${manifest.version} merged ${merged}`);
        }
      }
      const at = new Date(this.#host.clock.now()).toISOString();
      const revision = await this.#host.store.putConfig(id, overrides as JsonObject, at);
      this.#overrides.set(id, revision);
      await this.#host.changed(id);
      return await this.getConfig(id);
    });
  }

  /**
   * The secrets of a bundle: every name an installed version declares, and any set.
   *
   * @param id Bundle id.
   * @returns Names, whether set, when; never values.
   * @throws {NotFoundError} For a bundle the registry does not hold.
   */
  async listSecrets(id: string): Promise<SecretListing[]> {
    const declared = new Set((await this.#installed(id)).flatMap((m) => m.secrets));
    const open = this.#secrets.get(id) ?? new Map<string, OpenSecret>();
    const names = [...new Set([...declared, ...open.keys()])].sort();
    return names.map((name) => {
      const secret = open.get(name);
      const listing: SecretListing = {
        name,
        declared: declared.has(name),
        set: secret !== undefined,
      };
      if (secret) listing.updatedAt = secret.updatedAt;
      return listing;
    });
  }

  /**
   * Sets (or rotates) a secret: sealed and stored, then sent to every instance of the versions
   * that declare it (`onRefresh` runs).
   *
   * @param id Bundle id.
   * @param name A name an installed version declares in `bundle.json` `secrets`.
   * @param value The value.
   * @returns Its listing.
   * @throws {NotFoundError} For a bundle the registry does not hold.
   * @throws {BundlehostError} `BAD_INPUT` for a bad or undeclared name or a value that is not a
   * string; `TOO_LARGE` for a value over {@linkcode MAX_SECRET_BYTES}.
   */
  putSecret(id: string, name: string, value: unknown): Promise<SecretListing> {
    return this.#serial(id, async () => {
      await this.#declared(id, name);
      if (typeof value !== "string") throw badInput(`Secret ${name}: "value" must be a string`);
      const bytes = new TextEncoder().encode(value).byteLength;
      if (bytes > MAX_SECRET_BYTES) {
        throw new BundlehostError(
          "TOO_LARGE",
          `Secret ${name} is ${bytes} bytes, more than ${MAX_SECRET_BYTES}`,
        );
      }
      const at = new Date(this.#host.clock.now()).toISOString();
      await this.#host.store.putSecret(id, await this.#host.box.seal(id, name, value, at));
      const open = this.#secrets.get(id) ?? new Map<string, OpenSecret>();
      open.set(name, { value, updatedAt: at });
      this.#secrets.set(id, open);
      await this.#host.changed(id);
      return { name, declared: true, set: true, updatedAt: at };
    });
  }

  /**
   * Removes a secret; the bundle's instances then read `undefined` for it.
   *
   * @param id Bundle id.
   * @param name Secret name.
   * @throws {NotFoundError} For a bundle the registry does not hold, or no such secret set.
   */
  deleteSecret(id: string, name: string): Promise<void> {
    return this.#serial(id, async () => {
      await this.#installed(id);
      if (!SECRET_NAME_PATTERN.test(name)) {
        throw badInput(`Invalid secret name "${name.slice(0, 64)}"`);
      }
      const removed = await this.#host.store.deleteSecret(id, name);
      const held = this.#secrets.get(id)?.delete(name) ?? false;
      if (!removed && !held) throw new NotFoundError(`Bundle ${id} has no secret ${name} set`);
      await this.#host.changed(id);
    });
  }

  /** Runs one change of a bundle's settings after the ones before it: store and memory agree. */
  #serial<T>(id: string, work: () => Promise<T>): Promise<T> {
    return this.#queues.run(id, work);
  }

  async #installed(id: string): Promise<SettingsDefaults[]> {
    if (!(await this.#host.exists(id))) throw new NotFoundError(`Bundle ${id} is not released`);
    return this.#host.manifests(id);
  }

  async #active(id: string): Promise<SettingsDefaults | undefined> {
    return (await this.#installed(id))[0];
  }

  async #declared(id: string, name: string): Promise<void> {
    const manifests = await this.#installed(id);
    if (!SECRET_NAME_PATTERN.test(name)) {
      throw badInput(
        `Invalid secret name "${
          name.slice(0, 64)
        }": upper-case letters, digits and _, starting with a letter`,
      );
    }
    const declared = [...new Set(manifests.flatMap((m) => m.secrets))];
    if (!declared.includes(name)) {
      throw badInput(
        `Bundle ${id} does not declare secret ${name} in bundle.json "secrets" (declared: ${
          declared.join(", ") || "none"
        })`,
      );
    }
  }
}

function badInput(message: string): BundlehostError {
  return new BundlehostError("BAD_INPUT", message);
}
