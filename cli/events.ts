/**
 * `events <stats|dead-letters|replay <id>|delete <id>>`: the event bus's counts and dead letters.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { CliError, EXIT } from "./context.ts";
import { table } from "./format.ts";

interface DeadLetterRow {
  id: string;
  topic: string;
  bundle: string;
  handler: string;
  attempts: number;
  error: string;
}

const COUNTS = [
  "events",
  "pending",
  "inFlight",
  "deadLetters",
  "delivered",
  "retried",
  "storeBytes",
  "maxStoreBytes",
  "throttled",
  "storeFull",
  "hopLimited",
  "detachedThrottled",
  "deadLettersDropped",
];

/** The `events` command. */
export const events: Command = {
  name: "events",
  args: "<stats|dead-letters|replay <id>|delete <id>>",
  summary: "event bus: counts, dead letters, replay or drop one",
  details: [
    "  events stats            event bus counts and armed schedules",
    "  events dead-letters     deliveries that used up their attempts",
    "  events replay <id>      put a dead letter back in the queue",
    "  events delete <id>      drop a dead letter for good",
  ].join("\n"),
  async run({ admin, positionals }) {
    const [sub, id] = positionals;
    const letter = () => {
      if (id === undefined) {
        throw new CliError(`Missing a dead letter id for events ${sub}`, EXIT.usage);
      }
      return `/admin/events/dead-letters/${encodeURIComponent(id)}`;
    };
    switch (sub) {
      case "stats": {
        const data = await admin.call("GET", "/admin/events/stats") as Record<string, unknown>;
        return { data, human: COUNTS.map((k) => `${k}: ${data[k]}`).join("\n") };
      }
      case "dead-letters": {
        const data = await admin.call("GET", "/admin/events/dead-letters") as DeadLetterRow[];
        if (data.length === 0) return { data, human: "No dead letters." };
        const rows = [["ID", "TOPIC", "BUNDLE", "HANDLER", "ATTEMPTS", "ERROR"]];
        for (const d of data) {
          rows.push([d.id, d.topic, d.bundle, d.handler, String(d.attempts), d.error.slice(0, 80)]);
        }
        return { data, human: table(rows) };
      }
      case "replay":
        return { data: await admin.call("POST", `${letter()}/replay`), human: `Replaying ${id}` };
      case "delete":
        return { data: await admin.call("DELETE", letter()), human: `Deleted ${id}` };
      default:
        throw new CliError(
          `events needs stats, dead-letters, replay <id> or delete <id>${
            sub === undefined ? "" : `, not "${sub}"`
          }`,
          EXIT.usage,
        );
    }
  },
};
