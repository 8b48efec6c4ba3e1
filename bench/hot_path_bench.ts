/**
 * Micro-benchmarks of the per-request work the engine's thread does on the hot routes
 * (`deno task bench`), each against a baseline in the same run: the plugin host's `fetch` pass
 * (the engine's three plugins: two decline, one answers) against the `async`/`await` form it
 * replaced, the call history's recording wrapper against the bare call chain, and the building of
 * a `/b/` response (the hello bundle's) against the `Headers`-object form it replaced, and the
 * sandbox's side of a `/b/` call (request in, hello response out as a message) against the form
 * before the request's signal was made lazy and string bodies were sent as text. That group wraps
 * the global `Response` as the sandbox does, for every group of this file alike.
 *
 * @module
 */
import { type Plugin, PluginError, PluginHost } from "../engine/plugin/plugin.ts";
import { CallHistory } from "../engine/runtime/call_history.ts";
import { systemClock } from "../engine/base/clock.ts";
import type { AdmittedCall, CallOutcome } from "../engine/call/request.ts";
import { fromWireResponse } from "../engine/edge/http.ts";
import { CallScope } from "../engine/sandbox/guest/call_scope.ts";
import { CallRequest } from "../engine/sandbox/guest/call_request.ts";
import { bodyText, startBody } from "../engine/sandbox/guest/guest_streams.ts";
import {
  MAX_RESPONSE_BYTES,
  readResponse,
  responseMessage,
} from "../engine/sandbox/guest/fetch_response.ts";
import { trackStringBodies } from "../engine/sandbox/guest/string_body.ts";
import { clonesCheaply, MAX_CLONE_VALUES } from "../engine/sandbox/guest/clone_check.ts";
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

// The sandbox's side of `GET /b/hello-bench/`: the wire request as the engine sends it, the hello
// bundle's handler, and the message its response becomes (checked as the worker tier does).
trackStringBodies();
const WIRE_URL = "http://127.0.0.1:8000/";
const wireHeaders = (): [string, string][] => [
  ["host", "127.0.0.1:8000"],
  ["x-forwarded-prefix", "/b/hello-bench"],
];
const helloHandler = (_request: Request) => new Response("hello");

Deno.bench({
  name: "guest /b/ call, Request built with a signal, body read as a stream (before)",
  group: "guest /b/ call",
  baseline: true,
  async fn() {
    const scope = new CallScope(Date.now() + 60_000);
    const request = new Request(WIRE_URL, {
      method: "GET",
      headers: wireHeaders(),
      body: null,
      signal: scope.signal,
    });
    const response = helloHandler(request);
    const headers = [...response.headers];
    const start = await startBody(response.body, MAX_RESPONSE_BYTES);
    const text = bodyText(start.bytes, headers);
    const message = {
      type: "response",
      id: 1,
      response: { status: response.status, headers, body: null, text },
    };
    scope.dispose();
    if (text !== "hello" || !clonesCheaply(message, MAX_CLONE_VALUES)) throw new Error("not sent");
  },
});

Deno.bench({
  name: "guest /b/ call, CallRequest, string body as text, sealed message",
  group: "guest /b/ call",
  async fn() {
    const scope = new CallScope(Date.now() + 60_000);
    const request = new CallRequest(WIRE_URL, {
      method: "GET",
      headers: wireHeaders(),
      body: null,
    }, scope);
    const response = helloHandler(request);
    const head = await readResponse(response, false);
    const message = responseMessage(1, head);
    scope.dispose();
    if (head.text !== "hello" || !clonesCheaply(message, MAX_CLONE_VALUES)) {
      throw new Error("not sent");
    }
  },
});
