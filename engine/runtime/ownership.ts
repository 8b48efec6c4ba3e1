/**
 * Ownership of service names and topics: a name belongs to the bundle id that first released it
 * (a service) or first subscribed to it (a topic). Another id may declare it only when the operator
 * policy grants it, so a bundle cannot capture another bundle's traffic or events by declaring the
 * same name. Owners are stored with the registry, so ownership survives a restart; deleting the
 * owner releases its names.
 *
 * @module
 */
import { OwnershipError } from "../base/errors.ts";
import { listed, type OperatorPolicy } from "../manifest/policy.ts";

/** What a bundle declares: the names it would own or share. */
export interface Declared {
  /** Bundle id. */
  id: string;
  /** Service names it provides. */
  services: readonly string[];
  /** Topics it consumes (subscriptions and event maps). */
  topics: readonly string[];
}

/**
 * Where owners are kept; the registry store implements it.
 *
 * @example Read who owns which service
 * ```ts
 * import { MemoryStore, type OwnerStore } from "@bundlehost/sdk";
 *
 * const owners: OwnerStore = new MemoryStore();
 * await owners.putOwners({ "service:HelloService": "hello" });
 * console.log(await owners.getOwners()); // { "service:HelloService": "hello" }
 * ```
 */
export interface OwnerStore {
  /** Every owner: key (`service:<name>` or `topic:<name>`) → bundle id. */
  getOwners(): Promise<Record<string, string>>;
  /** Records new owners, durably. */
  putOwners(owners: Record<string, string>): Promise<void>;
  /** Forgets every name `id` owns, durably. */
  dropOwners(id: string): Promise<void>;
}

type Kind = "service" | "topic";

/** The engine's book of owners, kept in memory and written through to an {@linkcode OwnerStore}. */
export class Ownership {
  readonly #owners = new Map<string, string>();
  readonly #policy: Pick<OperatorPolicy, "services" | "topics">;
  readonly #ruleGrants: (service: string) => readonly string[] | undefined;
  #store?: OwnerStore;

  /**
   * Creates the book.
   *
   * @param policy The operator's grants.
   * @param ruleGrants The admin rules' grants of a service (`providers`), read at each claim.
   */
  constructor(
    policy: Pick<OperatorPolicy, "services" | "topics">,
    ruleGrants: (service: string) => readonly string[] | undefined = () => undefined,
  ) {
    this.#policy = policy;
    this.#ruleGrants = ruleGrants;
  }

  /**
   * Loads the stored owners; called once when the registry store opens.
   *
   * @param store Owner storage.
   */
  async open(store: OwnerStore): Promise<void> {
    this.#store = store;
    for (const [key, id] of Object.entries(await store.getOwners())) this.#owners.set(key, id);
  }

  /**
   * The owner of a service or topic.
   *
   * @param kind `"service"` or `"topic"`.
   * @param name The name.
   * @returns The owning bundle id, if any.
   */
  owner(kind: Kind, name: string): string | undefined {
    return this.#owners.get(`${kind}:${name}`);
  }

  /**
   * Checks a bundle's declarations and claims the names nobody owns yet, in one synchronous step
   * (so two releases cannot both claim a name), then stores the new claims.
   *
   * @param declared What the bundle declares.
   * @throws {OwnershipError} Naming the first name another id owns without a grant, and its owner.
   */
  async claim(declared: Declared): Promise<void> {
    const fresh: Record<string, string> = {};
    const check = (kind: Kind, name: string) => {
      const key = `${kind}:${name}`;
      const owner = this.#owners.get(key);
      if (owner === undefined) fresh[key] = declared.id;
      else if (owner !== declared.id && !this.#granted(kind, name, declared.id)) {
        const section = kind === "service" ? "services" : "topics";
        const admin = kind === "service" ? ` or an admin rule (services.${name}.providers)` : "";
        throw new OwnershipError(
          `Cannot release bundle "${declared.id}": ${kind} "${name}" belongs to bundle "${owner}"; ` +
            `the operator policy must grant it ("${section}": {"${name}": ["${declared.id}"]})${admin}`,
        );
      }
    };
    for (const name of declared.services) check("service", name);
    for (const name of declared.topics) check("topic", name);
    if (Object.keys(fresh).length === 0) return;
    for (const [key, id] of Object.entries(fresh)) this.#owners.set(key, id);
    try {
      await this.#store?.putOwners(fresh);
    } catch (error) {
      for (const key of Object.keys(fresh)) this.#owners.delete(key);
      throw error;
    }
  }

  /**
   * Releases every name a bundle owns (the bundle was deleted).
   *
   * @param id Bundle id.
   */
  async release(id: string): Promise<void> {
    for (const [key, owner] of this.#owners) if (owner === id) this.#owners.delete(key);
    await this.#store?.dropOwners(id);
  }

  /**
   * Releases the names of owners that are no longer bundles (a release that was never
   * acknowledged before a crash); called once the registry is restored.
   *
   * @param bundles Ids of every bundle the registry knows.
   */
  async prune(bundles: ReadonlySet<string>): Promise<void> {
    const gone = new Set([...this.#owners.values()].filter((id) => !bundles.has(id)));
    for (const id of gone) await this.release(id);
  }

  #granted(kind: Kind, name: string, id: string): boolean {
    const grants = kind === "service" ? this.#policy.services : this.#policy.topics;
    if (listed(grants[name], id) || listed(grants["*"], id)) return true;
    return kind === "service" && listed(this.#ruleGrants(name), id);
  }
}
