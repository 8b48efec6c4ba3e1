/**
 * Engine heartbeats of the cluster event store: each store renews `<owner>` in the owners bucket
 * every third of its TTL, and a claim whose owner's key has expired (an engine killed, or cut off
 * from NATS for longer than the TTL) may be taken over by any other engine.
 *
 * @module
 */
import type { KV } from "@nats-io/kv";
import type { Clock, TimerHandle } from "../base/clock.ts";
import { keyToken } from "./nats_event_mirror.ts";
import { jsonBytes, liveEntry, natsCall } from "./nats_kv.ts";

/** One engine's heartbeat, and what it last learned of the others'. */
export class OwnerHeartbeats {
  readonly #owners: KV;
  readonly #owner: string;
  readonly #clock: Clock;
  readonly #ttl: number;
  readonly #alive = new Map<string, { alive: boolean; checkedAt: number }>();
  #timer?: TimerHandle;
  #beating: Promise<void> = Promise.resolve();
  #stopped = false;

  /**
   * @param owners The owners bucket (its entries expire after `ttl`).
   * @param owner This engine's name.
   * @param clock Time source of the beats.
   * @param ttl The bucket's TTL, ms.
   */
  constructor(owners: KV, owner: string, clock: Clock, ttl: number) {
    this.#owners = owners;
    this.#owner = owner;
    this.#clock = clock;
    this.#ttl = ttl;
  }

  /** Renews the heartbeat now, then every third of the TTL until {@linkcode stop}. */
  async beat(): Promise<void> {
    if (this.#stopped) return;
    this.#beating = natsCall("renewing the claim heartbeat", async () => {
      await this.#owners.put(keyToken(this.#owner), jsonBytes({ at: this.#clock.now() }));
    }).catch(() => {
      // NATS away: the heartbeat is tried again at the next beat.
    });
    await this.#beating;
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => void this.beat(), this.#ttl / 3);
  }

  /** Stops beating (the key expires with the TTL). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#beating;
  }

  /** Whether `owner`'s heartbeat was found expired at the last look. */
  orphaned(owner: string): boolean {
    return this.#alive.get(owner)?.alive === false;
  }

  /** Looks up the heartbeats of `owners`, each at most every third of the TTL. */
  async check(owners: Iterable<string>): Promise<void> {
    const now = this.#clock.monotonic();
    await Promise.all([...owners].map(async (owner) => {
      const known = this.#alive.get(owner);
      if (known && now - known.checkedAt < this.#ttl / 3) return;
      try {
        const alive = await liveEntry(this.#owners, keyToken(owner)) !== undefined;
        this.#alive.set(owner, { alive, checkedAt: now });
      } catch {
        // NATS away: nobody's claims are taken over meanwhile.
      }
    }));
  }
}
