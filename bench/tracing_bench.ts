/**
 * Throughput cost of observability, side by side in one run: `POST /rpc/HelloService/greet`
 * against four engines started together, loaded in alternating rounds (off, metrics, deno-otel,
 * traced, off, …) so drift on a noisy machine hits every variant alike.
 *
 * - **off**: no observability plugin.
 * - **metrics**: the plugin with OpenTelemetry off (`/metrics` registry, log records).
 * - **deno-otel**: no plugin, `OTEL_DENO=true`: Deno's own instrumentation alone (a server span
 *   and HTTP metrics per request), exported like **traced**.
 * - **traced**: the plugin with `OTEL_DENO=true`: spans for every request and call, metrics
 *   mirrored to OpenTelemetry, everything exported over OTLP/HTTP (protobuf, Deno's default) to a
 *   sink on loopback that accepts and discards it.
 *
 * Load: `CONCURRENCY` loops of keep-alive `fetch` from this process for `ROUND_MS` per round; a
 * round's figure is completed requests per second. Each variant gets one warm-up round, then
 * `ROUNDS` measured rounds; the report gives the median and the ratio to **off**. Run by
 * `deno task bench` (as a script: `deno bench` only imports it, which does nothing).
 *
 * @module
 */

const CONCURRENCY = 32;
const ROUND_MS = 3_000;
const ROUNDS = 7;
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

interface Variant {
  name: string;
  mode: "on" | "off";
  env: Record<string, string>;
}

interface RunningEngine extends AsyncDisposable {
  url: string;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function startEngine(variant: Variant, dataDir: string): Promise<RunningEngine> {
  const child = new Deno.Command("deno", {
    args: [
      "run",
      "--v8-flags=--enable-experimental-regexp-engine",
      `--allow-read=${ROOT},${dataDir}`,
      `--allow-write=${dataDir}`,
      "--allow-net=127.0.0.1",
      "--allow-run=deno",
      `${ROOT}/bench/_engine_server.ts`,
      dataDir,
      variant.mode,
    ],
    cwd: ROOT,
    // Only what the variant sets: the traced engine gets OTEL_*, the others none.
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      NO_COLOR: "1",
      ...variant.env,
    },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let port: string | undefined;
  while (port === undefined) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`Engine "${variant.name}" exited before listening:\n${text}`);
    text += value;
    port = /listening on (\d+)/.exec(text)?.[1];
  }
  const drained = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  return {
    url: `http://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
      await drained;
    },
  };
}

/** Completed requests per second over one round. */
async function round(url: string): Promise<number> {
  const target = `${url}/rpc/HelloService/greet`;
  const until = performance.now() + ROUND_MS;
  let done = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < until) {
      const response = await fetch(target, { method: "POST", body: '{"name":"bench"}' });
      if (response.status !== 200) {
        throw new Error(`HTTP ${response.status}: ${await response.text()}`);
      }
      await response.arrayBuffer();
      done++;
    }
  }));
  return done / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  // The OTLP sink: accepts and discards what the traced engine exports.
  let exportedBytes = 0;
  await using sink = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      exportedBytes += (await req.arrayBuffer()).byteLength;
      return new Response(null, { status: 200 });
    },
  );
  const otel = {
    OTEL_DENO: "true",
    OTEL_SERVICE_NAME: "bundlehost-bench",
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.addr.port}`,
    OTEL_METRIC_EXPORT_INTERVAL: "5000",
  };
  const variants: Variant[] = [
    { name: "off", mode: "off", env: {} },
    { name: "metrics", mode: "on", env: {} },
    { name: "deno-otel", mode: "off", env: otel },
    { name: "traced", mode: "on", env: otel },
  ];
  const tmp = await Deno.makeTempDir({ prefix: "bundlehost-tracing-bench-" });
  try {
    const engines: RunningEngine[] = [];
    try {
      for (const v of variants) engines.push(await startEngine(v, `${tmp}/${v.name}`));
      const results = variants.map(() => [] as number[]);
      for (let r = 0; r <= ROUNDS; r++) {
        for (const [i, engine] of engines.entries()) {
          const rate = await round(engine.url);
          if (r > 0) results[i]!.push(rate); // Round 0 warms up every engine.
        }
      }
      const base = median(results[0]!);
      console.log(
        `\nObservability cost on POST /rpc/HelloService/greet: ${CONCURRENCY} concurrent, ` +
          `${ROUNDS} alternating rounds of ${ROUND_MS / 1000} s per variant (after one warm-up)\n`,
      );
      console.log("variant    median req/s   vs off   rounds (req/s)");
      variants.forEach((v, i) => {
        const m = median(results[i]!);
        console.log(
          `${v.name.padEnd(10)} ${m.toFixed(0).padStart(12)}   ${
            (m / base).toFixed(3).padStart(6)
          }   ${results[i]!.map((x) => x.toFixed(0)).join(", ")}`,
        );
      });
      console.log(`\nOTLP bytes received by the sink (deno-otel and traced): ${exportedBytes}`);
    } finally {
      for (const engine of engines) await engine[Symbol.asyncDispose]();
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
