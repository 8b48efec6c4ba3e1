/**
 * Cluster mode's assembly: the NATS connection, the shared registry bucket ({@linkcode NatsStore}),
 * the release archives ({@linkcode NatsArchives}), the presence bucket ({@linkcode Presence}) and
 * the watch that tells the engine which bundle changed, so that every engine converges on the
 * shared registry. The engine wires it in when it is given `cluster` (docs/architecture.md,
 * "Cluster mode").
 *
 * Buckets are created on first use with `replicas: 3` (fewer on a smaller NATS cluster), so the
 * loss of one NATS server loses nothing acknowledged.
 *
 * @module
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Clock, systemClock, type TimerHandle } from "../base/clock.ts";
import { NatsEventStore } from "./nats_event_store.ts";
import { Availability, NATS_CALL_TIMEOUT_MS } from "./availability.ts";
import { connectCluster, parseClusterServers } from "./connection.ts";
import { NatsArchives } from "./nats_archives.ts";
import { settingsIdOf } from "./nats_settings.ts";
import { bundleIdOf, NatsStore } from "./nats_store.ts";
import { type EnginePresence, Presence, PRESENCE_TTL_MS } from "./presence.ts";

/** How long a registry revision lock is kept: racing writers meet well within it. */
const LOCK_TTL_MS = 30_000;

/**
 * How often an engine checks the registry bucket's last sequence besides following its changes,
 * ms; when it moved since the last full read, the engine reads everything again. A watch that
 * lost its server takes a while to notice; this bounds how long a change can go unseen.
 */
export const RESYNC_MS = 2_000;

/**
 * Cluster mode settings (engine option `cluster`).
 *
 * @example Three NATS servers
 * ```ts
 * import type { ClusterOptions } from "@bundlehost/sdk";
 *
 * const cluster: ClusterOptions = { servers: "nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222" };
 * ```
 */
export interface ClusterOptions {
  /** NATS servers: `nats://host:port` entries, as a comma-separated list or an array. */
  servers: string | string[];
  /** Prefix of every bucket's name (several Bundlehost clusters on one NATS). @default {"bundlehost"} */
  prefix?: string;
}

/**
 * What the engine does when the shared registry changes.
 *
 * @example Log changes
 * ```ts
 * import type { ClusterHandlers } from "./cluster_mode.ts";
 *
 * const handlers: ClusterHandlers = {
 *   bundle: (id) => Promise.resolve(console.log("changed", id)),
 *   settings: (id) => Promise.resolve(console.log("settings changed", id)),
 *   rules: (rules) => console.log("rules", rules),
 *   owners: () => Promise.resolve(),
 *   resync: () => Promise.resolve(),
 *   runs: () => [],
 *   log: (level, message) => console.log(level, message),
 * };
 * ```
 */
export interface ClusterHandlers {
  /** A bundle's document changed: converge on it. */
  bundle(id: string): Promise<void>;
  /** The governance rules changed (`undefined`: removed). */
  rules(rules: unknown): void;
  /** Service and topic owners changed (another engine claimed or released names). */
  owners(): Promise<void>;
  /** Re-read everything (after NATS came back, and now and then). */
  resync(): Promise<void>;
  /** A bundle's settings (config, secrets) changed. */
  settings(id: string): Promise<void>;
  /** What this engine runs, for its heartbeat. */
  runs(): EnginePresence["runs"];
  /** Reports a problem. */
  log(level: "info" | "warn" | "error", message: string): void;
}

/**
 * The cluster section of `GET /admin/status`.
 *
 * @example Engines and what they run
 * ```ts
 * import type { ClusterStatus } from "@bundlehost/sdk";
 *
 * const status: ClusterStatus = { engine: "e-1", connected: true, engines: [] };
 * ```
 */
export interface ClusterStatus {
  /** This engine's id. */
  engine: string;
  /** Whether NATS answers now. */
  connected: boolean;
  /** Every engine with a live heartbeat (empty while NATS is unreachable). */
  engines: EnginePresence[];
}

