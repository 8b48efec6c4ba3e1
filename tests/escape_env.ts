/**
 * Fixture of the sandbox escape suite: an engine in a temporary folder surrounded by real secrets
 * (a file outside every bundle, an admin token in the engine's data folder, another bundle's data
 * file, an environment variable, a loopback HTTP server), each checked readable by the test
 * process first, so that a refusal means the sandbox held and not that the secret was missing.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Engine } from "../mod.ts";
import type { IsolationTier } from "../engine/sdk/bundle.ts";
import { type BundleFiles, sharing, testEngine } from "./_helpers.ts";

/** Isolation tiers the suite runs against. */
export type Tier = IsolationTier;

/** What a probe bundle reports: the value it obtained, or what it caught. */
export type ProbeResult =
  | { ok: true; value: unknown }
  | { ok: false; name: string; message: string };

/** Options for {@linkcode EscapeEnv.probe}. */
export interface ProbeOptions {
  /** Manifest `permissions`. @default {{}} */
  permissions?: Record<string, string[]>;
  /** Code placed before the default export (static imports). @default {""} */
  prelude?: string;
  /** Extra files in the bundle folder. */
  files?: BundleFiles;
  /** Bundle id. @default {"probe"} */
  id?: string;
}

/** Paths and values a probe receives as `input`. */
export interface ProbeInput {
  /** A file outside every bundle. */
  secret: string;
  /** The engine's admin token file. */
  token: string;
  /** A file in another bundle's data folder. */
  victim: string;
  /** The temporary root holding everything. */
  root: string;
  /** Loopback port of the secret HTTP server. */
  port: number;
  /** Name of the secret environment variable. */
  envName: string;
}

/** The fixture; `await using` removes everything. */
export interface EscapeEnv extends AsyncDisposable, ProbeInput {
  /** Tier every bundle runs in. */
  tier: Tier;
  /** The engine. */
  engine: Engine;
  /** Content of every secret. */
  secretText: string;
  /** Writes a bundle folder. */
  bundle(manifest: Record<string, unknown>, files: BundleFiles): Promise<string>;
  /** Writes, installs and starts a bundle. */
  deploy(manifest: Record<string, unknown>, files: BundleFiles): Promise<string>;
  /** Deploys a bundle whose `Probe.run` runs `body` (an async function body) and calls it. */
  probe(body: string, options?: ProbeOptions): Promise<ProbeResult>;
}

/** One escape attempt. */
export interface Attempt {
  /** What is attempted, completing "Sandbox refuses …". */
  name: string;
  /** The mechanism expected to refuse it, per tier when they differ. */
  mechanism: string | ((tier: Tier) => string);
  /** Tiers on which it is a known, documented gap: registered as ignored, never silently passed. */
  knownGap?: Tier[];
  /** Performs the attempt and asserts refusal and mechanism; returns evidence for the summary. */
  run(env: EscapeEnv): Promise<string>;
}

/** Mechanism names used in the summary. */
export const MECHANISM = {
  permissions: (tier: Tier) =>
    tier === "worker" ? "worker permissions (Deno NotCapable)" : "process flags (Deno NotCapable)",
  vetting: "release vetting (deno info graph)",
  links: "release vetting (symlink scan)",
  manifest: "manifest validation",
  ceiling: "permission ceiling",
  guard: "runtime guard (harden.ts)",
  nested: "Deno worker permission inheritance",
  methods: "runtime method lookup (own methods only)",
  routing: "engine routing (declared services only)",
  callValidation: "engine call validation",
  clone: "structured clone",
  isolate: (tier: Tier) => tier === "worker" ? "separate V8 isolate" : "separate OS process",
  protocol: "engine protocol validation",
  noPrompt: "no permission prompt (--no-prompt)",
  noKv: "process flags (no --unstable-kv in the child)",
  noWorkerOptions: "process flags (no --unstable-worker-options: the child exits)",
} as const;

/** Name of the secret environment variable set in the test process. */
export const ENV_NAME = "BUNDLEHOST_ESCAPE_SECRET";

/**
 * Entry module of a probe bundle: `Probe.run(input)` runs `body` and reports its value or error.
 *
 * @param body Async function body; `input` is a {@linkcode ProbeInput}, `ctx` the bundle context.
 * @param prelude Code before the default export.
 * @returns Module source.
 */
