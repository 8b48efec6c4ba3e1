/**
 * Bundles and helpers shared by the event tests: a recording subscriber, a publisher, and a wait
 * for the bus to have nothing pending.
 *
 * @module
 */
import type { Engine } from "../mod.ts";
import { waitFor } from "./_helpers.ts";

/** What the recording subscriber saw on one successful delivery. */
export interface Seen {
  id: string;
  topic: string;
  payload: unknown;
  attempt: number;
  trace: string | null;
  /** The delivery's `tracestate` (`ctx.tracestate`). */
  state: string | null;
}

/**
 * Entry module of a subscriber whose `service` records every event it is given: `handle` (fails
 * while `setFailing(true)`), `seen()` (successful deliveries), `tries()` (every attempt number).
 *
 * @param service Service name.
 * @returns Module source.
 */
export function recorderModule(service: string): string {
  return `
const seen = [];
const tries = [];
let failing = false;
export default {
  services: {
    ${service}: {
      handle(event, ctx) {
        tries.push(event.attempt);
        if (failing) throw new Error("boom on attempt " + event.attempt);
        seen.push({ id: event.id, topic: event.topic, payload: event.payload,
          attempt: event.attempt, trace: ctx.traceparent ?? null, state: ctx.tracestate ?? null });
        return { ok: true };
      },
      seen: () => seen,
      tries: () => tries,
      setFailing(value) { failing = value; return failing; },
    },
  },
};`;
}

/** Entry module of a publisher: `Publisher.emit({ topic, payload })` calls `ctx.events.publish`. */
export const PUBLISHER_MODULE = `
export default {
  services: {
    Publisher: {
      emit: (input, ctx) => ctx.events.publish(input.topic, input.payload),
      tryEmit: async (input, ctx) => {
        try { return await ctx.events.publish(input.topic, input.payload); }
        catch (error) { return { error: error.name + ": " + error.message }; }
      },
    },
  },
};`;

/** One instance, so a recorder's memory is the whole story. */
export const ONE_INSTANCE = { minWorkers: 1, maxWorkers: 1 };

/**
 * Waits until the bus has no pending delivery.
 *
 * @param engine The engine.
 * @param timeoutMs Give up after this long.
 */
export async function drained(engine: Engine, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => (await engine.eventBus.stats()).pending === 0,
    timeoutMs,
    "no pending delivery",
  );
}

/**
 * Entry module of a subscriber that appends every event it handles to `$DATA/seen.log` (one JSON
 * line: id, topic, payload, publishedAt, attempt), so deliveries can be counted across restarts.
 * While a file `$DATA/hold` exists, handlers wait (deliveries stay in flight).
 *
 * @param service Service name (method `handle`).
 * @param delayMs How long each delivery takes before it is recorded.
 * @returns Module source.
 */
export function fileRecorderModule(service: string, delayMs = 0): string {
  return `
const held = (dir) => Deno.stat(dir + "/hold").then(() => true, () => false);
export default {
  services: {
    ${service}: {
      async handle(event, ctx) {
        if (${delayMs} > 0) await new Promise((r) => setTimeout(r, ${delayMs}));
        while (await held(ctx.bundle.dataDir)) await new Promise((r) => setTimeout(r, 20));
        const line = JSON.stringify({ id: event.id, topic: event.topic, payload: event.payload,
          publishedAt: event.publishedAt, attempt: event.attempt });
        await Deno.writeTextFile(ctx.bundle.dataDir + "/seen.log", line + "\\n", { append: true });
        return { ok: true };
      },
    },
  },
};`;
}

/** Permissions a file recorder needs: its own data folder. */
export const DATA_PERMISSIONS = { read: ["$DATA"], write: ["$DATA"] };

/** One line of a file recorder's log. */
export interface SeenLine {
  id: string;
  topic: string;
  payload: unknown;
  publishedAt: string;
  attempt: number;
}

/**
 * Reads what a file recorder logged.
 *
 * @param dataDir The engine's data folder.
 * @param bundle Bundle id.
 * @returns The complete lines, oldest first (none when the log does not exist yet).
 */
export async function readSeen(dataDir: string, bundle: string): Promise<SeenLine[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dataDir}/data/${bundle}/seen.log`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const lines: SeenLine[] = [];
  for (const line of text.split("\n")) {
    try {
      if (line.trim() !== "") lines.push(JSON.parse(line) as SeenLine);
    } catch {
      // A line cut short by kill -9: that delivery was never acknowledged, it runs again.
    }
  }
  return lines;
}
