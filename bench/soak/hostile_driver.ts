/**
 * The soak benchmark's hostile driver: calls the hostile bundle a few times per second, one
 * misbehaviour at a time in rotation (each for a slot of a few seconds), and records what the
 * engine answered. Its failures are expected and are figures, never errors of the benchmark.
 *
 * The engine stops a bundle after a crash loop (its calls then answer 404), so at the start of
 * each slot, and after a 404, the driver does what an operator would: if the hostile bundle is not
 * ACTIVE, it starts it again through the admin API (counted as a restart), so that every
 * misbehaviour gets its turn.
 *
 * @module
 */
import { HOSTILE } from "./bundles.ts";
import type { Admin } from "./release_driver.ts";

/** One misbehaviour: a method of the hostile bundle and how it is called. */
export interface Behaviour {
  /** Name in the report. */
  name: string;
  /** Method of `SoakHostile`. */
  method: string;
  /** Calls fired together on each tick. */
  burst: number;
  /** What it does, for the report. */
  does: string;
}

/** The rotation, in order. */
export const BEHAVIOURS: readonly Behaviour[] = [
  { name: "busy loop", method: "spin", burst: 1, does: "a synchronous loop that never ends" },
  { name: "memory bomb", method: "bomb", burst: 1, does: "allocates 8 MiB arrays until killed" },
  { name: "crash loop", method: "crash", burst: 1, does: "Deno.exit(17) in every call" },
  { name: "log flood", method: "flood", burst: 1, does: "20 000 lines × 200 B per call" },
  { name: "exception storm", method: "storm", burst: 10, does: "10 calls at once, each throws" },
  { name: "huge reply", method: "huge", burst: 1, does: "400 000 tiny objects (≈6 MiB JSON)" },
];

/** What the driver saw of one behaviour. */
export interface BehaviourStats {
  /** Behaviour name. */
  name: string;
  /** What it does. */
  does: string;
  /** Calls sent. */
  calls: number;
  /** Calls not sent because `maxInFlight` hostile calls were still waiting. */
  skipped: number;
  /** Outcome → count: an HTTP status, or `error: <message>`. */
  outcomes: Record<string, number>;
  /** Slowest reply, ms. */
  maxMs: number;
  /** Times the driver found the bundle not ACTIVE (slot start, or after a 404) and started it. */
  restarts: number;
  /** State → count, as found by those checks. */
  statesAtStart: Record<string, number>;
}

/** What {@linkcode driveHostile} returns. */
export interface HostileRun {
  /** Wall-clock time (ms since the epoch) the first slot started. */
  startEpochMs: number;
  /** One entry per behaviour, in rotation order. */
  behaviours: BehaviourStats[];
}

/** Options of {@linkcode driveHostile}. */
export interface HostileOptions {
  /** Each behaviour's slot, ms. */
  slotMs: number;
  /** Ticks per second (each tick fires the behaviour's burst). */
  callsPerSecond: number;
  /** Hostile calls waiting at most; beyond it a tick is skipped. */
  maxInFlight: number;
  /** Client-side bound on one call, ms. */
  timeoutMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the hostile bundle again when a crash loop (or anything else) stopped it. */
async function ensureActive(admin: Admin, s: BehaviourStats): Promise<void> {
  let state = "unknown";
  try {
    const response = await admin("GET", `/admin/bundles/${HOSTILE.id}`);
    const body = await response.json() as { state?: string };
    state = body.state ?? `HTTP ${response.status}`;
  } catch (error) {
    state = `error: ${String((error as Error).message).slice(0, 80)}`;
  }
  s.statesAtStart[state] = (s.statesAtStart[state] ?? 0) + 1;
  if (state === "ACTIVE") return;
  s.restarts++;
  try {
    const response = await admin("POST", `/admin/bundles/${HOSTILE.id}/start`);
    await response.body?.cancel();
  } catch {
    // Counted as a restart all the same; the next calls will say how it went.
  }
}

/**
 * Drives the hostile bundle until `until` (a `performance.now()` time).
 *
 * @param url Engine base URL.
 * @param admin Admin API caller (to start the bundle again after a crash loop).
 * @param until End time on `performance.now()`.
 * @param options Slot, rate and bounds.
 * @returns When it started, and one entry per behaviour in rotation order.
 */
export async function driveHostile(
  url: string,
  admin: Admin,
  until: number,
  options: HostileOptions,
): Promise<HostileRun> {
  const stats: BehaviourStats[] = BEHAVIOURS.map((b) => ({
    name: b.name,
    does: b.does,
    calls: 0,
    skipped: 0,
    outcomes: {},
    maxMs: 0,
    restarts: 0,
    statesAtStart: {},
  }));
  const client = Deno.createHttpClient({});
  const pending = new Set<Promise<void>>();
  let stopped = false;
  let checkedAt = -Infinity;
  const count = (s: BehaviourStats, outcome: string) =>
    s.outcomes[outcome] = (s.outcomes[outcome] ?? 0) + 1;
  const call = async (b: Behaviour, s: BehaviourStats) => {
    const started = performance.now();
    s.calls++;
    try {
      const response = await fetch(`${url}/rpc/${HOSTILE.service}/${b.method}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
        client,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      await response.arrayBuffer();
      count(s, String(response.status));
      if (response.status === 404) stopped = true;
    } catch (error) {
      count(s, `error: ${String((error as Error).message).split("\n")[0]!.slice(0, 120)}`);
    }
    s.maxMs = Math.max(s.maxMs, performance.now() - started);
  };
  const start = performance.now();
  const startEpochMs = performance.timeOrigin + start;
  const tickMs = 1000 / options.callsPerSecond;
  let lastSlot = -1;
  for (let tick = 0; performance.now() < until; tick++) {
    const slotIndex = Math.floor((performance.now() - start) / options.slotMs);
    const slot = slotIndex % BEHAVIOURS.length;
    const b = BEHAVIOURS[slot]!;
    const s = stats[slot]!;
    // At each slot's start, and at most once a second after a 404 (a crash loop stopped it).
    if (slotIndex !== lastSlot || (stopped && performance.now() - checkedAt > 1000)) {
      lastSlot = slotIndex;
      stopped = false;
      checkedAt = performance.now();
      await ensureActive(admin, s);
    }
    for (let k = 0; k < b.burst; k++) {
      if (pending.size >= options.maxInFlight) {
        s.skipped++;
        continue;
      }
      const p = call(b, s).finally(() => pending.delete(p));
      pending.add(p);
    }
    await sleep(Math.max(0, start + (tick + 1) * tickMs - performance.now()));
  }
  await Promise.all(pending);
  client.close();
  return { startEpochMs, behaviours: stats };
}
