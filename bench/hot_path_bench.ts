/**
 * Micro-benchmarks of the per-request work the engine's thread does on the hot routes
 * (`deno task bench`), each against a baseline in the same run: the plugin host's `fetch` pass
 * (the engine's three plugins: two decline, one answers) against the `async`/`await` form it
 * replaced, the call history's recording wrapper against the bare call chain, and the building of
 * a `/b/` response (the hello bundle's) against the `Headers`-object form it replaced.
 *
 * @module
 */
import { type Plugin, PluginError, PluginHost } from "../engine/plugin/plugin.ts";
import { CallHistory } from "../engine/runtime/call_history.ts";
import { systemClock } from "../engine/base/clock.ts";
import type { AdmittedCall, CallOutcome } from "../engine/call/request.ts";
import { fromWireResponse } from "../engine/edge/http.ts";
import {
  BUNDLE_SANDBOX_CSP,
  confineHeaders,
  confineResponse,
} from "../plugins/service_release/origin.ts";

const answer = new Response("hello");
const request = new Request("http://127.0.0.1/b/hello-bench/");
// The engine's plugin shape: observability declines (not /metrics), service-release answers.
const plugins: Plugin<unknown>[] = [
  { name: "observability", fetch: () => undefined },
  { name: "service-release", fetch: () => Promise.resolve(answer) },
  { name: "console", fetch: () => undefined },
];
const host = new PluginHost(plugins);

/** The plugin host's `fetch` pass before this change: an async function awaiting every hook. */
async function firstAwaiting(request: Request): Promise<Response | undefined> {
  for (const plugin of plugins) {
    if (!plugin.fetch) continue;
    let response: Response | undefined;
    try {
      response = await plugin.fetch(request);
    } catch (error) {
      throw new PluginError(plugin.name, "fetch", error);
    }
    if (response !== undefined) return response;
  }
  return undefined;
}

Deno.bench({
  name: "fetch pass, async/await per plugin (before)",
  group: "plugin host fetch pass",
  baseline: true,
  async fn() {
    await firstAwaiting(request);
  },
});

Deno.bench({
  name: "fetch pass, PluginHost.first",
  group: "plugin host fetch pass",
  async fn() {
    await host.first(request);
  },
});

const call: AdmittedCall = {
  service: "HelloBench",
  method: "hello",
  input: {},
  deadline: Date.now() + 60_000,
  hops: 0,
};
const outcome: CallOutcome = { result: "hello", bundle: "hello-bench@1.0.0" };
const chain = (_call: AdmittedCall) => Promise.resolve(outcome);
const recorded = new CallHistory(systemClock).wrap(chain, () => "hello-bench");

Deno.bench({
  name: "call chain, unrecorded",
  group: "call history",
  baseline: true,
  async fn() {
    await chain(call);
  },
});

Deno.bench({
  name: "call chain, recorded by CallHistory",
  group: "call history",
  async fn() {
    await recorded(call);
  },
});

// What the hello bundle's `fetch` sends back: its `Response("hello")` as data.
const HELLO_HEADERS: [string, string][] = [["content-type", "text/plain;charset=UTF-8"]];
const HELLO_BYTES = new TextEncoder().encode("hello");
const OWN: [string, string][] = [["x-bundle", "hello-bench@1.0.0"]];

Deno.bench({
  name: "/b/ response, Headers object, bytes body, confined after (before)",
  group: "/b/ response",
  baseline: true,
  fn() {
    // The shape before: fromWireResponse filled a Headers object, fetchBundle set x-bundle on
    // it, and the service plane confined the built response.
    const headers = new Headers();
    for (const [name, value] of HELLO_HEADERS) headers.append(name, value);
    const response = new Response(HELLO_BYTES.slice(), { status: 200, headers });
    response.headers.set("x-bundle", "hello-bench@1.0.0");
    confineResponse(response, "/b/hello-bench");
    if (!response.headers.get("content-security-policy")?.startsWith(BUNDLE_SANDBOX_CSP)) {
      throw new Error("not confined");
    }
  },
});

Deno.bench({
  name: "/b/ response, one header list confined in place, text body",
  group: "/b/ response",
  fn() {
    const response = fromWireResponse(
      { status: 200, headers: HELLO_HEADERS.map(([n, v]) => [n, v]), body: null, text: "hello" },
      OWN,
      (list) => confineHeaders(list, "/b/hello-bench"),
    );
    if (!response.headers.get("content-security-policy")?.startsWith(BUNDLE_SANDBOX_CSP)) {
      throw new Error("not confined");
    }
  },
});
