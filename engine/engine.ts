/**
 * The resident engine: installs bundles into sandboxes, runs their lifecycle, and routes calls to
 * them, while it keeps running.
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { BundlehostError, BundleStateError, NotFoundError } from "./errors.ts";
import type { CallRecord, OutboundCall, TransportFactory } from "./isolation/instance.ts";
import { workerTransport } from "./isolation/worker.ts";
import { EngineEvents } from "./lifecycle.ts";
import { METHOD_NAME_PATTERN, readManifest, SERVICE_NAME_PATTERN } from "./manifest.ts";
import {
  DEFAULT_CEILING,
  type PermissionCeiling,
  type ResolvedPermissions,
  resolvePermissions,
  withModuleFiles,
} from "./permissions.ts";
import { Revision, type RevisionStatus, type RuntimeSettings } from "./revision.ts";
import { vetBundle } from "./vet.ts";
import type { IsolationTier, RouteSpec } from "./types.ts";
import { type BundleEntry, selectRevision, servingRevision } from "./routing.ts";
import { fromWireResponse, toWireRequest } from "./http.ts";

/** Options for {@linkcode createEngine}; every field is optional. */
export interface EngineOptions {
  /** Folder for the engine's state (registry, releases, bundle data). @default {".bundlehost"} */
  dataDir?: string;
  /** The most any bundle may be granted; merged over the default per kind. */
  ceiling?: Partial<PermissionCeiling>;
  /** Force one isolation tier for every bundle, whatever its manifest says. */
  isolation?: IsolationTier;
  /** Deno executable for `deno info` and the process tier. @default {"deno"} */
  denoCommand?: string;
  /** Default call timeout, ms. @default {30000} */
  callTimeoutMs?: number;
  /** Time allowed to load a bundle and run `onStart`, ms. @default {30000} */
  startTimeoutMs?: number;
  /** Time allowed for `onStop` and `onRefresh`, ms. @default {10000} */
  hookTimeoutMs?: number;
  /** How long stopping waits for calls in flight, ms. @default {5000} */
  drainMs?: number;
  /** Heartbeat period, ms. @default {2000} */
  heartbeatMs?: number;
  /** No heartbeat reply for this long → instance evicted, ms. @default {5000} */
  unresponsiveMs?: number;
  /** After a call times out, the instance must answer a probe within this long, ms. @default {1000} */
  probeMs?: number;
  /** Longest chain of bundle-to-bundle calls. @default {8} */
  maxHops?: number;
  /** Largest HTTP request body forwarded to a bundle, bytes. @default {10485760} */
  maxBodyBytes?: number;
}

/** Per-call options for {@linkcode Engine.call}. */
export interface EngineCallOptions {
  /** Route to use. */
  route?: RouteSpec;
  /** Timeout, ms (bounded by `deadline`). */
  timeoutMs?: number;
  /** Absolute deadline, epoch ms. */
  deadline?: number;
  /** W3C trace context. */
  traceparent?: string;
  /** Broker hops so far. @default {0} */
  hops?: number;
}

/** Status of one bundle id: its revisions and which serves traffic. */
export interface BundleStatus {
  /** Bundle id. */
  id: string;
  /** Version that serves traffic when no weights are set. */
  current?: string;
  /** Traffic weights per version, when set. */
  weights?: Record<string, number>;
  /** Lifecycle state of the current version. */
  state: string;
  /** Every installed version. */
  revisions: RevisionStatus[];
}

/** Status of the whole engine. */
export interface EngineStatus {
  /** Engine uptime, ms. */
  uptimeMs: number;
  /** Bundles. */
  bundles: BundleStatus[];
  /** Worker threads evicted while unresponsive that may still be running (see the process tier). */
  leakedWorkers: number;
}

type ResolvedOptions = Required<Omit<EngineOptions, "isolation" | "ceiling">> & {
  isolation?: IsolationTier;
  ceiling: PermissionCeiling;
};

