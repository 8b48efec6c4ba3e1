/**
 * `canary <id> <version>`: a phased release; `--watch` follows it until it ends.
 *
 * @module
 */
import { sleep } from "../engine/base/clock.ts";
import type { AdminClient } from "./client.ts";
import { bundlePath, type Command, type CommandOutput, need } from "./command.ts";
import { CliError, type CliIo, EXIT } from "./context.ts";
import { type BundleView, formatBundle, formatCanary } from "./format.ts";

const NUMBERS = [
  ["stepMs", "step-ms"],
  ["maxErrorRatio", "max-error-ratio"],
  ["maxLatencyMs", "max-latency-ms"],
  ["minCalls", "min-calls"],
] as const;

function number(flag: string, value: string | boolean | undefined): number | undefined {
  if (typeof value !== "string") return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) {
    throw new CliError(`--${flag} must be a number, got "${value}"`, EXIT.usage);
  }
  return n;
}

/**
 * Polls a bundle until its canary of `version` ends, printing each change of progress.
 *
 * @param admin The admin API.
 * @param io Output and clock.
 * @param id Bundle id.
 * @param version The canary's version; `undefined` follows whichever canary the bundle has.
 * @param pollMs Time between polls.
 * @param quiet No progress lines (`--json`).
 * @returns The final view; exit code 1 when the canary did not promote.
 */
export async function watchCanary(
  admin: AdminClient,
  io: CliIo,
  id: string,
  version: string | undefined,
  pollMs: number,
  quiet: boolean,
): Promise<CommandOutput> {
  let last = "";
  for (;;) {
    const view = await admin.call("GET", bundlePath(id)) as BundleView;
    const c = view.canary;
    if (!c || (version !== undefined && c.version !== version)) {
      throw new CliError(
        `Bundle "${id}" has no canary${version === undefined ? "" : ` of ${version}`} to watch`,
        EXIT.refused,
      );
    }
    const line = formatCanary(c);
    if (line !== last && !quiet) io.out(line);
    last = line;
    if (c.status !== "running") {
      return {
        data: view,
        human: c.status === "promoted"
          ? `${id} now serves ${view.active}`
          : `${id} stays on ${view.active}`,
        ...(c.status === "promoted" ? {} : { exitCode: EXIT.refused }),
      };
    }
    await sleep(io.clock, pollMs);
  }
}

/** The `canary` command. */
export const canary: Command = {
  name: "canary",
  args: "<id> [<version>]",
  summary: "phased release: step the weight up, roll back on errors; --watch follows it",
  details: [
    "Starts a canary of <version> (already released with --no-activate). With --watch it then",
    "prints each step until the canary is promoted (exit 0) or rolled back (exit 1); without a",
    "<version>, --watch follows the canary already running.",
  ].join("\n"),
  flags: {
    steps: { type: "string", value: "10,25,50,100", description: "weights of the steps, percent" },
    "step-ms": { type: "string", value: "<ms>", description: "how long each step lasts (60000)" },
    "max-error-ratio": { type: "string", value: "<r>", description: "roll back above (0.05)" },
    "max-latency-ms": { type: "string", value: "<ms>", description: "roll back above, p99 (1000)" },
    "min-calls": { type: "string", value: "<n>", description: "calls a step needs (20)" },
    watch: { type: "boolean", description: "follow the canary until it ends" },
    "poll-ms": {
      type: "string",
      value: "<ms>",
      description: "with --watch: time between polls (1000)",
    },
  },
  async run(input) {
    const { flags, positionals, admin, io } = input;
    const pollMs = number("poll-ms", flags["poll-ms"]) ?? 1_000;
    if (pollMs < 50) throw new CliError(`--poll-ms must be at least 50, got ${pollMs}`, EXIT.usage);
    const [id, version] = positionals;
    if (version === undefined && flags.watch === true && id !== undefined) {
      return await watchCanary(admin, io, id, undefined, pollMs, flags.json === true);
    }
    need(input, 2, "a bundle id and a version");
    const body: Record<string, unknown> = { version };
    if (typeof flags.steps === "string") {
      body.steps = flags.steps.split(",").map((w) => number("steps", w.replace(/%$/, "")));
    }
    for (const [field, flag] of NUMBERS) {
      const n = number(flag, flags[flag]);
      if (n !== undefined) body[field] = n;
    }
    const data = await admin.call("POST", `${bundlePath(id!)}/canary`, JSON.stringify(body));
    if (flags.watch !== true) return { data, human: formatBundle(data as BundleView) };
    return await watchCanary(admin, io, id!, version, pollMs, flags.json === true);
  },
};
