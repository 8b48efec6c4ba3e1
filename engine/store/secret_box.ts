/**
 * Secrets at rest: each value is sealed with AES-256-GCM (WebCrypto) under the engine's secrets
 * key, with the bundle id and the secret's name as additional data, so a sealed record copied to
 * another bundle or name does not open. The key comes from `BUNDLEHOST_SECRETS_KEY` (base64 of 32
 * bytes, passed as an option) or else from `secrets.key` in the data folder, which the engine
 * creates with mode 0600. Previous keys open records sealed before a rotation; the engine seals
 * them again under the current key at start (README, "Secrets").
 *
 * @module
 */
import { PolicyError } from "../base/errors.ts";
import type { SealedSecret } from "./config_store.ts";

/** Name of the key file in the data folder. */
export const SECRETS_KEY_FILE = "secrets.key";
const KEY_BYTES = 32;
const IV_BYTES = 12;

/**
 * Where the secrets key comes from.
 *
 * @example A key from the environment and the one it replaces
 * ```ts
 * import type { SecretKeyOptions } from "@bundlehost/sdk";
 *
 * const options: SecretKeyOptions = {
 *   key: Deno.env.get("BUNDLEHOST_SECRETS_KEY"),
 *   previousKeys: [Deno.env.get("BUNDLEHOST_SECRETS_KEY_PREVIOUS") ?? ""].filter(Boolean),
 * };
 * ```
 */
export interface SecretKeyOptions {
  /** The key, base64 of 32 bytes. @default {the key file in the data folder, created if missing} */
  key?: string | undefined;
  /** Keys that may have sealed stored secrets before a rotation, base64 of 32 bytes each. */
  previousKeys?: string[];
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    const binary = atob(text.trim());
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function rawKey(text: string, field: string): Uint8Array<ArrayBuffer> {
  const bytes = fromBase64(text);
  if (bytes === undefined || bytes.byteLength !== KEY_BYTES) {
    throw new PolicyError(
      field,
      `The secrets key (${field}) must be base64 of ${KEY_BYTES} bytes, e.g. the output of "openssl rand -base64 32"`,
    );
  }
  return bytes;
}

interface Key {
  id: string;
  key: CryptoKey;
}

async function importKey(raw: Uint8Array<ArrayBuffer>): Promise<Key> {
  const label = new TextEncoder().encode("bundlehost-secrets-key\0");
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new Uint8Array([...label, ...raw])),
  );
  const id = [...digest.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  return { id, key };
}

/** Reads the key file, or creates it (mode 0600, never overwriting one made at the same time). */
async function keyFileKey(path: string, create: boolean): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound) || !create) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }
  const text = toBase64(crypto.getRandomValues(new Uint8Array(KEY_BYTES)));
  try {
    await Deno.writeTextFile(path, `${text}\n`, { createNew: true, mode: 0o600 });
    await Deno.chmod(path, 0o600);
    return text;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return (await Deno.readTextFile(path)).trim();
    throw error;
  }
}

function additionalData(id: string, name: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`bundlehost-secret\0${id}\0${name}`);
}

/**
 * Seals and opens secret values under the engine's key; see the module documentation.
 *
 * @example Seal and open a value
 * ```ts
 * import { SecretBox } from "@bundlehost/sdk";
 *
 * const box = await SecretBox.open(await Deno.makeTempDir());
 * const sealed = await box.seal("hello", "API_KEY", "s3cret", new Date().toISOString());
 * console.log(await box.unseal("hello", sealed)); // "s3cret"
 * ```
 */
export class SecretBox {
  readonly #current: Key;
  readonly #keys: Map<string, CryptoKey>;

  private constructor(current: Key, previous: Key[]) {
    this.#current = current;
    this.#keys = new Map([...previous, current].map((k) => [k.id, k.key]));
  }

  /**
   * Loads the key: `options.key`, or the key file in `dataDir` (created with mode 0600 when
   * missing). When a key is given and a key file exists too, the file's key is kept as a previous
   * key, so records it sealed are resealed under the given one.
   *
   * @param dataDir The engine's data folder.
   * @param options The key and previous keys.
   * @returns The box.
   * @throws {PolicyError} When a key is not base64 of 32 bytes.
   */
  static async open(dataDir: string, options: SecretKeyOptions = {}): Promise<SecretBox> {
    const path = `${dataDir}/${SECRETS_KEY_FILE}`;
    const given = options.key === undefined || options.key === "" ? undefined : options.key;
    const fromFile = await keyFileKey(path, given === undefined);
    const current = await importKey(rawKey(given ?? fromFile!, given ? "secretsKey" : path));
    const previous: Key[] = [];
    for (const [i, text] of (options.previousKeys ?? []).entries()) {
      previous.push(await importKey(rawKey(text, `previousSecretsKeys[${i}]`)));
    }
    if (given !== undefined && fromFile !== undefined) {
      previous.push(await importKey(rawKey(fromFile, path)));
    }
    return new SecretBox(current, previous);
  }

  /** Id of the current key (a hash of it, safe to show). */
  get keyId(): string {
    return this.#current.id;
  }

  /**
   * Seals a value for one bundle and name.
   *
   * @param id Bundle id.
   * @param name Secret name.
   * @param value Plaintext.
   * @param updatedAt ISO time to stamp on the record.
   * @returns The record to store.
   */
  async seal(id: string, name: string, value: string, updatedAt: string): Promise<SealedSecret> {
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const data = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: additionalData(id, name) },
        this.#current.key,
        new TextEncoder().encode(value),
      ),
    );
    return { name, iv: toBase64(iv), data: toBase64(data), keyId: this.#current.id, updatedAt };
  }

  /**
   * Opens a sealed record of one bundle.
   *
   * @param id Bundle id the record is stored under.
   * @param sealed The record.
   * @returns The plaintext.
   * @throws {Error} When no known key sealed it, or it does not open (tampered, or moved from
   * another bundle or name); the message names the secret, never its value.
   */
  async unseal(id: string, sealed: SealedSecret): Promise<string> {
    const key = this.#keys.get(sealed.keyId);
    if (key === undefined) {
      throw new Error(
        `Secret ${sealed.name} of bundle ${id} was sealed under another key (id ${sealed.keyId}); give that key as a previous secrets key`,
      );
    }
    const iv = fromBase64(sealed.iv);
    const data = fromBase64(sealed.data);
    try {
      if (iv === undefined || data === undefined) throw new Error("not base64");
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv, additionalData: additionalData(id, sealed.name) },
        key,
        data,
      );
      return new TextDecoder().decode(plain);
    } catch {
      throw new Error(`Secret ${sealed.name} of bundle ${id} does not open: the record is damaged`);
    }
  }

  /**
   * Whether a record was sealed under a previous key (and should be sealed again).
   *
   * @param sealed The record.
   * @returns `true` when its key is not the current one.
   */
  stale(sealed: SealedSecret): boolean {
    return sealed.keyId !== this.#current.id;
  }
}
