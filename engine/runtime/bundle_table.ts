/**
 * The runtime's table of installed bundles: each bundle's versions, the version that serves and
 * the traffic weights, kept together with the index of which bundles provide which service (the
 * broker's route decision reads both). Changing who serves is immediate and not durable; the
 * release registry records intent before it asks.
 *
 * @module
 */
import { BundleStateError, NotFoundError } from "../base/errors.ts";
import type { BundleRouting } from "../core/port.ts";
import type { Revision } from "../core/revision.ts";
import { checkWeights } from "../core/weights.ts";
import type { BundleEntry } from "../broker/router.ts";
import { ProviderIndex } from "../broker/providers.ts";

/** Installed bundles by id, their versions and routing, and the service → providers index. */
export class BundleTable {
  readonly #bundles = new Map<string, BundleEntry>();
  /** Service → bundles declaring it, kept with `#bundles`, for the route decision. */
  readonly #providers = new ProviderIndex();

  /** Every bundle entry. */
  entries(): IterableIterator<BundleEntry> {
    return this.#bundles.values();
  }

  /**
   * One bundle entry.
   *
   * @param id Bundle id.
   * @returns The entry, if installed.
   */
  entry(id: string): BundleEntry | undefined {
    return this.#bundles.get(id);
  }

  /** Bundle ids, in install order. */
  ids(): IterableIterator<string> {
    return this.#bundles.keys();
  }

  /**
   * The bundles declaring a service.
   *
   * @param service Service name.
   * @returns Their entries.
   */
  providers(service: string): Iterable<BundleEntry> {
    return this.#providers.providers(service);
  }

  /** Every service some bundle declares. */
  services(): Iterable<string> {
    return this.#providers.services();
  }

  /**
   * Whether a version is installed.
   *
   * @param id Bundle id.
   * @param version Version.
   * @returns Whether it is.
   */
  has(id: string, version: string): boolean {
    return this.#bundles.get(id)?.revisions.has(version) ?? false;
  }

  /**
   * Adds an installed version; the first version of a bundle becomes its current one.
   *
   * @param revision The version.
   */
  add(revision: Revision): void {
    const { manifest } = revision;
    let entry = this.#bundles.get(manifest.id);
    if (!entry) {
      entry = { id: manifest.id, revisions: new Map() };
      this.#bundles.set(manifest.id, entry);
    }
    entry.revisions.set(manifest.version, revision);
    entry.current ??= manifest.version;
    this.#providers.update(entry);
  }

  /**
   * Forgets an uninstalled version: out of the current version, the weights and the index.
   *
   * @param entry Its bundle's entry.
   * @param revision The version.
   */
  remove(entry: BundleEntry, revision: Revision): void {
    entry.revisions.delete(revision.version);
    if (entry.current === revision.version) entry.current = undefined;
    entry.weights?.delete(revision.version);
    this.#providers.update(entry);
  }

  /**
   * Forgets a bundle whose last version is gone.
   *
   * @param id Bundle id.
   */
  delete(id: string): void {
    this.#bundles.delete(id);
  }

  /**
   * One installed version (the current one by default).
   *
   * @param id Bundle id.
   * @param version Version; the current one when omitted.
   * @returns The version.
   * @throws {NotFoundError} For an unknown bundle or version.
   */
  revision(id: string, version?: string): Revision {
    const entry = this.#bundles.get(id);
    if (!entry) throw new NotFoundError(`No bundle "${id}"`);
    const v = version ?? entry.current;
    const revision = v === undefined ? undefined : entry.revisions.get(v);
    if (!revision) throw new NotFoundError(`No version "${v}" of bundle "${id}"`);
    return revision;
  }

  /**
   * Makes a version the one that serves traffic and clears weights.
   *
   * @param id Bundle id.
   * @param version Version to serve.
   * @param requireActive Refuse unless the version is ACTIVE.
   * @throws {BundleStateError} When `requireActive` and the version is not ACTIVE.
   */
  activate(id: string, version: string, requireActive: boolean): void {
    const revision = this.revision(id, version);
    if (requireActive && revision.state !== "ACTIVE") {
      throw new BundleStateError(
        `Cannot route traffic to ${revision.label}: it is ${revision.state}`,
      );
    }
    const entry = this.#bundles.get(id)!;
    // A warm standby version resumes normal scaling as soon as it gets traffic again.
    revision.setStandby(false);
    entry.current = version;
    entry.weights = undefined;
  }

  /**
   * Splits traffic between versions by weight; `undefined` returns to the current version only.
   *
   * @param id Bundle id.
   * @param weights Version → weight.
   * @throws {TypeError} For malformed weights.
   * @throws {BundleStateError} When a weighted version is not ACTIVE.
   */
  setWeights(id: string, weights: Record<string, number> | undefined): void {
    const entry = this.#bundles.get(id);
    if (!entry) throw new NotFoundError(`No bundle "${id}"`);
    if (weights === undefined) {
      entry.weights = undefined;
      return;
    }
    checkWeights(weights);
    for (const [version, weight] of Object.entries(weights)) {
      const revision = this.revision(id, version);
      if (weight > 0 && revision.state !== "ACTIVE") {
        throw new BundleStateError(
          `Cannot route traffic to ${revision.label}: it is ${revision.state}`,
        );
      }
    }
    for (const [version, weight] of Object.entries(weights)) {
      if (weight > 0) this.revision(id, version).setStandby(false);
    }
    entry.weights = new Map(Object.entries(weights));
  }

  /**
   * How a bundle is routed now.
   *
   * @param id Bundle id.
   * @returns Current version, weights and each version's state; `undefined` when not installed.
   */
  routing(id: string): BundleRouting | undefined {
    const entry = this.#bundles.get(id);
    if (!entry) return undefined;
    const routing: BundleRouting = {
      versions: [...entry.revisions.values()].map((r) => ({ version: r.version, state: r.state })),
    };
    if (entry.current !== undefined) routing.current = entry.current;
    if (entry.weights) routing.weights = Object.fromEntries(entry.weights);
    return routing;
  }
}
