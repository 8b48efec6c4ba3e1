/**
 * The claims one engine's `NatsEventStore` holds, and the deliveries whose last write NATS did not
 * answer. A claim, acknowledgement, dead-lettering or release that times out (a NATS node killed,
 * a stream leader being elected) may have been written or not; the dispatcher has moved on either
 * way. Such a delivery is kept here as *unsettled*, with what was meant for it, and
 * {@linkcode ClaimLedger.settle} re-reads it from NATS until it is settled: still this engine's
 * claim with no attempt running, it is finished (deleted, or moved to the dead letters) or
 * released (due again); gone or someone else's, there is nothing left to do.
 *
 * Every claim of this engine that the mirror shows and no attempt here holds (a claim write that
 * landed after it was reported lost, or a claim read back from NATS after a timeout) is adopted as
 * unsettled and released, so a live engine never keeps a claim nobody works on.
 *
 * @module
 */
import type { DeliveryRecord } from "../store/event_records.ts";
import { DELIVERY_KEY, type EventMirror, keyToken } from "./nats_event_mirror.ts";
import type { EventRecords } from "./nats_event_records.ts";
import { isCasFailure, jsonBytes } from "./nats_kv.ts";

/** Most unsettled deliveries looked at in one round. */
const MAX_SETTLE = 64;

/**
 * Which intent a later one may replace: an acknowledgement (the handler ran) outranks a
 * dead-lettering, which outranks a release, so the dispatcher's retry after an acknowledgement
 * that failed never hides that the event's reference is still to be dropped.
 */
const RANK = { release: 0, dead: 1, ack: 2 } as const;

/** What a write NATS did not answer meant for a delivery. */
export type Intent =
  | { kind: "ack"; eventId: string }
  | { kind: "dead"; failure: { error: string; at: number } }
  | { kind: "release"; record?: DeliveryRecord };

/** This engine's running claims and unsettled deliveries. */
export class ClaimLedger {
  readonly #records: EventRecords;
  readonly #mirror: EventMirror;
  readonly #owner: string;
  /** Deliveries claimed here whose attempt runs, by id. */
  readonly #held = new Set<string>();
  /** Store calls in progress, by delivery id. */
  readonly #busy = new Map<string, number>();
  /** Deliveries whose last write's outcome is unknown, by id. */
  readonly #unsettled = new Map<string, Intent>();

  /**
   * @param records The event bucket's writes.
   * @param owner The store's owner name, in its claims.
   */
  constructor(records: EventRecords, owner: string) {
    this.#records = records;
    this.#mirror = records.mirror;
    this.#owner = owner;
  }

  /** How many deliveries are unsettled. */
  get unsettled(): number {
    return this.#unsettled.size;
  }

  /**
   * Runs a store call on delivery `id`, counted as busy so {@linkcode settle} leaves the delivery
   * alone meanwhile. When it returns `true` the delivery is settled; otherwise (it threw, or a
   * revision lock or a change refused it) `intent`, if any, is kept as what is still meant for the
   * delivery, and {@linkcode settle} re-reads it.
   *
   * @param id Delivery id.
   * @param intent What the call means, kept if NATS does not answer it.
   * @param call The call.
   */
  async track(id: string, intent: Intent | undefined, call: () => Promise<boolean>) {
    this.#busy.set(id, (this.#busy.get(id) ?? 0) + 1);
    try {
      const done = await call();
      if (done) this.#unsettled.delete(id);
      else this.#keep(id, intent);
      return done;
    } catch (error) {
      this.#keep(id, intent);
      throw error;
    } finally {
      const busy = this.#busy.get(id)! - 1;
      if (busy === 0) this.#busy.delete(id);
      else this.#busy.set(id, busy);
    }
  }

  /** Keeps `intent` for `id` unless a higher-ranked one is kept already. */
  #keep(id: string, intent: Intent | undefined): void {
    const kept = this.#unsettled.get(id);
    if (intent && (!kept || RANK[intent.kind] >= RANK[kept.kind])) this.#unsettled.set(id, intent);
  }

  /** Marks `id` claimed by an attempt running here (`false`: no longer). */
  hold(id: string, held: boolean): void {
    if (held) this.#held.add(id);
    else this.#held.delete(id);
  }

  /** Whether an attempt running here holds `id`. */
  holds(id: string): boolean {
    return this.#held.has(id);
  }

  /** Keeps `id` unsettled (a claim whose outcome is unknown), unless an intent is kept already. */
  doubt(id: string): void {
    if (!this.#unsettled.has(id)) this.#unsettled.set(id, { kind: "release" });
  }

  /** Adopts this engine's claims in the mirror that no attempt here holds. */
  #adoptOrphans(): void {
    for (const { record, owner } of this.#mirror.deliveries.values()) {
      if (owner !== this.#owner || record.claimedAt === undefined) continue;
      if (this.#held.has(record.id) || this.#busy.has(record.id)) continue;
      this.doubt(record.id);
    }
  }

  /**
   * Re-reads the unsettled deliveries (at most {@linkcode MAX_SETTLE}) and finishes or releases
   * those still claimed by this engine with no attempt running. Stops at the first failure other
   * than a lost compare-and-set (NATS away: the next round tries again); never throws.
   *
   * @param now Current time, epoch ms: when a released delivery is due again.
   */
  async settle(now: number): Promise<void> {
    this.#adoptOrphans();
    let looked = 0;
    for (const [id, intent] of [...this.#unsettled]) {
      if (looked++ >= MAX_SETTLE) return;
      if (this.#busy.has(id)) continue;
      try {
        await this.track(id, intent, () => this.#settleOne(id, intent, now));
      } catch (error) {
        if (!isCasFailure(error)) return;
      }
    }
  }

  /** Settles one delivery; `true` when nothing is left to do for it. */
  async #settleOne(id: string, intent: Intent, now: number): Promise<boolean> {
    const key = `${DELIVERY_KEY}.${keyToken(id)}`;
    const current = await this.#records.refresh(key);
    if (!current) {
      // Gone: the acknowledgement (or someone's) went through; its event may still be held,
      // unless a dead letter of the same id holds it now.
      if (intent.kind === "ack" && !(await this.#records.getDeadLetter(id))) {
        return await this.#records.release(intent.eventId, id);
      }
      return true;
    }
    if (
      current.owner !== this.#owner || current.record.claimedAt === undefined ||
      this.#held.has(id)
    ) return true;
    if (intent.kind === "ack") {
      if (!(await this.#records.deleteAt(key, current.revision))) return false;
      return await this.#records.release(current.record.eventId, id);
    }
    if (intent.kind === "dead") {
      await this.#records.deadLetter(id, intent.failure);
      return false;
    }
    const { claimedAt: _claim, ...rest } = current.record;
    const { claimedAt: _meant, ...meant } = intent.record ?? { ...rest, nextAttemptAt: now };
    const value = jsonBytes(meant);
    this.#mirror.apply(key, await this.#records.write(key, value, current.revision), value);
    return true;
  }
}