function resolveOptions(options: EngineOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    dataDir: resolve(options.dataDir ?? ".bundlehost"),
    ceiling: { ...DEFAULT_CEILING, ...options.ceiling },
    denoCommand: options.denoCommand ?? "deno",
    callTimeoutMs: options.callTimeoutMs ?? 30_000,
    startTimeoutMs: options.startTimeoutMs ?? 30_000,
    hookTimeoutMs: options.hookTimeoutMs ?? 10_000,
    drainMs: options.drainMs ?? 5_000,
    heartbeatMs: options.heartbeatMs ?? 2_000,
    unresponsiveMs: options.unresponsiveMs ?? 5_000,
    probeMs: options.probeMs ?? 1_000,
    maxHops: options.maxHops ?? 8,
    maxBodyBytes: options.maxBodyBytes ?? 10 * 1024 * 1024,
  };
  if (options.isolation) resolved.isolation = options.isolation;
  return resolved;
}

/** The resident engine. Create it with {@linkcode createEngine}. */
export class Engine {
  /** Lifecycle, instance and log events. */
  readonly events: EngineEvents = new EngineEvents();
  readonly #options: ResolvedOptions;
  readonly #settings: RuntimeSettings;
  readonly #bundles = new Map<string, BundleEntry>();
  readonly #startedAt = Date.now();
  #closed = false;

