/**
 * Which bundles may provide a service: an index kept as revisions come and go, so that a route
 * decision looks at the providers of the called service only, not at every installed bundle (a
 * thousand idle bundles must not slow a call down; docs/architecture.md, "Density").
 *
 * @module
 */
import type { BundleEntry } from "./router.ts";

const NONE: ReadonlySet<BundleEntry> = new Set();

/**
 * Service name → the bundles with at least one installed revision that declares it (any version,
 * any state, mock or not: the router filters those). A superset of the ones that serve it.
 *
 * @example Index two bundles
 * ```ts
 * import { ProviderIndex } from "./providers.ts";
 * import type { BundleEntry } from "./router.ts";
 *
 * const index = new ProviderIndex();
 * const entry = { id: "a", revisions: new Map() } as BundleEntry;
 * index.update(entry);
 * console.log([...index.providers("Greeter")].length); // 0: entry "a" has no revision yet
 * ```
 */
export class ProviderIndex {
  readonly #byService = new Map<string, Set<BundleEntry>>();
  readonly #servicesOf = new Map<BundleEntry, Set<string>>();

  /**
   * Re-reads the services an entry's revisions declare; call it after adding or removing a
   * revision. An entry without revisions leaves the index.
   *
   * @param entry The bundle entry.
   */
  update(entry: BundleEntry): void {
    const before = this.#servicesOf.get(entry) ?? new Set<string>();
    const now = new Set<string>();
    for (const revision of entry.revisions.values()) {
      for (const service of Object.keys(revision.manifest.services)) now.add(service);
    }
    for (const service of before) {
      if (now.has(service)) continue;
      const set = this.#byService.get(service);
      set?.delete(entry);
      if (set?.size === 0) this.#byService.delete(service);
    }
    for (const service of now) {
      if (before.has(service)) continue;
      let set = this.#byService.get(service);
      if (!set) this.#byService.set(service, set = new Set());
      set.add(entry);
    }
    if (now.size === 0) this.#servicesOf.delete(entry);
    else this.#servicesOf.set(entry, now);
  }

  /**
   * The bundles that may provide a service.
   *
   * @param service Service name.
   * @returns Those entries (empty when none).
   */
  providers(service: string): Iterable<BundleEntry> {
    return this.#byService.get(service) ?? NONE;
  }

  /** The names of the services that have at least one provider. */
  services(): Iterable<string> {
    return this.#byService.keys();
  }

  /** Services with at least one provider. */
  get size(): number {
    return this.#byService.size;
  }
}
