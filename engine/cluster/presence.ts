/**
 * Presence of cluster mode: every engine writes its id, URL and what it runs into a bucket whose
 * entries expire (`bundlehost_engines`), every few seconds; `GET /admin/status` lists them. An
 * engine that dies drops out when its entry expires.
 *
 * @module
 */
import type { KV } from "@nats-io/kv";
import { type Clock, systemClock, type TimerHandle } from "../base/clock.ts";
import type { Availability } from "./availability.ts";

/** How often an engine writes its entry, ms. */
export const HEARTBEAT_MS = 2_000;
/** How long an entry lives without a new heartbeat, ms (the bucket's `ttl`). */
export const PRESENCE_TTL_MS = 10_000;

/**
 * One engine as its heartbeat describes it.
 *
 * @example Engines of a cluster
 * ```ts
 * import type { EnginePresence } from "./presence.ts";
 *
 * const seen: EnginePresence = {
 *   id: "e-1f2a", url: "http://10.0.0.5:8000", startedAt: "2026-11-29T23:00:00.000Z",
 *   seenAt: "2026-11-29T23:10:00.000Z", runs: [{ id: "hello", version: "1.0.0", state: "ACTIVE" }],
 * };
 * ```
 */
export interface EnginePresence {
  /** The engine's id (kept in its data folder across restarts). */
  id: string;
  /** Where it serves, when it said so. */
  url?: string;
  /** When it started, ISO time. */
  startedAt: string;
  /** Its last heartbeat, ISO time. */
  seenAt: string;
  /** Every installed version and its state. */
  runs: { id: string; version: string; state: string }[];
}

/** Writes this engine's heartbeats and reads everyone's. */
export class Presence {
  readonly #kv: KV;
  readonly #nats: Availability;
  readonly #clock: Clock;
  readonly #self: () => Omit<EnginePresence, "seenAt">;
  #timer: TimerHandle | undefined;
  #stopped = false;

  /**
   * Creates the heartbeat (not started).
   *
   * @param kv The presence bucket.
   * @param nats Reachability and call bounds.
   * @param self What this engine is and runs now.
   * @param clock Heartbeat timing.
   */
  constructor(
    kv: KV,
    nats: Availability,
    self: () => Omit<EnginePresence, "seenAt">,
    clock: Clock = systemClock,
  ) {
    this.#kv = kv;
    this.#nats = nats;
    this.#self = self;
    this.#clock = clock;
  }

  /** Writes a heartbeat now and every {@linkcode HEARTBEAT_MS} until {@linkcode Presence.stop}. */
  start(): void {
    const beat = async () => {
      if (this.#stopped) return;
      await this.beat().catch(() => {});
      if (!this.#stopped) this.#timer = this.#clock.setTimeout(beat, HEARTBEAT_MS, { unref: true });
    };
    void beat();
  }

  /** Writes one heartbeat. */
  async beat(): Promise<void> {
    const self = this.#self();
    const entry: EnginePresence = { ...self, seenAt: new Date(this.#clock.now()).toISOString() };
    await this.#nats.run(
      "write presence",
      () => this.#kv.put(self.id, new TextEncoder().encode(JSON.stringify(entry))),
    );
  }

  /** Every engine with a live heartbeat, ordered by id. */
  async list(): Promise<EnginePresence[]> {
    return await this.#nats.run("read presence", async () => {
      const out: EnginePresence[] = [];
      for await (const key of await this.#kv.keys()) {
        const entry = await this.#kv.get(key);
        if (entry?.operation === "PUT" && entry.length > 0) out.push(entry.json<EnginePresence>());
      }
      return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    });
  }

  /** Stops the heartbeat and removes this engine's entry (best effort). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    if (!this.#nats.connected) return;
    await this.#nats.run("remove presence", () => this.#kv.delete(this.#self().id), {
      boundMs: 1_000,
    })
      .catch(() => {});
  }
}