  /**
   * Creates an engine; prefer {@linkcode createEngine}, which also prepares the data folder.
   *
   * @param options Engine options (see {@linkcode EngineOptions}).
   */
  constructor(options: EngineOptions = {}) {
    this.#options = resolveOptions(options);
    const o = this.#options;
    this.#settings = {
      callTimeoutMs: o.callTimeoutMs,
      startTimeoutMs: o.startTimeoutMs,
      hookTimeoutMs: o.hookTimeoutMs,
      drainMs: o.drainMs,
      heartbeatMs: o.heartbeatMs,
      unresponsiveMs: o.unresponsiveMs,
      probeMs: o.probeMs,
    };
  }

  /** Absolute path of the engine's data folder. */
  get dataDir(): string {
    return this.#options.dataDir;
  }

  /**
   * Installs a bundle from a folder: validates `bundle.json`, resolves permissions against the
   * ceiling, vets the module graph. The revision ends RESOLVED (not started).
   *
   * @param dir Bundle folder.
   * @param options `hash`: the release's content hash, shown in status.
   * @returns The revision's status.
   * @throws {ManifestError} For a bad manifest or permissions beyond the ceiling.
   * @throws {ReleaseRefusedError} When vetting refuses the module graph.
   * @throws {BundleStateError} When this id@version is already installed.
   */
  async install(dir: string, options: { hash?: string } = {}): Promise<RevisionStatus> {
    this.#assertOpen();
    let bundleDir: string;
    try {
      bundleDir = await Deno.realPath(dir);
    } catch {
      throw new NotFoundError(`Cannot install bundle: folder ${dir} does not exist`);
    }
    const manifest = await readManifest(bundleDir);
    const label = `${manifest.id}@${manifest.version}`;
    if (this.#bundles.get(manifest.id)?.revisions.has(manifest.version)) {
      throw new BundleStateError(`Cannot install bundle ${label}: it is already installed`);
    }
    const dataDir = `${this.#options.dataDir}/data/${manifest.id}`;
    const requested = resolvePermissions(
      manifest.permissions,
      { bundleDir, dataDir },
      this.#options.ceiling,
    );
    const report = await vetBundle(bundleDir, manifest.entry, {
      imports: manifest.imports,
      denoCommand: this.#options.denoCommand,
    });
    await Deno.mkdir(dataDir, { recursive: true });
    const grants = withModuleFiles(requested, report.moduleFiles);
    const tier = this.#options.isolation ?? manifest.isolation;
    const revision = new Revision({
      manifest,
      dir: bundleDir,
      dataDir,
      entryUrl: pathToFileURL(resolve(bundleDir, manifest.entry)).href,
      grants,
      tier,
      ...(options.hash === undefined ? {} : { hash: options.hash }),
      transport: (name) => this.#transport(tier, name, grants),
      settings: this.#settings,
      events: this.events,
      outbound: (call, from) => this.#outbound(call, from),
    });
    if (this.#bundles.get(manifest.id)?.revisions.has(manifest.version)) {
      throw new BundleStateError(`Cannot install bundle ${label}: it is already installed`);
    }
    let entry = this.#bundles.get(manifest.id);
    if (!entry) {
      entry = { id: manifest.id, revisions: new Map() };
      this.#bundles.set(manifest.id, entry);
    }
    entry.revisions.set(manifest.version, revision);
    entry.current ??= manifest.version;
    revision.transition("RESOLVED");
    return revision.status();
  }

  /**
   * Starts a bundle's revision (the current one by default) and waits until it is ACTIVE.
   *
   * @param id Bundle id.
   * @param version Version; the current one when omitted.
   * @throws {NotFoundError} For an unknown bundle or version.
   * @throws The load or `onStart` failure; the revision is RESOLVED again with the error kept.
   */
  async start(id: string, version?: string): Promise<RevisionStatus> {
    this.#assertOpen();
    const revision = this.#revision(id, version);
    await revision.start();
    return revision.status();
  }

  /**
   * Stops a bundle's revision: drains calls in flight, runs `onStop`, ends its instances.
   *
   * @param id Bundle id.
   * @param version Version; the current one when omitted.
   */
  async stop(id: string, version?: string): Promise<RevisionStatus> {
    const revision = this.#revision(id, version);
    await revision.stop();
    return revision.status();
  }

  /**
   * Makes a version the one that serves traffic (clears weights). It must be ACTIVE.
   *
   * @param id Bundle id.
   * @param version Version to serve.
   */
  activate(id: string, version: string): void {
    const revision = this.#revision(id, version);
    if (revision.state !== "ACTIVE") {
      throw new BundleStateError(
        `Cannot route traffic to ${revision.label}: it is ${revision.state}`,
      );
    }
    const entry = this.#bundles.get(id)!;
    entry.current = version;
    entry.weights = undefined;
  }

  /**
   * Uninstalls one version, or every version of a bundle: stops it first, then forgets it.
   *
   * @param id Bundle id.
   * @param version Only this version; all when omitted.
   */
  async uninstall(id: string, version?: string): Promise<void> {
    const entry = this.#bundles.get(id);
    if (!entry) throw new NotFoundError(`No bundle "${id}"`);
    const targets = version === undefined
      ? [...entry.revisions.values()]
      : [this.#revision(id, version)];
    for (const revision of targets) {
      await revision.uninstall();
      entry.revisions.delete(revision.version);
      if (entry.current === revision.version) entry.current = undefined;
      entry.weights?.delete(revision.version);
    }
    if (entry.revisions.size === 0) this.#bundles.delete(id);
    else entry.current ??= [...entry.revisions.keys()].at(-1);
  }

  /**
   * Calls a service method through the routing layer.
   *
   * @param service Service name, optionally `Service@semverRange`.
   * @param method Method name.
   * @param input Input value.
   * @param options Route, timeout, deadline, trace context.
   * @returns The method's result.
   * @throws {TypeError} For a malformed service or method name.
   * @throws {NotFoundError} When no active bundle provides the service.
   * @throws {CallTimeoutError} At the deadline.
   * @throws {BundleCallError} When the bundle threw.
   */
  async call(
    service: string,
    method: string,
    input: unknown,
    options: EngineCallOptions = {},
  ): Promise<unknown> {
    this.#assertOpen();
    const [name, range] = splitService(service);
    if (!SERVICE_NAME_PATTERN.test(name)) throw new TypeError(`Invalid service name "${service}"`);
    if (!METHOD_NAME_PATTERN.test(method)) throw new TypeError(`Invalid method name "${method}"`);
    const revision = selectRevision(this.#bundles.values(), name, range, options.route);
    const record = this.#record(revision, options);
    return await revision.call(name, method, input, record);
  }

  /**
   * Forwards an HTTP request to a bundle's fetch handler.
   *
   * @param id Bundle id.
   * @param request The request, with the URL the bundle should see.
   * @param options Timeout, deadline, trace context.
   * @returns The bundle's response.
   */
  async fetchBundle(
    id: string,
    request: Request,
    options: EngineCallOptions = {},
  ): Promise<Response> {
    this.#assertOpen();
    const entry = this.#bundles.get(id);
    const revision = entry && servingRevision(entry);
    if (!revision) throw new NotFoundError(`No active bundle "${id}"`);
    if (revision.ready && !revision.ready.fetch) {
      throw new NotFoundError(`Bundle ${revision.label} has no fetch handler`);
    }
    const record = this.#record(revision, options);
    const wire = await toWireRequest(request, this.#options.maxBodyBytes);
    return fromWireResponse(await revision.fetch(wire, record));
  }

  /**
   * Status of one bundle.
   *
   * @param id Bundle id.
   * @throws {NotFoundError} For an unknown bundle.
   */
  bundle(id: string): BundleStatus {
    const entry = this.#bundles.get(id);
    if (!entry) throw new NotFoundError(`No bundle "${id}"`);
    return bundleStatus(entry);
  }

  /** Status of every bundle. */
  status(): EngineStatus {
    const bundles = [...this.#bundles.values()].map(bundleStatus);
    return {
      uptimeMs: Date.now() - this.#startedAt,
      bundles,
      leakedWorkers: bundles.reduce(
        (n, b) => n + b.revisions.reduce((m, r) => m + r.leakedWorkers, 0),
        0,
      ),
    };
  }

  /** Stops every bundle (draining calls in flight) and refuses further work. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const revisions = [...this.#bundles.values()].flatMap((e) => [...e.revisions.values()]);
    await Promise.allSettled(revisions.map((r) => r.stop()));
  }

  /** `await using engine = await createEngine()` closes it at scope end. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new BundleStateError("The engine is closed");
  }

  #revision(id: string, version?: string): Revision {
    const entry = this.#bundles.get(id);
    if (!entry) throw new NotFoundError(`No bundle "${id}"`);
    const v = version ?? entry.current;
    const revision = v === undefined ? undefined : entry.revisions.get(v);
    if (!revision) throw new NotFoundError(`No version "${v}" of bundle "${id}"`);
    return revision;
  }

  #record(revision: Revision, options: EngineCallOptions): CallRecord {
    const timeout = options.timeoutMs ?? revision.manifest.governance.timeoutMs ??
      this.#options.callTimeoutMs;
    const deadline = Math.min(options.deadline ?? Infinity, Date.now() + timeout);
    const record: CallRecord = { deadline, hops: options.hops ?? 0 };
    if (options.traceparent) record.traceparent = options.traceparent;
    return record;
  }

  #outbound(call: OutboundCall, from: Revision): Promise<unknown> {
    const hops = (call.parent?.hops ?? 0) + 1;
    if (hops > this.#options.maxHops) {
      return Promise.reject(
        new BundlehostError(
          "HOP_LIMIT",
          `Call chain from ${from.label} exceeds ${this.#options.maxHops} hops`,
        ),
      );
    }
    const options: EngineCallOptions = { hops };
    if (call.parent) options.deadline = call.parent.deadline;
    if (call.parent?.traceparent) options.traceparent = call.parent.traceparent;
    if (call.timeoutMs !== undefined) options.timeoutMs = call.timeoutMs;
    if (call.route !== undefined) options.route = call.route as RouteSpec;
    return this.call(call.service, call.method, call.input, options);
  }

  #transport(tier: IsolationTier, name: string, grants: ResolvedPermissions): TransportFactory {
    if (tier === "worker") return workerTransport({ name, permissions: grants });
    throw new BundleStateError(`Isolation tier "${tier}" is not available in this engine`);
  }
}

function splitService(service: string): [string, string | undefined] {
  const at = service.indexOf("@");
  return at < 0 ? [service, undefined] : [service.slice(0, at), service.slice(at + 1)];
}

function bundleStatus(entry: BundleEntry): BundleStatus {
  const revisions = [...entry.revisions.values()].map((r) => r.status());
  const current = entry.current === undefined ? undefined : entry.revisions.get(entry.current);
  const status: BundleStatus = { id: entry.id, state: current?.state ?? "UNINSTALLED", revisions };
  if (entry.current !== undefined) status.current = entry.current;
  if (entry.weights) status.weights = Object.fromEntries(entry.weights);
  return status;
}

/**
 * Creates an engine.
 *
 * @param options Engine options.
 * @returns A running engine with no bundles.
 *
 * @example Install, start and call a bundle
 * ```ts ignore
 * import { createEngine } from "@bundlehost/sdk";
 * await using engine = await createEngine({ dataDir: ".bundlehost" });
 * await engine.install("./bundles/hello");
 * await engine.start("hello");
 * console.log(await engine.call("HelloService", "greet", { name: "Ada" }));
 * ```
 */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const engine = new Engine(options);
  await Deno.mkdir(engine.dataDir, { recursive: true });
  return engine;
}