/** Longest an engine waits at start for a booting NATS cluster to place a replicated bucket, ms. */
export const PLACEMENT_WAIT_MS = 30_000;

/**
 * Opens a bucket, or creates it with three replicas on a NATS cluster (one on a single server).
 * Right after a NATS cluster starts, its servers join JetStream one by one: placement is tried
 * again for {@linkcode PLACEMENT_WAIT_MS}, then with two replicas (a two-server cluster).
 */
async function bucket<T>(
  nc: NatsConnection,
  nats: Availability,
  clock: Clock,
  stream: string,
  open: () => Promise<T>,
  create: (replicas: number) => Promise<T>,
): Promise<T> {
  const deadline = clock.now() + PLACEMENT_WAIT_MS;
  // A cluster that just started may not answer JetStream requests until its metadata leader is
  // elected: a timeout is tried again until the deadline, like a placement that finds no peers.
  for (;;) {
    try {
      const jsm = await jetstreamManager(nc, { timeout: NATS_CALL_TIMEOUT_MS });
      await jsm.streams.info(stream);
      return await open();
    } catch (error) {
      if (/not found/i.test(String(error))) break;
      if (!/timeout|jetstream not enabled/i.test(String(error)) || clock.now() > deadline) {
        throw error;
      }
      await nats.pause(500);
    }
  }
  if (!nc.info?.cluster) return await create(1);
  for (;;) {
    try {
      return await create(3);
    } catch (error) {
      if (!/no suitable peers|insufficient resources/i.test(String(error))) throw error;
      if (clock.now() > deadline) break;
      await nats.pause(500);
    }
  }
  return await create(2);
}

