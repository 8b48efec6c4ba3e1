/**
 * The KV watch that feeds an engine's {@linkcode EventMirror} with every engine's changes to the
 * cluster event bucket. A watch that ends while it is wanted (its consumer lost with a NATS node,
 * or NATS away) is started again after the last revision it delivered.
 *
 * A watch can also go silent without ending: its consumer lived on a NATS node that was killed,
 * and the client only notices after two missed idle heartbeats (a minute). So every
 * {@linkcode CHECK_MS} the watch's progress is compared with the bucket's last revision; a watch
 * that stays behind for two checks in a row, delivering nothing, is started again there and then.
 *
 * @module
 */
import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import type { Clock, TimerHandle } from "../base/clock.ts";
import type { EventMirror } from "./nats_event_mirror.ts";
import { natsCall } from "./nats_kv.ts";

/** Longest wait for the mirror's first load, ms (the watch goes on filling it). */
export const WATCH_LOAD_MS = 10_000;
/** Pause before a watch that ended is started again, ms. */
const RESTART_MS = 250;
/** Period of the check that the watch keeps up with the bucket, ms. */
export const CHECK_MS = 2_000;

/** A running watch of the event bucket. */
export class EventWatch {
  readonly #kv: KV;
  readonly #mirror: EventMirror;
  readonly #clock: Clock;
  #watch?: QueuedIterator<KvWatchEntry>;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;
  #checkTimer?: TimerHandle;
  #checking: Promise<void> = Promise.resolve();
  /** The revision the watch had delivered at the last check, and how many checks it was behind. */
  #progress = { watched: -1, behind: 0 };

  /**
   * @param kv The event bucket.
   * @param mirror The mirror it feeds.
   * @param clock Time source of the pauses.
   */
  constructor(kv: KV, mirror: EventMirror, clock: Clock) {
    this.#kv = kv;
    this.#mirror = mirror;
    this.#clock = clock;
  }

  #pause(ms: number): { done: Promise<void>; timer: TimerHandle } {
    let timer: TimerHandle;
    const done = new Promise<void>((resolve) => timer = this.#clock.setTimeout(resolve, ms));
    return { done, timer: timer! };
  }

  /**
   * Starts watching; resolves once the mirror holds the bucket's current state, or after
   * {@linkcode WATCH_LOAD_MS}.
   *
   * @throws {BundlehostError} `UNAVAILABLE` when the bucket cannot be read.
   */
  async start(): Promise<void> {
    const empty = await natsCall("reading the event bucket", async () => {
      return (await this.#kv.status()).values === 0;
    });
    let ready!: () => void;
    const loaded = new Promise<void>((resolve) => ready = resolve);
    if (empty) ready();
    this.#watch = await natsCall("watching the event bucket", () => this.#kv.watch({ key: ">" }));
    this.#running = this.#run(ready);
    this.#armCheck();
    const limit = this.#pause(WATCH_LOAD_MS);
    await Promise.race([loaded, limit.done]);
    this.#clock.clearTimeout(limit.timer);
  }

  async #run(ready: () => void): Promise<void> {
    while (!this.#stopped) {
      try {
        for await (const entry of this.#watch!) {
          const value = entry.operation === "PUT" ? entry.value : null;
          this.#mirror.apply(entry.key, entry.revision, value, true);
          if (entry.isUpdate) ready();
        }
      } catch {
        // The watch failed: started again below.
      }
      ready();
      if (this.#stopped) return;
      await this.#pause(RESTART_MS).done;
      try {
        const resumeFromRevision = this.#mirror.watched + 1;
        this.#watch = await this.#kv.watch({ key: ">", resumeFromRevision });
      } catch {
        // NATS away: tried again after the pause.
      }
    }
  }

  #armCheck(): void {
    if (this.#stopped) return;
    this.#checkTimer = this.#clock.setTimeout(() => {
      this.#checking = this.#check().finally(() => this.#armCheck());
    }, CHECK_MS);
  }

  /** Starts the watch again when it stayed behind the bucket for two checks, delivering nothing. */
  async #check(): Promise<void> {
    let last: number;
    try {
      last = (await this.#kv.status()).streamInfo.state.last_seq;
    } catch {
      return; // NATS away: nothing to compare with.
    }
    const watched = this.#mirror.watched;
    const stalled = last > watched && watched === this.#progress.watched;
    this.#progress = { watched, behind: stalled ? this.#progress.behind + 1 : 0 };
    if (this.#progress.behind >= 2 && !this.#stopped) {
      this.#progress.behind = 0;
      this.#watch?.stop();
    }
  }

  /** Stops watching. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#checkTimer);
    await this.#checking;
    this.#watch?.stop();
    await this.#running;
  }
}
