/**
 * Label values from outside, folded: a service or method name that reaches a metric from an
 * unauthenticated request (`/rpc/<anything>/<anything>`) becomes a label value only when an
 * installed bundle declares it; any other name is {@linkcode UNKNOWN_LABEL}. HTTP methods outside
 * the standard set become `_OTHER`, as the OpenTelemetry semantic conventions say.
 *
 * @module
 */
import type { EngineStatus } from "../../engine/engine.ts";

/** The one label value of every name no installed bundle declares. */
export const UNKNOWN_LABEL = "_unknown";

const HTTP_METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
]);

/**
 * The `http.request.method` label of a request method.
 *
 * @param method The method as received.
 * @returns The method when standard, else `_OTHER`.
 */
export function httpMethodLabel(method: string): string {
  return HTTP_METHODS.has(method) ? method : "_OTHER";
}

/** What the label index holds. */
interface Index {
  /** Service → method names a ready instance exports. */
  names: Map<string, Set<string>>;
  /** Installed bundle ids. */
  bundles: Set<string>;
}

/**
 * The service and method names installed bundles declare, and their ids, read from one
 * `engine.status()` (each revision's services, and the methods its ready instances export) and
 * rebuilt only after {@linkcode DeclaredNames.invalidate} (the plugin calls it on every lifecycle
 * event).
 */
export class DeclaredNames {
  readonly #status: () => EngineStatus | undefined;
  #cache?: Index;

  /**
   * Creates the index.
   *
   * @param status Reads the engine's status; `undefined` while no engine is attached.
   */
  constructor(status: () => EngineStatus | undefined) {
    this.#status = status;
  }

  /** Forgets the index; the next lookup rebuilds it. */
  invalidate(): void {
    this.#cache = undefined;
  }

  /**
   * The service label of a fetch call (`/b/:id/*`): `/b/<id>` for an installed bundle, else
   * {@linkcode UNKNOWN_LABEL}.
   *
   * @param id Bundle id.
   * @returns The label value.
   */
  fetchService(id: string): string {
    return this.#index().bundles.has(id) ? `/b/${id}` : UNKNOWN_LABEL;
  }

  /** Service → methods and the installed bundle ids, from one read of the engine's status. */
  #index(): Index {
    if (this.#cache) return this.#cache;
    const index: Index = { names: new Map(), bundles: new Set() };
    const names = index.names;
    const status = this.#status();
    // An engine not attached yet gives an empty index that must not stick.
    if (!status) return index;
    for (const bundle of status.bundles) {
      index.bundles.add(bundle.id);
      for (const revision of bundle.revisions) {
        for (const [service, { methods }] of Object.entries(revision.services)) {
          let known = names.get(service);
          if (!known) names.set(service, known = new Set());
          for (const method of methods) known.add(method);
        }
      }
    }
    this.#cache = index;
    return index;
  }

  /**
   * The label value of a service name.
   *
   * @param service Service name, without a version range.
   * @returns The name when an installed bundle declares it, else {@linkcode UNKNOWN_LABEL}.
   */
  service(service: string): string {
    return this.#index().names.has(service) ? service : UNKNOWN_LABEL;
  }

  /**
   * The label value of a method name.
   *
   * @param service Service name, without a version range.
   * @param method Method name.
   * @returns The name when a ready instance of a bundle declaring the service exports it, else
   *   {@linkcode UNKNOWN_LABEL}.
   */
  method(service: string, method: string): string {
    return this.#index().names.get(service)?.has(method) ? method : UNKNOWN_LABEL;
  }
}
