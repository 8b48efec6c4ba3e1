/**
 * Where the operator's settings of each bundle are kept: config overrides, versioned with a
 * bounded history, and secrets, sealed (encrypted) before they reach the store. The store never
 * sees a secret's plaintext: {@linkcode SealedSecret} is what the engine's secret box made of it.
 * Every {@linkcode Store} holds one as `settings`: {@linkcode KvConfigStore} in `KvStore` (the
 * registry's database) and {@linkcode MemoryConfigStore} in `MemoryStore`.
 *
 * @module
 */

/** Config revisions kept per bundle; older ones are dropped as new ones come. */
export const CONFIG_HISTORY = 20;

/**
 * One revision of a bundle's config overrides.
 *
 * @example The current overrides of a bundle
 * ```ts
 * import { type ConfigRevision, MemoryStore } from "@bundlehost/sdk";
 *
 * const store = new MemoryStore().settings;
 * const revision: ConfigRevision = await store.putConfig("hello", { greeting: "Hi" }, new Date().toISOString());
 * console.log(revision.revision, (await store.getConfig("hello"))?.values); // 1 { greeting: "Hi" }
 * ```
 */
export interface ConfigRevision {
  /** 1 for the first PUT, then one more per PUT. */
  revision: number;
  /** The overrides as the operator sent them (merged over the manifest's defaults when read). */
  values: Record<string, unknown>;
  /** When it was written, ISO time. */
  updatedAt: string;
}

/**
 * A secret as stored: AES-GCM ciphertext and nonce, and which key sealed it.
 *
 * @example Names and times of a bundle's secrets (never their values)
 * ```ts
 * import { MemoryStore, type SealedSecret } from "@bundlehost/sdk";
 *
 * const secrets: SealedSecret[] = await new MemoryStore().settings.listSecrets("hello");
 * console.log(secrets.map((s) => `${s.name} ${s.updatedAt}`));
 * ```
 */
export interface SealedSecret {
  /** Secret name (`bundle.json` `secrets`). */
  name: string;
  /** Nonce, base64. */
  iv: string;
  /** Ciphertext with its tag, base64. */
  data: string;
  /** Id of the key that sealed it (a hash of the key, not the key). */
  keyId: string;
  /** When it was set, ISO time. */
  updatedAt: string;
}

/**
 * Persistent settings of bundles: config overrides with history, and sealed secrets. Writes are
 * durable when they resolve.
 *
 * @example Keep a new config revision and read the history
 * ```ts
 * import { type ConfigStore, MemoryStore } from "@bundlehost/sdk";
 *
 * const store: ConfigStore = new MemoryStore().settings;
 * await store.putConfig("hello", { greeting: "Hi" }, "2026-01-01T00:00:00.000Z");
 * await store.putConfig("hello", { greeting: "Hey" }, "2026-01-02T00:00:00.000Z");
 * console.log((await store.configHistory("hello")).map((r) => r.revision)); // [1, 2]
 * ```
 */
export interface ConfigStore {
  /** The latest config revision of a bundle, if any. */
  getConfig(id: string): Promise<ConfigRevision | undefined>;
  /** The kept config revisions of a bundle, oldest first (at most {@linkcode CONFIG_HISTORY}). */
  configHistory(id: string): Promise<ConfigRevision[]>;
  /**
   * Writes a new config revision (the latest plus one), stamped `updatedAt` (ISO time), and drops
   * the oldest beyond the history.
   */
  putConfig(
    id: string,
    values: Record<string, unknown>,
    updatedAt: string,
  ): Promise<ConfigRevision>;
  /** Every sealed secret of a bundle, ordered by name. */
  listSecrets(id: string): Promise<SealedSecret[]>;
  /** Writes (or replaces) one sealed secret. */
  putSecret(id: string, secret: SealedSecret): Promise<void>;
  /** Removes one secret; resolves `false` when there was none. */
  deleteSecret(id: string, name: string): Promise<boolean>;
  /** Forgets every setting of a bundle (when the bundle is deleted). */
  dropSettings(id: string): Promise<void>;
}

/**
 * {@linkcode ConfigStore} on a Deno KV database (the registry's): keys `["config", id, n]` and
 * `["secret", id, name]`; a new revision is written with a check on the latest one, so two PUTs at
 * once cannot take the same number.
 *
 * @example Settings in their own database
 * ```ts
 * import { KvConfigStore } from "@bundlehost/sdk";
 *
 * const kv = await Deno.openKv(":memory:");
 * const store = new KvConfigStore(kv);
 * await store.putConfig("hello", { greeting: "Hi" }, new Date().toISOString());
 * kv.close();
 * ```
 */
export class KvConfigStore implements ConfigStore {
  readonly #kv: Deno.Kv;

