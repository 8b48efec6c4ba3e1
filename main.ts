/**
 * `deno task run`: starts the resident engine with the observability, service-release and console
 * plugins on 127.0.0.1:8000 (the operator console at `/console`). On a first start with an empty registry it releases every folder under
 * `bundles/`. With `OTEL_DENO=true` (read by Deno itself) it exports traces, metrics and logs over
 * OTLP; `GET /metrics` serves Prometheus text either way (README, "Observability").
 *
 * Flags (environment variable in brackets; README, "Limits and hardening", lists every limit):
 * `--host` [HOST] (default 127.0.0.1), `--port` [PORT] (default 8000), `--data-dir`
 * [BUNDLEHOST_DATA_DIR] (default .bundlehost), `--ceiling <file.json>` [BUNDLEHOST_CEILING]
 * (operator policy: permission ceiling, trusted bundles, service and topic grants, limits),
 * `--isolation worker|process` (force a tier), `--log-format human|json` [BUNDLEHOST_LOG_FORMAT],
 * `--bundles <dir>` (default bundles). Secrets: [BUNDLEHOST_SECRETS_KEY] (base64 of 32 bytes; default
 * the key file `<data-dir>/secrets.key`, created 0600) and [BUNDLEHOST_SECRETS_KEY_PREVIOUS] (the
 * key it replaces: secrets sealed under it are sealed again at start); both are removed from the
 * engine's environment once read.
 * Connections: `--max-connections <n>` (4096, lowered to fit the descriptor limit),
 * `--head-timeout-ms <ms>` (5000: an idle connection must send a complete request head within this
 * long), `--fd-reserve <n>` (256 descriptors kept free for KV, children and workers).
 * `--websockets` serves WebSocket upgrades through `/b/` by serving with `Deno.serve`, without the
 * connection cap and head timeout (the owned edge answers upgrades 501; README, "Streaming and
 * WebSockets").
 * Calls: `--max-call-timeout-ms <ms>` (overrides the policy's `limits.maxTimeoutMs`, 60000: the
 * longest timeout any client or bundle may ask for).
 * Events: `--event-store-mib <n>` (256), `--topic-rate <n>` (200/s), `--bundle-publish-rate <n>`
 * (100/s), `--detached-rate <n>` (20/s); `--require-publish-token` makes `POST /events` need a
 * bearer token (BUNDLEHOST_PUBLISH_TOKEN or the admin token).
 *
 * Cluster mode: `--cluster nats://host:port[,…]` [BUNDLEHOST_CLUSTER] shares the registry and
 * release archives with other engines through NATS JetStream (README, "Running a cluster"); a
 * bad list, or no NATS server answering at start, is one line and exit code 2.
 *
 * Development mode: `--dev [folders…]` (`deno task dev`) releases every folder under `--bundles`
 * and each folder given, as development revisions, on every start, and again on every saved change
 * (README, "Writing a bundle").
 *
 * Every start-up mistake (bad flag, unreadable or invalid policy file, a policy granting more than
 * the engine's own flags, data folder not writable or in use by another engine, port in use) is
 * one line on stderr and exit code 2.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createEngine, type Engine, type EngineOptions } from "./mod.ts";
import { loadPolicyFile, type PolicyInput } from "./engine/manifest/policy.ts";
import { PolicyError } from "./engine/base/errors.ts";
import { DataFolderInUseError } from "./engine/store/data_lock.ts";
import { type EdgeServer, serveEdge } from "./engine/edge/serve.ts";
import { LINEAR_REGEXP_V8_FLAG, linearRegExpAvailable } from "./engine/broker/linear_regex.ts";
import { serviceRelease } from "./plugins/service_release/mod.ts";
import { observability } from "./plugins/observability/mod.ts";
import { webConsole } from "./plugins/console/mod.ts";
import { DevMode } from "./engine/dev/dev_mode.ts";
import { parseClusterServers } from "./engine/cluster/connection.ts";

/** Ends start-up with one clear line and exit code 2: an operator mistake, not a crash. */
function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}

