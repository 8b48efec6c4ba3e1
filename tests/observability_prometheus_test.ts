/**
 * A real Prometheus (the Debian `prometheus` package; `.ci/run` installs it) scrapes the engine's
 * `/metrics`, and PromQL through its HTTP API returns the calls this test made.
 *
 * @module
 */
import assert from "node:assert/strict";
import { observability } from "../plugins/observability/mod.ts";
import { manifest, ROOT, waitFor, writeBundle } from "./_helpers.ts";
import { testServer } from "./_server.ts";

const COUNTER = `export default {
  services: {
    CounterService: {
      add(input) { return { sum: input.a + input.b }; },
      fail() { throw new Error("refused on purpose"); },
    },
  },
};`;

/** Starts Prometheus, or fails saying how to install it. */
async function startPrometheus(target: string, dir: string) {
  try {
    await new Deno.Command("prometheus", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        "Prometheus is not installed: run `apt-get install -y prometheus` (.ci/run does it in CI)",
      );
    }
    throw error;
  }
  // A free loopback port for Prometheus' own HTTP API.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await Deno.writeTextFile(
    `${dir}/prometheus.yml`,
    [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "scrape_configs:",
      "  - job_name: bundlehost",
      "    metrics_path: /metrics",
      "    static_configs:",
      `      - targets: ["${target}"]`,
      "",
    ].join("\n"),
  );
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/tsdb`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  const pumped = (async () => {
    for await (const chunk of child.stderr) log += decoder.decode(chunk, { stream: true });
  })();
  return {
    url: `http://127.0.0.1:${port}`,
    log: () => log,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
      await pumped;
    },
  };
}

/** Runs a PromQL instant query; the vector's values, or `[]` while there is no sample yet. */
async function query(prometheus: string, promql: string): Promise<number[]> {
  const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = await response.json();
  assert.equal(body.status, "success", JSON.stringify(body));
  return (body.data.result as { value: [number, string] }[]).map((r) => Number(r.value[1]));
}

/**
 * Whether this test runs: always where Prometheus is installed, and wherever
 * `BUNDLEHOST_REQUIRE_PROMETHEUS=1` (set by `.ci/run`, which installs it) so CI can never skip it.
 * On a fresh machine with only Node and npm, `deno task test` reports it as ignored instead of
 * failing for want of a system package.
 */
function prometheusAvailable(): boolean {
  if (Deno.env.get("BUNDLEHOST_REQUIRE_PROMETHEUS") === "1") return true;
  try {
    new Deno.Command("prometheus", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "Prometheus scrapes /metrics and PromQL returns the calls the test made",
  ignore: !prometheusAvailable(),
}, async () => {
  await using server = await testServer({ plugins: [observability({ logFormat: "off" })] });
  const dir = await writeBundle(
    `${server.root}/src`,
    manifest("counter", { services: { CounterService: "1.0.0" } }),
    { "mod.ts": COUNTER },
  );
  await server.engine.runtime.install(dir);
  await server.engine.runtime.start("counter");

  const ok = 7;
  const failed = 2;
  for (let i = 0; i < ok; i++) {
    const response = await server.request("/rpc/CounterService/add", {
      method: "POST",
      body: JSON.stringify({ a: i, b: 1 }),
    });
    assert.deepEqual(await response.json(), { result: { sum: i + 1 } });
  }
  for (let i = 0; i < failed; i++) {
    const response = await server.request("/rpc/CounterService/fail", { method: "POST" });
    assert.equal(response.status, 502);
    await response.body?.cancel();
  }

  const tmp = await Deno.makeTempDir({ prefix: "bundlehost-prometheus-" });
  try {
    await using prometheus = await startPrometheus(new URL(server.url).host, tmp);
    await waitFor(
      async () => (await fetch(`${prometheus.url}/-/ready`).catch(() => undefined))?.ok === true,
      30_000,
      "Prometheus to be ready",
    ).catch((error) => {
      throw new Error(`${error.message}\n${prometheus.log()}`);
    });
    const calls = (outcome: string) =>
      `sum(bundlehost_calls_total{job="bundlehost",rpc_service="CounterService",` +
      `bundlehost_call_outcome="${outcome}"})`;
    let okCalls: number[] = [];
    await waitFor(
      async () => (okCalls = await query(prometheus.url, calls("ok"))).length > 0,
      30_000,
      "a scrape",
    );

    assert.deepEqual(okCalls, [ok]);
    assert.deepEqual(await query(prometheus.url, calls("error")), [failed]);
    assert.deepEqual(
      await query(
        prometheus.url,
        'bundlehost_calls_total{rpc_service="CounterService",error_type="BUNDLE_ERROR"}',
      ),
      [failed],
    );
    assert.deepEqual(
      await query(
        prometheus.url,
        'sum(http_server_request_duration_seconds_count{http_route="/rpc/:service/:method"})',
      ),
      [ok + failed],
    );
    assert.deepEqual(
      await query(
        prometheus.url,
        'sum(bundlehost_call_duration_seconds_bucket{rpc_service="CounterService",le="+Inf"})',
      ),
      [ok + failed],
    );
    assert.deepEqual(
      await query(
        prometheus.url,
        'bundlehost_instance_count{bundlehost_bundle_id="counter",bundlehost_instance_state="ready"}',
      ),
      [1],
    );
    assert.deepEqual(await query(prometheus.url, 'up{job="bundlehost"}'), [1]);

    // Every query of the Grafana dashboard parses and runs here, with its variables filled in.
    const dashboard = JSON.parse(
      await Deno.readTextFile(`${ROOT}/plugins/observability/grafana_dashboard.json`),
    );
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        const promql = target.expr.replaceAll("$__rate_interval", "1m").replaceAll("$job", ".*")
          .replaceAll("$service", ".*");
        await query(prometheus.url, promql).catch((error) => {
          throw new Error(`Panel "${panel.title}": ${error.message}`);
        });
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});
