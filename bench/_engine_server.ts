/**
 * An engine serving the `hello` example bundle on an ephemeral loopback port, for
 * `tracing_bench.ts`: `deno run … _engine_server.ts <dataDir> <off|on>`. With `on` the
 * observability plugin runs (tracing and OTLP export too when the process has `OTEL_DENO=true`);
 * with `off` only the service-release plugin does. Prints `listening on <port>` when ready and
 * closes the engine on SIGTERM.
 *
 * @module
 */
import { createEngine, type Engine } from "../mod.ts";
import type { Plugin } from "../engine/plugin/plugin.ts";
import { observability } from "../plugins/observability/mod.ts";
import { serviceRelease } from "../plugins/service_release/mod.ts";

const [dataDir, mode] = Deno.args;
if (dataDir === undefined || (mode !== "on" && mode !== "off")) {
  console.error("Usage: _engine_server.ts <dataDir> <on|off>");
  Deno.exit(2);
}
const plugins: Plugin<Engine>[] = [serviceRelease({ adminToken: "bench-token-0123456789abcdef" })];
if (mode === "on") plugins.unshift(observability({ logFormat: "off" }));
// The bench measures tracing on the worker tier, as it always has: the policy trusts hello with it.
const engine = await createEngine({ dataDir, plugins, ceiling: { trusted: ["hello"] } });
await engine.runtime.install(new URL("../bundles/hello", import.meta.url).pathname);
await engine.runtime.start("hello");
const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`listening on ${port}`),
}, engine.fetch);
Deno.addSignalListener("SIGTERM", async () => {
  await server.shutdown();
  await engine.close();
  Deno.exit(0);
});