// Route patterns from outside must run in linear time; never fall back to backtracking.
if (!linearRegExpAvailable()) {
  fail(
    `Refusing to start: run the engine with --v8-flags=${LINEAR_REGEXP_V8_FLAG} (route patterns need linear-time regular expressions)`,
  );
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

const FLAGS = {
  host: { type: "string" },
  port: { type: "string" },
  "data-dir": { type: "string" },
  ceiling: { type: "string" },
  isolation: { type: "string" },
  "log-format": { type: "string" },
  bundles: { type: "string" },
  "max-connections": { type: "string" },
  "head-timeout-ms": { type: "string" },
  "fd-reserve": { type: "string" },
  "max-call-timeout-ms": { type: "string" },
  "event-store-mib": { type: "string" },
  "topic-rate": { type: "string" },
  "bundle-publish-rate": { type: "string" },
  "detached-rate": { type: "string" },
  "require-publish-token": { type: "boolean" },
  dev: { type: "boolean" },
  cluster: { type: "string" },
  websockets: { type: "boolean" },
} as const;

type Parsed = ReturnType<
  typeof parseArgs<{ options: typeof FLAGS; strict: true; allowPositionals: true }>
>;

function parse(): Parsed {
  try {
    return parseArgs({ args: Deno.args, options: FLAGS, strict: true, allowPositionals: true });
  } catch (error) {
    return fail(`Invalid arguments: ${(error as Error).message}`);
  }
}

/** A flag that must be a positive integer, or `undefined` when it is not given. */
function integerFlag(name: keyof typeof FLAGS): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || !/^[1-9][0-9]{0,8}$/.test(raw)) {
    fail(`Invalid --${name} "${raw}": use a positive integer`);
  }
  return Number(raw);
}

/** A flag that must be a number above 0 (fractions allowed), or `undefined`. */
function numberFlag(name: keyof typeof FLAGS): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || !/^[0-9]{1,9}(?:\.[0-9]{1,6})?$/.test(raw) || !(Number(raw) > 0)) {
    fail(`Invalid --${name} "${raw}": use a number above 0`);
  }
  return Number(raw);
}

const { values, positionals } = parse();
if (positionals.length > 0 && !values.dev) {
  fail(`Invalid arguments: unexpected "${positionals[0]}" (bundle folders are given with --dev)`);
}
const host = values.host ?? env("HOST") ?? "127.0.0.1";
const rawPort = values.port ?? env("PORT") ?? "8000";
const port = /^[0-9]{1,5}$/.test(rawPort) ? Number(rawPort) : NaN;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  fail(`Invalid port "${rawPort}": use a number from 0 to 65535`);
}
const dataDir = values["data-dir"] ?? env("BUNDLEHOST_DATA_DIR") ?? ".bundlehost";
const logFormat = values["log-format"] ?? env("BUNDLEHOST_LOG_FORMAT") ?? "human";
if (logFormat !== "human" && logFormat !== "json") {
  fail(`Invalid --log-format "${logFormat}": use human or json`);
}
const bundlesDir = values.bundles ?? "bundles";
const maxConnections = integerFlag("max-connections") ?? 4096;
const headTimeoutMs = integerFlag("head-timeout-ms") ?? 5_000;
const fdReserve = integerFlag("fd-reserve") ?? 256;
const maxCallTimeoutMs = integerFlag("max-call-timeout-ms");

const events: NonNullable<EngineOptions["events"]> = {};
const storeMib = numberFlag("event-store-mib");
if (storeMib !== undefined) events.maxStoreBytes = Math.round(storeMib * 1024 * 1024);
const topicRate = numberFlag("topic-rate");
if (topicRate !== undefined) events.topicRate = topicRate;
const bundlePublishRate = numberFlag("bundle-publish-rate");
if (bundlePublishRate !== undefined) events.bundlePublishRate = bundlePublishRate;
const detachedRate = numberFlag("detached-rate");
if (detachedRate !== undefined) events.detachedRate = detachedRate;

// Observability prints log records, serves /metrics, and traces when OTEL_DENO=true.
const options: EngineOptions = {
  dataDir,
  events,
  plugins: [
    observability({ logFormat }),
    serviceRelease(values["require-publish-token"] ? { requirePublishToken: true } : {}),
    webConsole(),
  ],
};

const clusterList = values.cluster ?? env("BUNDLEHOST_CLUSTER");
if (clusterList !== undefined) {
  try {
    options.cluster = { servers: parseClusterServers(clusterList).map((s) => `nats://${s}`) };
  } catch (error) {
    fail(`Invalid --cluster: ${(error as Error).message}`);
  }
}

/** A bad policy, or one granting more than this process holds, is one line and exit code 2. */
function policyFailure(error: unknown): never {
  if (error instanceof PolicyError) fail(error.message);
  throw error;
}
const ceilingFile = values.ceiling ?? env("BUNDLEHOST_CEILING");
let policy: PolicyInput | undefined;
if (ceilingFile) policy = await loadPolicyFile(ceilingFile).catch(policyFailure);
if (maxCallTimeoutMs !== undefined) {
  policy = { ...policy, limits: { ...policy?.limits, maxTimeoutMs: maxCallTimeoutMs } };
}
if (policy) options.ceiling = policy;
if (values.isolation !== undefined) {
  if (values.isolation !== "worker" && values.isolation !== "process") {
    fail(`Invalid --isolation "${values.isolation}": use worker or process`);
  }
  options.isolation = values.isolation;
}

