/**
 * A sandbox's inbox on the engine side, shared by both tiers: it charges what arrives against the
 * sandbox's {@linkcode ChannelBudget} and checks a larger message before the main thread decodes
 * it, by counting its values in the serialized bytes (`value_scan.ts`, whose cost is bounded by
 * the cap). Bytes are charged before decoding; messages after decoding (each costs a bounded
 * decode), and only those the engine did not ask for: a reply to a pending call is demand, not a
 * flood, so a busy instance is never killed for answering. A sandbox that floods the channel, or
 * sends a message over the value cap or one the scan cannot read, is failed with a reason naming
 * the limit.
 *
 * @module
 */
import type { Clock } from "../../base/clock.ts";
import type { HostMessage } from "../wire/protocol.ts";
import { decodePayload } from "../wire/framing.ts";
import { unbatch } from "../wire/batcher.ts";
import { ChannelBudget, type ChannelLimits } from "./channel_limits.ts";
import { countSerializedValues } from "./value_scan.ts";

/** What an inbox needs. */
export interface InboxOptions {
  /** Per-message and per-second limits. */
  limits: ChannelLimits;
  /** Delivers a decoded message (to the instance, which validates it). */
  deliver(value: unknown): void;
  /** Ends the sandbox: `reason` names the limit it broke. */
  fail(reason: string): void;
  /** Whether a larger message may be a batch of messages (the worker tier's). */
  batches?: boolean;
  /** Whether a decoded message answers a pending request (not charged as a message). */
  solicited?(value: unknown): boolean;
  /** Checks a decoded large message before delivery (e.g. its frame kind); returns a reason. */
  validate?(value: unknown): string | undefined;
  /** Time of the per-second budget. @default {systemClock} */
  clock?: Clock;
}

/** Budgeted, checked delivery of one sandbox's messages. */
export class GuestInbox {
  readonly #options: InboxOptions;
  readonly #budget: ChannelBudget;
  #failed = false;

  /**
   * Creates the inbox.
   *
   * @param options Limits and callbacks.
   */
  constructor(options: InboxOptions) {
    this.#options = options;
    this.#budget = new ChannelBudget(options.limits, options.clock);
  }

  /** Whether the sandbox has been failed (nothing more is delivered). */
  get failed(): boolean {
    return this.#failed;
  }

  /**
   * Charges arriving messages or bytes against the budget; fails the sandbox when over.
   *
   * @param messages How many messages (unsolicited ones).
   * @param bytes Their size.
   * @returns False when the sandbox was failed.
   */
  charge(messages: number, bytes: number): boolean {
    if (this.#failed) return false;
    const over = this.#budget.charge(messages, bytes);
    if (over) this.fail(over);
    return !this.#failed;
  }

  /**
   * A decoded message: charged unless solicited, then delivered.
   *
   * @param value The message.
   */
  value(value: unknown): void {
    if (this.#failed) return;
    if (!this.#options.solicited?.(value) && !this.charge(1, 0)) return;
    this.#options.deliver(value);
  }

  /**
   * A larger message, still serialized: its values are counted in the bytes, then it is decoded
   * and delivered, or the sandbox is failed.
   *
   * @param payload Its `node:v8` serialization.
   */
  large(payload: Uint8Array): void {
    if (this.#failed) return;
    const scan = countSerializedValues(payload, this.#options.limits.maxMessageValues);
    if (!scan.ok) return this.fail(`sent a message the engine refused: ${scan.reason}`);
    const over = this.#budget.charge(0, 0, scan.values);
    if (over) return this.fail(over);
    let value: unknown;
    try {
      value = decodePayload(payload);
    } catch (error) {
      return this.fail(`sent a message that does not deserialize: ${(error as Error).message}`);
    }
    const invalid = this.#options.validate?.(value);
    if (invalid) return this.fail(`sent an invalid message: ${invalid}`);
    if (this.#options.batches) unbatch(value, (message) => this.value(message));
    else this.value(value);
  }

  /**
   * Fails the sandbox once; later messages are dropped.
   *
   * @param reason Why.
   */
  fail(reason: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#options.fail(reason);
  }
}

/**
 * Adds the engine's per-message value cap to an `init` message, so the guest can refuse an
 * oversized reply to its own caller with a clear error; other messages pass unchanged.
 *
 * @param message A host message.
 * @param limits The channel limits.
 * @returns The message to send.
 */
export function withCap(message: HostMessage, limits: ChannelLimits): HostMessage {
  return message.type === "init"
    ? { ...message, maxMessageValues: limits.maxMessageValues }
    : message;
}
