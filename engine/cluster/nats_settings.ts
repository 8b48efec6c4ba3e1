/**
 * Bundle settings (config revisions and sealed secrets, {@linkcode ConfigStore}) in cluster mode:
 * one document per bundle id in the registry bucket, `settings.<id>`, changed with the same
 * compare-and-set write as the bundle's own document, so a PUT through any engine is durable on a
 * quorum of servers when it resolves and every engine sees it through the bucket's watch
 * (docs/architecture.md, "Cluster mode").
 *
 * @module
 */
import {
  CONFIG_HISTORY,
  type ConfigRevision,
  type ConfigStore,
  type SealedSecret,
} from "../store/config_store.ts";

/** One bundle id's settings document. */
export interface SettingsDocument {
  /** Kept config revisions, oldest first. */
  config: ConfigRevision[];
  /** Sealed secrets by name. */
  secrets: Record<string, SealedSecret>;
}

/** How the settings store reads and changes a key of the registry bucket. */
export interface SettingsBucket {
  /** The JSON value of a key, if any. */
  read(key: string): Promise<unknown>;
  /**
   * Changes a key with compare-and-set: `change` gets the current value and returns the next
   * (`undefined` deletes it); it may run more than once.
   */
  change<T>(key: string, change: (value: T | undefined) => T | undefined): Promise<void>;
}

const PREFIX = "settings.";

/** The key of a bundle id's settings document (ids are hex-encoded when not plain names). */
export function settingsKey(id: string): string {
  if (/^[a-zA-Z0-9_-]{1,200}$/.test(id)) return `${PREFIX}${id}`;
  const hex = Array.from(new TextEncoder().encode(id), (b) => b.toString(16).padStart(2, "0"));
  return `${PREFIX}=${hex.join("")}`;
}

/** The bundle id of a settings key, or `undefined` for another key. */
export function settingsIdOf(key: string): string | undefined {
  if (!key.startsWith(PREFIX)) return undefined;
  const name = key.slice(PREFIX.length);
  if (!name.startsWith("=")) return name;
  const bytes = name.slice(1).match(/../g)?.map((h) => parseInt(h, 16)) ?? [];
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function emptyDocument(): SettingsDocument {
  return { config: [], secrets: {} };
}

function orEmpty(doc: SettingsDocument | undefined): SettingsDocument {
  return doc ?? emptyDocument();
}

function isEmpty(doc: SettingsDocument): boolean {
  return doc.config.length === 0 && Object.keys(doc.secrets).length === 0;
}

/**
 * {@linkcode ConfigStore} on the cluster's registry bucket.
 *
 * @example Settings through a cluster registry store
 * ```ts ignore
 * import { NatsSettings } from "./nats_settings.ts";
 *
 * const settings = new NatsSettings(bucket);
 * await settings.putConfig("hello", { greeting: "Hi" }, new Date().toISOString());
 * ```
 */
export class NatsSettings implements ConfigStore {
  readonly #bucket: SettingsBucket;

  /** @param bucket Reads and compare-and-set writes on the registry bucket. */
  constructor(bucket: SettingsBucket) {
    this.#bucket = bucket;
  }

  async #document(id: string): Promise<SettingsDocument> {
    return orEmpty(await this.#bucket.read(settingsKey(id)) as SettingsDocument | undefined);
  }

  /** The latest config revision of a bundle, if any. */
  async getConfig(id: string): Promise<ConfigRevision | undefined> {
    return (await this.#document(id)).config.at(-1);
  }

  /** The kept config revisions of a bundle, oldest first. */
  async configHistory(id: string): Promise<ConfigRevision[]> {
    return (await this.#document(id)).config;
  }

  /** Writes a new config revision (the latest plus one) and drops the oldest beyond the history. */
  async putConfig(
    id: string,
    values: Record<string, unknown>,
    updatedAt: string,
  ): Promise<ConfigRevision> {
    let written: ConfigRevision | undefined;
    await this.#bucket.change<SettingsDocument>(settingsKey(id), (current) => {
      const doc = orEmpty(current);
      written = { revision: (doc.config.at(-1)?.revision ?? 0) + 1, values, updatedAt };
      return { ...doc, config: [...doc.config, written].slice(-CONFIG_HISTORY) };
    });
    return written!;
  }

  /** Every sealed secret of a bundle, ordered by name. */
  async listSecrets(id: string): Promise<SealedSecret[]> {
    return Object.values((await this.#document(id)).secrets)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Writes (or replaces) one sealed secret. */
  async putSecret(id: string, secret: SealedSecret): Promise<void> {
    await this.#bucket.change<SettingsDocument>(settingsKey(id), (current) => {
      const doc = orEmpty(current);
      return { ...doc, secrets: { ...doc.secrets, [secret.name]: secret } };
    });
  }

  /** Removes one secret; resolves `false` when there was none. */
  async deleteSecret(id: string, name: string): Promise<boolean> {
    let found = false;
    await this.#bucket.change<SettingsDocument>(settingsKey(id), (current) => {
      const doc = orEmpty(current);
      found = Object.hasOwn(doc.secrets, name);
      if (!found) return current;
      const { [name]: _, ...secrets } = doc.secrets;
      const next = { ...doc, secrets };
      return isEmpty(next) ? undefined : next;
    });
    return found;
  }

  /** Forgets every setting of a bundle. */
  async dropSettings(id: string): Promise<void> {
    await this.#bucket.change<SettingsDocument>(settingsKey(id), () => undefined);
  }
}