export function probeModule(body: string, prelude = ""): string {
  return `${prelude}
export default { services: { Probe: { async run(input, ctx) {
  try {
    return { ok: true, value: await (async () => {\n${body}\n})() };
  } catch (error) {
    return { ok: false, name: String(error?.name), message: String(error?.message ?? error) };
  }
} } } };
`;
}

/**
 * Creates the fixture for one tier.
 *
 * @param tier Isolation tier forced on every bundle.
 * @returns The fixture.
 */
export async function escapeEnv(tier: Tier): Promise<EscapeEnv> {
  // The realm-pollution attempt needs a bystander providing the poisoner's service: granted.
  const t = await testEngine({
    isolation: tier,
    ...sharing({ Target: ["poisoner", "bystander"] }),
  });
  const secretText = `secret-${crypto.randomUUID()}`;
  const secret = `${t.root}/secret.txt`;
  const token = `${t.engine.dataDir}/admin_token`;
  const victim = `${t.engine.dataDir}/data/victim/secret.txt`;
  await Deno.mkdir(`${t.engine.dataDir}/data/victim`, { recursive: true });
  for (const file of [secret, token, victim]) {
    await Deno.writeTextFile(file, secretText, { mode: 0o600 });
  }
  await Deno.writeTextFile(`${t.root}/outside.js`, `export default ${JSON.stringify(secretText)};`);
  await Deno.writeTextFile(`${t.root}/secret.json`, JSON.stringify({ secretText }));
  const previousEnv = Deno.env.get(ENV_NAME);
  Deno.env.set(ENV_NAME, secretText);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(secretText),
  );
  const port = server.addr.port;

  // Every secret is really there and readable by the engine's process.
  for (const file of [secret, token, victim, `${t.root}/outside.js`, "/etc/passwd"]) {
    assert.ok((await Deno.readTextFile(file)).length > 0, `${file} is readable by the engine`);
  }
  assert.equal(Deno.env.get(ENV_NAME), secretText);
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), secretText);

  const input: ProbeInput = { secret, token, victim, root: t.root, port, envName: ENV_NAME };
  let probes = 0;
  return {
    tier,
    engine: t.engine,
    secretText,
    ...input,
    bundle: t.bundle,
    deploy: t.deploy,
    async probe(body, options = {}) {
      const id = options.id ?? `probe-${++probes}`;
      await t.deploy(
        { id, version: "1.0.0", services: { Probe: "1.0.0" }, permissions: options.permissions },
        { "mod.ts": probeModule(body, options.prelude), ...options.files },
      );
      const result = await t.engine.call("Probe", "run", input, {
        route: { type: "ID", pattern: id },
      });
      await t.engine.runtime.uninstall(id);
      return result as ProbeResult;
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      if (previousEnv === undefined) Deno.env.delete(ENV_NAME);
      else Deno.env.set(ENV_NAME, previousEnv);
      await t[Symbol.asyncDispose]();
    },
  };
}

/**
 * Asserts that a probe was refused with error `name` and a message containing `fragment`, and that
 * the secret did not leak through the message.
 *
 * @param env Fixture.
 * @param result Probe result.
 * @param name Expected error name (e.g. `"NotCapable"`).
 * @param fragment Expected message fragment.
 * @returns `name: message`, for the summary.
 */
export function assertRefused(
  env: EscapeEnv,
  result: ProbeResult,
  name: string,
  fragment: string,
): string {
  assert.ok(!result.ok, `NOT REFUSED: the bundle obtained ${Deno.inspect(result)}`);
  assert.equal(result.name, name, result.message);
  assert.ok(result.message.includes(fragment), `expected "${fragment}" in "${result.message}"`);
  assert.ok(!result.message.includes(env.secretText), "the refusal leaks the secret");
  return `${result.name}: ${result.message}`;
}

/** The worker name of a pre-spawned sandbox ("spare"), as a bundle sees it in `self.name`. */
export const SPARE = "bundlehost-spare";

/**
 * The fixture, with the engine's reserve filled: it fills on first use, so the first no-grant
 * bundle gets a freshly spawned worker (with the same no permissions) and every later one a spare.
 */
export async function handoutEnv(): Promise<EscapeEnv> {
  const env = await escapeEnv("worker");
  await env.deploy(
    { id: "first", version: "1.0.0", services: { First: "1.0.0" } },
    { "mod.ts": "export default { services: { First: { name() { return self.name; } } } };" },
  );
  assert.notEqual(await env.engine.call("First", "name", null), SPARE);
  return env;
}
