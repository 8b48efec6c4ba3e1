/**
 * `deno task run`: starts the resident engine with the observability and service-release plugins
 * on 127.0.0.1:8000. On a first start with an empty registry it releases every folder under
 * `bundles/`. With `OTEL_DENO=true` (read by Deno itself) it exports traces, metrics and logs over
 * OTLP; `GET /metrics` serves Prometheus text either way (README, "Observability").
 *
 * Flags (environment variable in brackets): `--host` [HOST] (default 127.0.0.1), `--port` [PORT]
 * (default 8000), `--data-dir` [BUNDLEHOST_DATA_DIR] (default .bundlehost), `--ceiling <file.json>`
 * [BUNDLEHOST_CEILING] (operator policy: permission ceiling, trusted bundles, service and topic
 * grants, limits; see README), `--isolation worker|process` (force a tier),
 * `--log-format human|json` [BUNDLEHOST_LOG_FORMAT], `--bundles <dir>` (default bundles).
 * Event limits (README, "Events"): `--event-store-mib <n>` (256), `--topic-rate <n>` (200/s),
 * `--bundle-publish-rate <n>` (100/s), `--detached-rate <n>` (20/s); `--require-publish-token`
 * makes `POST /events` need a bearer token (BUNDLEHOST_PUBLISH_TOKEN or the admin token).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createEngine, type EngineOptions } from "./mod.ts";
import { loadPolicyFile } from "./engine/policy.ts";
import { PolicyError } from "./engine/errors.ts";
import { serviceRelease } from "./plugins/service_release/mod.ts";
import { observability } from "./plugins/observability/mod.ts";
import { LINEAR_REGEXP_V8_FLAG, linearRegExpAvailable } from "./engine/broker/linear_regex.ts";

// Route patterns from outside must run in linear time; never fall back to backtracking.
if (!linearRegExpAvailable()) {
  console.error(
    `Refusing to start: run the engine with --v8-flags=${LINEAR_REGEXP_V8_FLAG} (route patterns need linear-time regular expressions)`,
  );
  Deno.exit(2);
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    host: { type: "string" },
    port: { type: "string" },
    "data-dir": { type: "string" },
    ceiling: { type: "string" },
    isolation: { type: "string" },
    "log-format": { type: "string" },
    bundles: { type: "string" },
    "event-store-mib": { type: "string" },
    "topic-rate": { type: "string" },
    "bundle-publish-rate": { type: "string" },
    "detached-rate": { type: "string" },
    "require-publish-token": { type: "boolean" },
  },
  strict: true,
});

const host = values.host ?? env("HOST") ?? "127.0.0.1";
const port = Number(values.port ?? env("PORT") ?? "8000");
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`Invalid port "${values.port ?? env("PORT")}"`);
  Deno.exit(2);
}
const dataDir = values["data-dir"] ?? env("BUNDLEHOST_DATA_DIR") ?? ".bundlehost";
const logFormat = values["log-format"] ?? env("BUNDLEHOST_LOG_FORMAT") ?? "human";
if (logFormat !== "human" && logFormat !== "json") {
  console.error(`Invalid --log-format "${logFormat}": use human or json`);
  Deno.exit(2);
}
const bundlesDir = values.bundles ?? "bundles";

/** A positive number flag, or exit with a clear line. */
function positive(name: string): number | undefined {
  const raw = values[name as keyof typeof values];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (typeof raw !== "string" || !(value > 0) || !Number.isFinite(value)) {
    console.error(`Invalid --${name} "${raw}": use a number above 0`);
    Deno.exit(2);
  }
  return value;
}
const storeMib = positive("event-store-mib");
const events: NonNullable<EngineOptions["events"]> = {};
if (storeMib !== undefined) events.maxStoreBytes = Math.round(storeMib * 1024 * 1024);
const topicRate = positive("topic-rate");
if (topicRate !== undefined) events.topicRate = topicRate;
const bundlePublishRate = positive("bundle-publish-rate");
if (bundlePublishRate !== undefined) events.bundlePublishRate = bundlePublishRate;
const detachedRate = positive("detached-rate");
if (detachedRate !== undefined) events.detachedRate = detachedRate;

// Observability prints log records, serves /metrics, and traces when OTEL_DENO=true.
const options: EngineOptions = {
  dataDir,
  events,
  plugins: [
    observability({ logFormat }),
    serviceRelease(values["require-publish-token"] ? { requirePublishToken: true } : {}),
  ],
};
const ceilingFile = values.ceiling ?? env("BUNDLEHOST_CEILING");
// A bad policy, or one granting more than this process holds, is one clear line and exit code 2.
function policyFailure(error: unknown): never {
  if (!(error instanceof PolicyError)) throw error;
  console.error(error.message);
  Deno.exit(2);
}
if (ceilingFile) options.ceiling = await loadPolicyFile(ceilingFile).catch(policyFailure);
if (values.isolation !== undefined) {
  if (values.isolation !== "worker" && values.isolation !== "process") {
    console.error(`Invalid --isolation "${values.isolation}": use worker or process`);
    Deno.exit(2);
  }
  options.isolation = values.isolation;
}

const engine = await createEngine(options).catch(policyFailure);

if ((await engine.registry.list()).length === 0) {
  const folders: string[] = [];
  try {
    for await (const entry of Deno.readDir(bundlesDir)) {
      if (entry.isDirectory) folders.push(`${bundlesDir}/${entry.name}`);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      console.error(`Cannot read ${bundlesDir}: the engine's --allow-read does not cover it`);
    } else if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const folder of folders.sort()) {
    try {
      const result = await engine.registry.release({ path: folder });
      console.log(`Released ${result.id}@${result.version} from ${folder} (${result.state})`);
    } catch (error) {
      console.error(`Could not release ${folder}: ${(error as Error).message}`);
    }
  }
}

const server = Deno.serve({
  hostname: host,
  port,
  onListen: ({ hostname, port }) => {
    console.log(`Bundlehost ${engine.version} listening on http://${hostname}:${port}`);
    console.log(
      `Admin token: ${
        env("BUNDLEHOST_ADMIN_TOKEN")
          ? "from BUNDLEHOST_ADMIN_TOKEN"
          : `${engine.dataDir}/admin_token`
      }`,
    );
  },
}, engine.fetch);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: draining and stopping`);
  await server.shutdown();
  await engine.close();
  // A worker thread spinning in a busy loop would keep the process alive (DESIGN.md hole 2).
  Deno.exit(0);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void shutdown(signal));
}
