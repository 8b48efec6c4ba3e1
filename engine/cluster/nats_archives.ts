/**
 * Release archives of cluster mode in the NATS Object Store (`bundlehost_releases`, replicated
 * like the registry bucket), one object per content hash. Objects are never replaced: a hash
 * names exactly one set of files, and the engine that installs one checks the hash again.
 *
 * @module
 */
import type { ObjectStore } from "@nats-io/obj";
import { BundlehostError } from "../base/errors.ts";
import type { ReleaseArchives } from "../store/archives.ts";
import type { Availability } from "./availability.ts";

/** Longest a transfer of one archive may take, ms. */
export const ARCHIVE_TIMEOUT_MS = 60_000;

/** Release archives on a NATS object store. */
export class NatsArchives implements ReleaseArchives {
  readonly #os: ObjectStore;
  readonly #nats: Availability;

  /**
   * Wraps an open object store.
   *
   * @param os The archive bucket.
   * @param nats Reachability and call bounds.
   */
  constructor(os: ObjectStore, nats: Availability) {
    this.#os = os;
    this.#nats = nats;
  }

  /** Stores an archive under its hash unless one is stored; resolves once JetStream holds it. */
  async put(hash: string, archive: Uint8Array<ArrayBuffer>): Promise<void> {
    await this.#nats.run(`store archive ${hash}`, async () => {
      const info = await this.#os.info(hash);
      if (info && !info.deleted) return;
      await this.#os.putBlob({ name: hash }, archive);
    }, { boundMs: ARCHIVE_TIMEOUT_MS });
  }

  /** The archive stored under a hash; one larger than `maxBytes` is refused unread. */
  async get(hash: string, maxBytes: number): Promise<Uint8Array<ArrayBuffer> | undefined> {
    return await this.#nats.run(`fetch archive ${hash}`, async () => {
      const info = await this.#os.info(hash);
      if (!info || info.deleted) return undefined;
      if (info.size > maxBytes) {
        throw new BundlehostError(
          "BAD_INPUT",
          `Archive ${hash} holds ${info.size} bytes, past the ${maxBytes} a release may take`,
        );
      }
      const data = await this.#os.getBlob(hash);
      return data ? new Uint8Array(data) : undefined;
    }, { boundMs: ARCHIVE_TIMEOUT_MS });
  }
}
