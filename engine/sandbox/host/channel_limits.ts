/**
 * Limits of the channel a sandbox answers the engine on, in both tiers, and the per-sandbox rate
 * budget that enforces them. A guest is untrusted: whatever it sends is decoded on the engine's
 * main thread, whose time every other bundle shares, so what one sandbox may make the engine
 * decode is bounded per message (bytes, values) and per second (messages, bytes, values). A
 * sandbox over a per-second budget is killed, with the reason in its status.
 *
 * `node:v8` deserialization (and `postMessage`'s structured clone, the same algorithm) costs time
 * per object, not per byte: on the reference machine 100k empty objects (300 KB) take 40 ms and 4M
 * (12 MB) take 3.6 s. Messages up to `inlineDecodeBytes` are decoded at once (a few ms at worst);
 * larger ones first have their values counted in the serialized bytes, at a cost bounded by the
 * cap (see `value_scan.ts`).
 *
 * @module
 */
import { type Clock, systemClock } from "../../base/clock.ts";

/**
 * Bounds on what one sandbox may make the engine decode.
 *
 * @example Fewer messages per second from each sandbox
 * ```ts
 * import { createEngine, type ChannelLimits } from "@bundlehost/sdk";
 *
 * const channel: Partial<ChannelLimits> = { maxMessagesPerSecond: 2_000 };
 * await using engine = await createEngine({ channel });
 * ```
 */
export interface ChannelLimits {
  /** Messages up to this size are decoded on the main thread at once, bytes. @default {65536} */
  inlineDecodeBytes: number;
  /**
   * Most values (objects, array elements, property keys, strings, numbers…) one message over
   * `inlineDecodeBytes` may hold; a message with more kills the sandbox (the guest runtime refuses
   * such a reply to its own caller first). @default {100000}
   */
  maxMessageValues: number;
  /**
   * Most messages per second from one sandbox that the engine did not ask for: everything but
   * replies, responses and pongs to pending requests (logs, outbound calls, publishes, anything
   * malformed or unknown). @default {20000}
   */
  maxMessagesPerSecond: number;
  /** Most bytes per second from one sandbox. @default {268435456} */
  maxBytesPerSecond: number;
  /** Most values per second in the larger messages of one sandbox. @default {500000} */
  maxValuesPerSecond: number;
}

/** Defaults of {@linkcode ChannelLimits}. */
export const DEFAULT_CHANNEL_LIMITS: Readonly<ChannelLimits> = Object.freeze({
  inlineDecodeBytes: 64 * 1024,
  maxMessageValues: 100_000,
  maxMessagesPerSecond: 20_000,
  maxBytesPerSecond: 256 * 1024 * 1024,
  maxValuesPerSecond: 500_000,
});

/**
 * Merges `limits` over the defaults and checks every field.
 *
 * @param limits Fields to override.
 * @returns Complete limits.
 * @throws {RangeError} When a field is not a positive integer.
 */
export function resolveChannelLimits(limits: Partial<ChannelLimits> = {}): ChannelLimits {
  const resolved = { ...DEFAULT_CHANNEL_LIMITS, ...limits };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`Channel limit ${name} must be a positive integer, got ${value}`);
    }
  }
  return resolved;
}

/** Windows per second: a budget is enforced per tenth of a second, so a burst is bounded too. */
const WINDOWS_PER_SECOND = 10;

/**
 * Per-second accounting of one sandbox's messages, bytes and values, enforced in fixed windows of
 * a tenth of a second (each allows a tenth of the per-second budget) on an injected clock: a
 * burst can block the engine for at most what a tenth of the budget costs.
 */
export class ChannelBudget {
  readonly #limits: ChannelLimits;
  readonly #clock: Clock;
  #windowStart: number;
  #messages = 0;
  #bytes = 0;
  #values = 0;

  /**
   * Creates a budget.
   *
   * @param limits The per-second limits.
   * @param clock Time source (its monotonic reading). @default {systemClock}
   */
  constructor(limits: ChannelLimits, clock: Clock = systemClock) {
    this.#limits = limits;
    this.#clock = clock;
    this.#windowStart = clock.monotonic();
  }

  /**
   * Charges what arrived; says why when it takes the sandbox over a budget.
   *
   * @param messages Messages (frames) received.
   * @param bytes Their bytes.
   * @param values Values counted in them (larger messages only).
   * @returns The reason to kill the sandbox, or undefined while within budget.
   */
  charge(messages: number, bytes: number, values = 0): string | undefined {
    const now = this.#clock.monotonic();
    if (now - this.#windowStart >= 1000 / WINDOWS_PER_SECOND) {
      this.#windowStart = now;
      this.#messages = this.#bytes = this.#values = 0;
    }
    this.#messages += messages;
    this.#bytes += bytes;
    this.#values += values;
    const l = this.#limits;
    return over(this.#messages, l.maxMessagesPerSecond, "messages") ??
      over(this.#bytes, l.maxBytesPerSecond, "bytes") ??
      over(this.#values, l.maxValuesPerSecond, "values");
  }
}

function over(got: number, perSecond: number, what: string): string | undefined {
  // A window's share, rounded up so that a budget below ten per second still allows one.
  const share = Math.ceil(perSecond / WINDOWS_PER_SECOND);
  if (got <= share) return undefined;
  return `flooded the engine channel: ${got} ${what} within 100 ms exceed the budget of ${perSecond} ${what} per second`;
}