/**
 * Reads a secrets key from the environment and removes it there: a worker-tier bundle granted
 * `env` reads the engine's own environment, so the key must not stay in it (README, "Secrets").
 */
function takeEnv(name: string): string | undefined {
  const value = env(name);
  try {
    Deno.env.delete(name);
  } catch {
    // Not readable by the engine in the first place.
  }
  return value === "" ? undefined : value;
}
const secretsKey = takeEnv("BUNDLEHOST_SECRETS_KEY");
const previousSecretsKey = takeEnv("BUNDLEHOST_SECRETS_KEY_PREVIOUS");
options.secrets = {
  key: secretsKey,
  previousKeys: previousSecretsKey === undefined ? [] : [previousSecretsKey],
};

/** Why the engine could not start, in one line. */
function startError(error: unknown): string {
  if (error instanceof DataFolderInUseError || error instanceof PolicyError) return error.message;
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return `Cannot use data folder ${dataDir}: it is not writable by the engine (${
      (error as Error).message
    })`;
  }
  return `Cannot start the engine: ${(error as Error)?.message ?? error}`;
}

// Said first, as what it is: otherwise the policy check would name a grant under the data folder.
if (Deno.permissions.querySync({ name: "write", path: dataDir }).state !== "granted") {
  fail(`Cannot use data folder ${dataDir}: it is not writable by the engine (--allow-write)`);
}
const engine: Engine = await createEngine(options).catch((error) => fail(startError(error)));

/** The bundle folders under `--bundles`, sorted. */
async function bundleFolders(): Promise<string[]> {
  const folders: string[] = [];
  try {
    for await (const entry of Deno.readDir(bundlesDir)) {
      if (entry.isDirectory) folders.push(`${bundlesDir}/${entry.name}`);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      console.error(`Cannot read ${bundlesDir}: the engine's --allow-read does not cover it`);
    } else if (!(error instanceof Deno.errors.NotFound)) {
      console.error(`Cannot read ${bundlesDir}: ${(error as Error).message}`);
    }
  }
  return folders.sort();
}

let dev: DevMode | undefined;
if (values.dev) {
  const folders = [...new Set([...await bundleFolders(), ...positionals])];
  dev = new DevMode(engine, { folders });
  await dev.start();
} else if ((await engine.registry.list()).length === 0) {
  for (const folder of await bundleFolders()) {
    try {
      const result = await engine.registry.release({ path: folder });
      console.log(`Released ${result.id}@${result.version} from ${folder} (${result.state})`);
    } catch (error) {
      console.error(`Could not release ${folder}: ${(error as Error).message}`);
    }
  }
}

/** Why the engine could not listen, in one line. */
function listenError(error: unknown): string {
  if (error instanceof Deno.errors.AddrInUse) {
    return `Cannot listen on ${host}:${port}: the port is in use (another engine?)`;
  }
  if (error instanceof Deno.errors.NotCapable) {
    return `Cannot listen on ${host}:${port}: the engine's --allow-net does not cover it`;
  }
  return `Cannot listen on ${host}:${port}: ${(error as Error)?.message ?? error}`;
}

let server: EdgeServer;
try {
  server = serveEdge(engine.fetch, {
    hostname: host,
    port,
    maxConnections,
    headTimeoutMs,
    fdReserve,
    probePath: engine.dataDir,
    websockets: values.websockets === true,
    onError: (message) => console.error(message),
  });
} catch (error) {
  await engine.close().catch(() => {});
  fail(listenError(error));
}
const { hostname, port: listening } = server.addr;
console.log(
  server.mode === "owned"
    ? `Connections: at most ${server.counts().maxConnections}, request head within ${headTimeoutMs} ms`
    : "Connections: served by Deno.serve (no cap, no head timeout); WebSockets through /b/ are on",
);
console.log(`Bundlehost ${engine.version} listening on http://${hostname}:${listening}`);
engine.advertise(`http://${hostname}:${listening}`);
const cluster = await engine.clusterStatus().catch(() => undefined);
if (cluster) console.log(`Cluster: engine ${cluster.engine} on NATS ${clusterList}`);
console.log(
  `Admin token: ${
    env("BUNDLEHOST_ADMIN_TOKEN") ? "from BUNDLEHOST_ADMIN_TOKEN" : `${engine.dataDir}/admin_token`
  }`,
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: draining and stopping`);
  await dev?.close();
  // An open log stream (`/admin/bundles/:id/logs?follow=1`) would keep the shutdown waiting.
  engine.endLogFollowers();
  // So would a bundle's open stream or WebSocket.
  engine.endStreams();
  await server.shutdown();
  await engine.close();
  // A worker thread spinning in a busy loop would keep the process alive
  // (docs/architecture.md, "Platform facts", hole 2).
  Deno.exit(0);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void shutdown(signal));
}