/** The engine's cluster id, kept in its data folder so a restart keeps it. */
async function engineId(dataDir: string): Promise<string> {
  const file = `${dataDir}/engine_id`;
  try {
    const id = (await Deno.readTextFile(file)).trim();
    if (/^[a-zA-Z0-9_-]{1,64}$/.test(id)) return id;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const id = `e-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(file, id, { mode: 0o600 });
  return id;
}

/** A connected engine's cluster parts. */
export class ClusterMode {
  /** This engine's id. */
  readonly id: string;
  /** The shared registry. */
  readonly store: NatsStore;
  /** The shared release archives. */
  readonly archives: NatsArchives;
  readonly #nc: NatsConnection;
  readonly #nats: Availability;
  readonly #presence: Presence;
  readonly #events: NatsEventStore;
  readonly #clock: Clock;
  readonly #startedAt: string;
  #url: string | undefined;
  #handlers: ClusterHandlers | undefined;
  #closed = false;
  #watch: { stop(): void } | undefined;
  #resyncTimer: TimerHandle | undefined;
  #syncedSeq = -1;
  #failures = 0;
  #retryAt = 0;

  private constructor(
    parts: {
      id: string;
      nc: NatsConnection;
      nats: Availability;
      store: NatsStore;
      events: NatsEventStore;
    },
    archives: NatsArchives,
    presenceKv: KV,
    clock: Clock,
  ) {
    this.id = parts.id;
    this.#nc = parts.nc;
    this.#nats = parts.nats;
    this.store = parts.store;
    this.#events = parts.events;
    this.archives = archives;
    this.#clock = clock;
    this.#startedAt = new Date(clock.now()).toISOString();
    this.#presence = new Presence(presenceKv, this.#nats, () => ({
      id: this.id,
      ...(this.#url ? { url: this.#url } : {}),
      startedAt: this.#startedAt,
      runs: this.#handlers?.runs() ?? [],
    }), clock);
  }

  /**
   * Connects to NATS, creates (or opens) the buckets and the engine's local event store.
   *
   * @param options Servers and bucket prefix.
   * @param dataDir The engine's data folder (its id and its event store).
   * @param clock Time of heartbeats and bounds.
   * @returns The connected parts.
   * @throws {BundlehostError} `BAD_INPUT` for a bad server list, `UNAVAILABLE` when no server answers.
   */
  static async open(
    options: ClusterOptions,
    dataDir: string,
    clock: Clock = systemClock,
  ): Promise<ClusterMode> {
    const servers = Array.isArray(options.servers)
      ? parseClusterServers(options.servers.join(","))
      : parseClusterServers(options.servers);
    const prefix = options.prefix ?? "bundlehost";
    const id = await engineId(dataDir);
    const nc = await connectCluster(servers, id);
    let events: NatsEventStore | undefined;
    try {
      const nats = new Availability(nc, clock);
      const js = jetstream(nc, { timeout: NATS_CALL_TIMEOUT_MS });
      const kvm = new Kvm(js);
      // Each bucket is opened, or created once the cluster can place it (see bucket()).
      const place = <T>(
        stream: string,
        open: () => Promise<T>,
        create: (replicas: number) => Promise<T>,
      ) => bucket(nc, nats, clock, stream, open, create);
      const registry = await place(
        `KV_${prefix}_registry`,
        // Reads go to the stream leader (no direct gets): a follower answers with what it has
        // applied, which can be older than a change another engine was already told about.
        () =>
          kvm.open(`${prefix}_registry`, { allow_direct: false, timeout: NATS_CALL_TIMEOUT_MS }),
        (replicas) =>
          kvm.create(`${prefix}_registry`, {
            replicas,
            history: 1,
            allow_direct: false,
            timeout: NATS_CALL_TIMEOUT_MS,
          }),
      );
      const presence = await place(
        `KV_${prefix}_engines`,
        () => kvm.open(`${prefix}_engines`),
        (replicas) =>
          kvm.create(`${prefix}_engines`, { replicas, history: 1, ttl: PRESENCE_TTL_MS }),
      );
      // Revision locks of the registry's compare-and-set writes (see RevisionLocks).
      const locks = await place(
        `KV_${prefix}_registry_locks`,
        () => kvm.open(`${prefix}_registry_locks`),
        (replicas) =>
          kvm.create(`${prefix}_registry_locks`, { replicas, history: 1, ttl: LOCK_TTL_MS }),
      );
      const objm = new Objm(js);
      const objects = await place(
        `OBJ_${prefix}_releases`,
        () => objm.open(`${prefix}_releases`),
        (replicas) => objm.create(`${prefix}_releases`, { replicas }),
      );
      // Events, deliveries, dead letters and schedule marks are shared too: each subscriber gets
      // an event once across the engines, and a cron slot fires once (nats_event_store.ts).
      events = await NatsEventStore.open(nc, { owner: id, prefix, clock });
      const shared = events;
      // ClusterMode.close closes the event store, after the engine's deliveries have finished.
      const store = new NatsStore(registry, nats, shared, () => {}, { bucket: locks, holder: id });
      return new ClusterMode(
        { id, nc, nats, store, events: shared },
        new NatsArchives(objects, nats),
        presence,
        clock,
      );
    } catch (error) {
      await events?.close().catch(() => {});
      await nc.close().catch(() => {});
      throw error;
    }
  }

  /** Whether NATS answers now. */
  get connected(): boolean {
    return this.#nats.connected;
  }

  /**
   * Says where this engine serves (shown in every engine's status).
   *
   * @param url The engine's base URL.
   */
  advertise(url: string): void {
    this.#url = url;
    void this.#presence.beat().catch(() => {});
  }

  /**
   * Starts following the shared registry (after the engine restored what it records) and the
   * heartbeat.
   *
   * @param handlers What to do on changes.
   */
  start(handlers: ClusterHandlers): void {
    this.#handlers = handlers;
    this.#presence.start();
    this.#nats.onChange((event) => {
      if (event === "up") {
        handlers.log("info", "Cluster: NATS reachable again; re-reading the registry");
        void this.#resync();
      } else handlers.log("warn", "Cluster: NATS unreachable; serving what runs, refusing changes");
    });
    void this.#follow(handlers);
    const tick = async () => {
      if (this.#closed) return;
      await this.#resyncIfMoved();
      if (!this.#closed) {
        this.#resyncTimer = this.#clock.setTimeout(tick, RESYNC_MS, { unref: true });
      }
    };
    this.#resyncTimer = this.#clock.setTimeout(tick, RESYNC_MS, { unref: true });
  }

  /** Reads everything again when the bucket changed since the last full read. */
  async #resyncIfMoved(): Promise<void> {
    if (!this.#nats.connected) return;
    try {
      const status = await this.#nats.run("registry status", () => this.store.bucket.status());
      const seq = status.streamInfo.state.last_seq;
      if (seq === this.#syncedSeq) return;
      // After a failed full read (a bundle that cannot be applied), wait longer each time.
      if (this.#clock.now() < this.#retryAt) return;
      if (await this.#resync()) {
        this.#syncedSeq = seq;
        this.#failures = 0;
      } else {
        this.#failures++;
        this.#retryAt = this.#clock.now() + Math.min(RESYNC_MS * 2 ** this.#failures, 60_000);
      }
    } catch {
      // Unreachable now: the next tick tries again.
    }
  }

  /** Reads everything again; whether every bundle converged. */
  async #resync(): Promise<boolean> {
    if (this.#closed || !this.#nats.connected || !this.#handlers) return false;
    try {
      await this.#handlers.resync();
      return true;
    } catch (error) {
      this.#handlers.log(
        "warn",
        `Cluster: re-reading the registry failed: ${(error as Error).message}`,
      );
      return false;
    }
  }

  /** Follows the registry bucket's changes; starts again after an interruption. */
  async #follow(handlers: ClusterHandlers): Promise<void> {
    while (!this.#closed) {
      try {
        const changes = await this.store.bucket.watch({ include: "updates" });
        this.#watch = changes;
        // Changes made while no watch was open.
        void this.#resync();
        for await (const entry of changes) {
          if (this.#closed) break;
          const id = bundleIdOf(entry.key);
          if (id !== undefined) {
            handlers.bundle(id).catch((error) =>
              handlers.log("error", `Cluster: could not apply ${id}: ${error.message}`)
            );
          } else if (settingsIdOf(entry.key) !== undefined) {
            const changed = settingsIdOf(entry.key)!;
            handlers.settings(changed).catch((error) =>
              handlers.log(
                "error",
                `Cluster: could not apply settings of ${changed}: ${error.message}`,
              )
            );
          } else if (entry.key === "rules") {
            handlers.rules(entry.operation === "PUT" ? entry.json() : undefined);
          } else if (entry.key === "owners") {
            handlers.owners().catch((error) =>
              handlers.log("warn", `Cluster: could not read owners: ${error.message}`)
            );
          }
        }
      } catch (error) {
        if (!this.#closed) {
          handlers.log("warn", `Cluster: registry watch ended: ${(error as Error).message}`);
        }
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) =>
        this.#clock.setTimeout(() => resolve(), 500, { unref: true })
      );
    }
  }

  /** This engine, NATS reachability and every live engine. */
  async status(): Promise<ClusterStatus> {
    const engines = this.#nats.connected ? await this.#presence.list().catch(() => []) : [];
    return { engine: this.id, connected: this.#nats.connected, engines };
  }

  /**
   * Stops following the shared registry and removes the heartbeat: no change from another engine
   * starts anything while this one stops. The connection stays open for the event store, whose
   * deliveries in flight still acknowledge; {@linkcode ClusterMode.close} closes it.
   */
  async stopFollowing(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#resyncTimer !== undefined) this.#clock.clearTimeout(this.#resyncTimer);
    this.#watch?.stop();
    await this.#presence.stop();
  }

  /** Stops following, closes the shared event store, then the connection. */
  async close(): Promise<void> {
    await this.stopFollowing();
    await this.#events.close().catch(() => {});
    await this.#nc.drain().catch(() => this.#nc.close()).catch(() => {});
  }
}
