/**
 * `deno task cli <command>`: the operator CLI, a client of the admin API.
 *
 * ```
 * release <folder|archive.tar|archive.tar.gz>   upload a bundle (folders are packed as tar.gz);
 *                                               --no-activate stores it without moving traffic
 * list                                          bundles with state, active version, instances
 * status [id]                                   engine status, or one bundle in detail
 * start <id> | stop <id> | delete <id>
 * rollback <id> [--version <v>]                 default: the version active before the current
 * traffic <id> <version>=<weight>...            split traffic, e.g. 1.1.0=10 1.0.0=90
 * canary <id> <version> [--steps 10,25,50,100] [--step-ms N] [--max-error-ratio R]
 *        [--max-latency-ms N] [--min-calls N]  phased release with automatic rollback
 * events stats | dead-letters | replay <id> | delete <id>   event bus: counts, dead letters
 * ```
 *
 * Options: `--url` [BUNDLEHOST_URL] (default http://127.0.0.1:8000), `--token`
 * [BUNDLEHOST_ADMIN_TOKEN] (default: read `.bundlehost/admin_token`), `--json` (machine output).
 *
 * Exit codes: 0 success, 1 the engine refused the request (4xx/5xx), 2 usage error, 3 no token or
 * the engine could not be reached.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { packTar, type TarEntry } from "modern-tar";

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

const USAGE = `Usage: deno task cli <command> [options]

Commands:
  release <folder|archive.tar[.gz]>   release a bundle (folders are packed and uploaded);
                                      --no-activate stores it without moving traffic
  list                                list bundles
  status [id]                         engine status, or one bundle
  start <id>                          start a bundle
  stop <id>                           stop a bundle (stays stopped across restarts)
  delete <id>                         delete a bundle, its releases and data
  rollback <id> [--version <v>]       re-activate an earlier version
  traffic <id> <version>=<weight>...  split traffic between released versions
  canary <id> <version>               phased release: step the weight up, roll back on errors
      [--steps 10,25,50,100] [--step-ms 60000] [--max-error-ratio 0.05]
      [--max-latency-ms 1000] [--min-calls 20]
  events stats                        event bus counts and armed schedules
  events dead-letters                 deliveries that used up their attempts
  events replay <id>                  put a dead letter back in the queue
  events delete <id>                  drop a dead letter for good

Options:
  --url <url>      engine URL (env BUNDLEHOST_URL, default http://127.0.0.1:8000)
  --token <token>  admin token (env BUNDLEHOST_ADMIN_TOKEN, default .bundlehost/admin_token)
  --json           print JSON instead of tables
`;

class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

async function packFolder(dir: string): Promise<Uint8Array<ArrayBuffer>> {
  const entries: TarEntry[] = [];
  async function walk(rel: string): Promise<void> {
    for await (const entry of Deno.readDir(rel ? `${dir}/${rel}` : dir)) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile) {
        entries.push({
          header: { name: path, size: 0, type: "file" },
          body: await Deno.readFile(`${dir}/${path}`),
        });
      } else throw new CliError(`Cannot pack ${dir}: "${path}" is not a regular file`, EXIT.usage);
    }
  }
  await walk("");
  for (const e of entries) e.header.size = (e.body as Uint8Array).byteLength;
  const tar = await packTar(entries);
  const gz = new Blob([tar]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(gz).arrayBuffer());
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

interface BundleView {
  id: string;
  state: string;
  active: string;
  desired: string;
  weights?: Record<string, number>;
  canary?: { version: string; from: string; weight: number; status: string; reason?: string };
  releases: { version: string }[];
  revisions: {
    version: string;
    state: string;
    isolation?: string;
    isolationReason?: string;
    instances: unknown[];
    error?: string;
  }[];
  logsDropped?: number;
}

function formatBundles(bundles: BundleView[]): string {
  if (bundles.length === 0) return "No bundles.";
  const rows = [["ID", "STATE", "ACTIVE", "DESIRED", "TRAFFIC", "VERSIONS", "INSTANCES"]];
  for (const b of bundles) {
    const traffic = b.weights
      ? Object.entries(b.weights).map(([v, w]) => `${v}=${w}`).join(",")
      : `${b.active}=100%`;
    const instances = b.revisions.reduce((n, r) => n + r.instances.length, 0);
    rows.push([
      b.id,
      b.state,
      b.active,
      b.desired,
      traffic,
      b.releases.map((r) => r.version).join(","),
      String(instances),
    ]);
  }
  return table(rows);
}

function formatBundle(b: BundleView): string {
  const lines = [
    formatBundles([b]),
    "",
    table([
      ["VERSION", "STATE", "TIER", "INSTANCES", "ERROR"],
      ...b.revisions.map((r) => [
        r.version,
        r.state,
        r.isolation ?? "",
        String(r.instances.length),
        r.error ?? "",
      ]),
    ]),
  ];
  // Why each version runs in its tier (the operator policy's decision).
  for (const r of b.revisions) {
    if (r.isolationReason) lines.push(`${r.version}: ${r.isolation} tier (${r.isolationReason})`);
  }
  if (b.logsDropped) lines.push(`Log lines dropped by the log budget: ${b.logsDropped}`);
  if (b.canary) {
    const c = b.canary;
    lines.push(
      "",
      `Canary ${c.version} (from ${c.from}): ${c.status}, weight ${c.weight}%${
        c.reason ? ` (${c.reason})` : ""
      }`,
    );
  }
  return lines.join("\n");
}

interface DeadLetterRow {
  id: string;
  topic: string;
  bundle: string;
  handler: string;
  attempts: number;
  error: string;
}

/** `events <sub-command>`: a client of the event admin routes. */
async function eventsCommand(
  rest: string[],
  call: (method: string, path: string) => Promise<unknown>,
): Promise<{ data: unknown; human: string }> {
  const [sub, id] = rest;
  const letter = () => {
    if (id === undefined) throw new CliError(`events ${sub} needs a dead letter id`, EXIT.usage);
    return `/admin/events/dead-letters/${encodeURIComponent(id)}`;
  };
  switch (sub) {
    case "stats": {
      const data = await call("GET", "/admin/events/stats") as Record<string, unknown>;
      const counts = [
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
      return { data, human: counts.map((k) => `${k}: ${data[k]}`).join("\n") };
    }
    case "dead-letters": {
      const data = await call("GET", "/admin/events/dead-letters") as DeadLetterRow[];
      if (data.length === 0) return { data, human: "No dead letters." };
      const rows = [["ID", "TOPIC", "BUNDLE", "HANDLER", "ATTEMPTS", "ERROR"]];
      for (const d of data) {
        rows.push([d.id, d.topic, d.bundle, d.handler, String(d.attempts), d.error.slice(0, 80)]);
      }
      return { data, human: table(rows) };
    }
    case "replay":
      return { data: await call("POST", `${letter()}/replay`), human: `Replaying ${id}` };
    case "delete":
      return { data: await call("DELETE", letter()), human: `Deleted ${id}` };
    default:
      throw new CliError(
        `events needs stats, dead-letters, replay <id> or delete <id>\n\n${USAGE}`,
        EXIT.usage,
      );
  }
}

/**
 * Runs the CLI.
 *
 * @param args Command-line arguments.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        url: { type: "string" },
        token: { type: "string" },
        json: { type: "boolean", default: false },
        version: { type: "string" },
        activate: { type: "boolean", default: true },
        steps: { type: "string" },
        "step-ms": { type: "string" },
        "max-error-ratio": { type: "string" },
        "max-latency-ms": { type: "string" },
        "min-calls": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      allowPositionals: true,
      allowNegative: true,
      strict: true,
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined) {
    console.log(USAGE);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const base = (values.url ?? env("BUNDLEHOST_URL") ?? "http://127.0.0.1:8000").replace(/\/$/, "");
  try {
    const token = values.token ?? env("BUNDLEHOST_ADMIN_TOKEN") ??
      await Deno.readTextFile(".bundlehost/admin_token").then((t) => t.trim()).catch(() => {
        throw new CliError(
          "No admin token: pass --token, set BUNDLEHOST_ADMIN_TOKEN, or run from the engine's folder",
          EXIT.unreachable,
        );
      });
    const call = async (
      method: string,
      path: string,
      body?: BodyInit,
      type = "application/json",
    ) => {
      let response: Response;
      try {
        response = await fetch(`${base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": type }),
          },
          ...(body === undefined ? {} : { body }),
        });
      } catch (error) {
        throw new CliError(
          `Cannot reach the engine at ${base}: ${(error as Error).message}`,
          EXIT.unreachable,
        );
      }
      const text = await response.text();
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
      if (!response.ok) {
        const err = (data as { error?: { code?: string; message?: string } })?.error;
        throw new CliError(
          `${response.status} ${err?.code ?? ""}: ${err?.message ?? text}`.trim(),
          EXIT.refused,
        );
      }
      return data;
    };
    const need = (n: number, what: string) => {
      if (rest.length < n) throw new CliError(`${command} needs ${what}\n\n${USAGE}`, EXIT.usage);
    };
    let data: unknown;
    let human: string;
    switch (command) {
      case "release": {
        need(1, "a folder or archive");
        const path = rest[0]!;
        const info = await Deno.stat(path).catch(() => {
          throw new CliError(`No such file or folder: ${path}`, EXIT.usage);
        });
        const archive = info.isDirectory ? await packFolder(path) : await Deno.readFile(path);
        const gz = info.isDirectory || (archive[0] === 0x1f && archive[1] === 0x8b);
        data = await call(
          "POST",
          values.activate ? "/admin/releases" : "/admin/releases?activate=false",
          archive,
          gz ? "application/gzip" : "application/x-tar",
        );
        const r = data as {
          id: string;
          version: string;
          created: boolean;
          state: string;
          hash: string;
        };
        human = `${r.created ? "Released" : "Already released"} ${r.id}@${r.version} (${r.state}, ${
          r.hash.slice(0, 19)
        }…)`;
        break;
      }
      case "list":
        data = await call("GET", "/admin/bundles");
        human = formatBundles(data as BundleView[]);
        break;
      case "status":
        if (rest[0] === undefined) {
          data = await call("GET", "/admin/status");
          const s = data as { uptimeMs: number; leakedWorkers: number; bundles: unknown[] };
          human = `Up ${
            Math.round(s.uptimeMs / 1000)
          } s, ${s.bundles.length} bundles, ${s.leakedWorkers} leaked workers`;
        } else {
          data = await call("GET", `/admin/bundles/${encodeURIComponent(rest[0])}`);
          human = formatBundle(data as BundleView);
        }
        break;
      case "start":
      case "stop":
        need(1, "a bundle id");
        data = await call("POST", `/admin/bundles/${encodeURIComponent(rest[0]!)}/${command}`);
        human = formatBundle(data as BundleView);
        break;
      case "delete":
        need(1, "a bundle id");
        data = await call("DELETE", `/admin/bundles/${encodeURIComponent(rest[0]!)}`);
        human = `Deleted ${rest[0]}`;
        break;
      case "rollback": {
        need(1, "a bundle id");
        const body = values.version === undefined ? {} : { version: values.version };
        data = await call(
          "POST",
          `/admin/bundles/${encodeURIComponent(rest[0]!)}/rollback`,
          JSON.stringify(body),
        );
        human = `${rest[0]} now serves ${(data as { active: string }).active}`;
        break;
      }
      case "traffic": {
        need(2, "a bundle id and at least one <version>=<weight>");
        const weights: Record<string, number> = {};
        for (const pair of rest.slice(1)) {
          const m = /^([^=]+)=([0-9]+(?:\.[0-9]+)?)%?$/.exec(pair);
          if (!m) throw new CliError(`Bad weight "${pair}": use <version>=<weight>`, EXIT.usage);
          weights[m[1]!] = Number(m[2]);
        }
        data = await call(
          "PUT",
          `/admin/bundles/${encodeURIComponent(rest[0]!)}/traffic`,
          JSON.stringify({ weights }),
        );
        human = formatBundle(data as BundleView);
        break;
      }
      case "canary": {
        need(2, "a bundle id and a version");
        const body: Record<string, unknown> = { version: rest[1] };
        const number = (flag: string, value: string | undefined) => {
          if (value === undefined) return;
          const n = Number(value);
          if (value.trim() === "" || !Number.isFinite(n)) {
            throw new CliError(`--${flag} must be a number, got "${value}"`, EXIT.usage);
          }
          return n;
        };
        if (values.steps !== undefined) {
          body.steps = values.steps.split(",").map((w) => number("steps", w.replace(/%$/, "")));
        }
        const fields = [
          ["stepMs", "step-ms"],
          ["maxErrorRatio", "max-error-ratio"],
          ["maxLatencyMs", "max-latency-ms"],
          ["minCalls", "min-calls"],
        ] as const;
        for (const [field, flag] of fields) {
          const n = number(flag, values[flag]);
          if (n !== undefined) body[field] = n;
        }
        data = await call(
          "POST",
          `/admin/bundles/${encodeURIComponent(rest[0]!)}/canary`,
          JSON.stringify(body),
        );
        human = formatBundle(data as BundleView);
        break;
      }
      case "events":
        ({ data, human } = await eventsCommand(rest, call));
        break;
      default:
        throw new CliError(`Unknown command "${command}"\n\n${USAGE}`, EXIT.usage);
    }
    console.log(values.json ? JSON.stringify(data, null, 2) : human);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CliError) {
      if (values.json) {
        console.log(JSON.stringify({ error: error.message, exitCode: error.exitCode }));
      } else console.error(error.message);
      return error.exitCode;
    }
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