  /**
   * Wraps an open database.
   *
   * @param kv The database (the registry's).
   */
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** The latest config revision of a bundle, if any. */
  async getConfig(id: string): Promise<ConfigRevision | undefined> {
    for await (
      const entry of this.#kv.list<ConfigRevision>({ prefix: ["config", id] }, {
        reverse: true,
        limit: 1,
      })
    ) return entry.value;
    return undefined;
  }

  /** The kept config revisions, oldest first. */
  async configHistory(id: string): Promise<ConfigRevision[]> {
    const out: ConfigRevision[] = [];
    for await (const entry of this.#kv.list<ConfigRevision>({ prefix: ["config", id] })) {
      out.push(entry.value);
    }
    return out;
  }

  /** Writes the next revision atomically, dropping those beyond the history. */
  async putConfig(
    id: string,
    values: Record<string, unknown>,
    updatedAt: string,
  ): Promise<ConfigRevision> {
    for (;;) {
      const kept: Deno.KvEntry<ConfigRevision>[] = [];
      for await (const entry of this.#kv.list<ConfigRevision>({ prefix: ["config", id] })) {
        kept.push(entry);
      }
      const last = kept.at(-1);
      const revision: ConfigRevision = {
        revision: (last?.value.revision ?? 0) + 1,
        values,
        updatedAt,
      };
      const key = ["config", id, revision.revision];
      const op = this.#kv.atomic().check({ key, versionstamp: null }).set(key, revision);
      for (const old of kept.slice(0, Math.max(0, kept.length + 1 - CONFIG_HISTORY))) {
        op.delete(old.key);
      }
      if ((await op.commit()).ok) return revision;
    }
  }

  /** Every sealed secret of a bundle, ordered by name. */
  async listSecrets(id: string): Promise<SealedSecret[]> {
    const out: SealedSecret[] = [];
    for await (const entry of this.#kv.list<SealedSecret>({ prefix: ["secret", id] })) {
      out.push(entry.value);
    }
    return out;
  }

  /** Writes one sealed secret. */
  async putSecret(id: string, secret: SealedSecret): Promise<void> {
    await this.#kv.set(["secret", id, secret.name], secret);
  }

  /** Removes one secret. */
  async deleteSecret(id: string, name: string): Promise<boolean> {
    const key = ["secret", id, name];
    const entry = await this.#kv.get(key);
    if (entry.versionstamp === null) return false;
    await this.#kv.delete(key);
    return true;
  }

  /** Forgets every setting of a bundle, in one atomic write per kind. */
  async dropSettings(id: string): Promise<void> {
    for (const prefix of [["config", id], ["secret", id]]) {
      const op = this.#kv.atomic();
      for await (const entry of this.#kv.list({ prefix })) op.delete(entry.key);
      await op.commit();
    }
  }
}

/**
 * {@linkcode ConfigStore} in memory, for tests and throwaway engines.
 *
 * @example A throwaway settings store
 * ```ts
 * import { MemoryConfigStore } from "@bundlehost/sdk";
 *
 * const store = new MemoryConfigStore();
 * console.log(await store.getConfig("hello")); // undefined
 * ```
 */
export class MemoryConfigStore implements ConfigStore {
  readonly #configs = new Map<string, ConfigRevision[]>();
  readonly #secrets = new Map<string, Map<string, SealedSecret>>();

  /** The latest config revision of a bundle, if any. */
  getConfig(id: string): Promise<ConfigRevision | undefined> {
    return Promise.resolve(structuredClone(this.#configs.get(id)?.at(-1)));
  }

  /** The kept config revisions, oldest first. */
  configHistory(id: string): Promise<ConfigRevision[]> {
    return Promise.resolve(structuredClone(this.#configs.get(id) ?? []));
  }

  /** Writes the next revision, dropping those beyond the history. */
  putConfig(
    id: string,
    values: Record<string, unknown>,
    updatedAt: string,
  ): Promise<ConfigRevision> {
    const kept = this.#configs.get(id) ?? [];
    const revision: ConfigRevision = {
      revision: (kept.at(-1)?.revision ?? 0) + 1,
      values: structuredClone(values),
      updatedAt,
    };
    this.#configs.set(id, [...kept, revision].slice(-CONFIG_HISTORY));
    return Promise.resolve(structuredClone(revision));
  }

  /** Every sealed secret of a bundle, ordered by name. */
  listSecrets(id: string): Promise<SealedSecret[]> {
    const secrets = [...(this.#secrets.get(id)?.values() ?? [])];
    return Promise.resolve(structuredClone(secrets.sort((a, b) => a.name < b.name ? -1 : 1)));
  }

  /** Writes one sealed secret. */
  putSecret(id: string, secret: SealedSecret): Promise<void> {
    const secrets = this.#secrets.get(id) ?? new Map<string, SealedSecret>();
    secrets.set(secret.name, structuredClone(secret));
    this.#secrets.set(id, secrets);
    return Promise.resolve();
  }

  /** Removes one secret. */
  deleteSecret(id: string, name: string): Promise<boolean> {
    return Promise.resolve(this.#secrets.get(id)?.delete(name) ?? false);
  }

  /** Forgets every setting of a bundle. */
  dropSettings(id: string): Promise<void> {
    this.#configs.delete(id);
    this.#secrets.delete(id);
    return Promise.resolve();
  }
}
