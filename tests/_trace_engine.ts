/**
 * The engine side of the trace-context test: the bundles it releases (a forwarding bundle per tier,
 * a pair that calls from one bundle to the other, a bundle that fetches through a proxy), and helpers to set up an engine whose bundles
 * may reach the capture server, release a bundle into it and call the forwarding bundle. Used by
 * `tests/trace_context_test.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { writeBundle } from "./_helpers.ts";
import { admin, type BundleView, releasePath } from "./_http.ts";
import type { EngineProcess } from "./_server.ts";
import { type CaptureServer, rawRequest } from "./_capture.ts";

/**
 * The forwarding bundle: fetches each entry of the JSON list in its request body (a URL, sent with
 * no headers of its own, or `{ url, headers }`), then answers with the trace headers of its own
 * incoming Request.
 */
export const FWD = `
export default {
  async fetch(request) {
    const calls = await request.json();
    const statuses = [];
    for (const call of calls) {
      const response = typeof call === "string"
        ? await fetch(call)
        : await fetch(call.url, { headers: call.headers });
      await response.body?.cancel();
      statuses.push(response.status);
    }
    return Response.json({
      traceparent: request.headers.get("traceparent"),
      tracestate: request.headers.get("tracestate"),
      custom: request.headers.get("x-custom"),
      statuses,
    });
  },
};`;

/** Bundle A of the pair: hands its input to bundle B over the broker. */
export const FRONT = `
export default {
  services: {
    FrontService: {
      go(input, ctx) {
        return ctx.broker.get("BackService").go(input);
      },
    },
  },
};`;

/** Bundle B of the pair: fetches the capture URL it is given. */
export const BACK = `
export default {
  services: {
    BackService: {
      async go(input) {
        const response = await fetch(input.url);
        await response.body?.cancel();
        return { status: response.status };
      },
    },
  },
};`;

/**
 * The proxied bundle: fetches `url` with Deno's `client` init option, a client whose proxy is
 * `proxy` (the capture server). The request reaches the capture server only if the guest's traced
 * `fetch` keeps `client`; without it, it goes straight to the server `url` names. Answers with the
 * status, or with the error as a 502.
 */
export const PROXIED = `
export default {
  async fetch(request) {
    const { url, proxy } = await request.json();
    const client = Deno.createHttpClient({ proxy: { url: proxy } });
    try {
      const response = await fetch(url, { client });
      await response.body?.cancel();
      return Response.json({ status: response.status });
    } catch (error) {
      return Response.json({ error: String(error) }, { status: 502 });
    } finally {
      client.close();
    }
  },
};`;

/** What the forwarding bundle answers. */
export interface FwdReply {
  /** The `traceparent` of the bundle's own Request. */
  traceparent: string | null;
  /** The `tracestate` of the bundle's own Request. */
  tracestate: string | null;
  /** The `x-custom` header of the bundle's own Request. */
  custom: string | null;
  /** The status of each fetch, in order. */
  statuses: number[];
}

/** One forwarding bundle and one proxied bundle per tier. */
export const TIERS = [
  { tier: "worker", bundle: "fwd-w", proxied: "via-w" },
  { tier: "process", bundle: "fwd-p", proxied: "via-p" },
] as const;

/** POSTs a JSON list of calls to a forwarding bundle through `/b/`, with raw header lines. */
export async function forward(
  engine: string,
  bundle: string,
  headers: [string, string][],
  calls: unknown[],
): Promise<FwdReply> {
  const reply = await rawRequest(
    engine,
    "POST",
    `/b/${bundle}/forward`,
    [["content-type", "application/json"], ...headers],
    JSON.stringify(calls),
  );
  assert.equal(reply.status, 200, reply.text);
  const body = JSON.parse(reply.text) as FwdReply;
  assert.ok(body.statuses.every((s) => s === 204), `capture answered ${body.statuses}`);
  return body;
}

/**
 * POSTs to a proxied bundle through `/b/`, with raw header lines: it fetches `url` through a client
 * whose proxy is `proxy`. Fails with the bundle's error unless a server answered 204.
 */
export async function fetchThroughProxy(
  engine: string,
  bundle: string,
  headers: [string, string][],
  call: { url: string; proxy: string },
): Promise<void> {
  const reply = await rawRequest(
    engine,
    "POST",
    `/b/${bundle}/proxied`,
    [["content-type", "application/json"], ...headers],
    JSON.stringify(call),
  );
  assert.equal(reply.status, 200, reply.text);
  assert.equal(JSON.parse(reply.text).status, 204, reply.text);
}

/** Writes a bundle under the engine's data folder and releases it through the admin API. */
export async function release(
  engine: EngineProcess,
  sources: string,
  manifest: Record<string, unknown>,
  code: string,
): Promise<void> {
  const dir = await writeBundle(sources, manifest, { "mod.ts": code });
  const reply = await releasePath(engine.url, dir);
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  assert.equal(reply.body.state, "ACTIVE", JSON.stringify(reply.body));
}

/** The isolation tier the admin API reports for a bundle's revisions. */
export async function tierOf(engine: EngineProcess, id: string): Promise<string[]> {
  const view = await admin<BundleView>(engine.url, "GET", `/admin/bundles/${id}`);
  return view.body.revisions.map((r) => r.isolation);
}

/**
 * The environment of an engine with Deno's OpenTelemetry on, exporting to `endpoint` (OTLP over
 * HTTP/JSON), spans and logs in batches of 100 ms, metrics as good as never.
 */
export function otelEnv(endpoint: string): Record<string, string> {
  return {
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_SERVICE_NAME: "bundlehost-trace-test",
    OTEL_METRIC_EXPORT_INTERVAL: "60000",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_BLRP_SCHEDULE_DELAY: "100",
  };
}

/** Where an engine of the test keeps its data and what its bundles may reach. */
export interface EngineFolder {
  /** The engine's data folder. */
  dataDir: string;
  /** Where released bundles' sources are written. */
  sources: string;
  /** The `net` grant that reaches the capture server. */
  net: string[];
  /**
   * The `net` grant of the proxied bundles: the capture server (their proxy) and the direct server
   * their URLs name, since Deno checks a fetch's own URL even when a proxy carries it. It is the
   * policy's whole `net` ceiling.
   */
  proxiedNet: string[];
  /** Engine arguments: an empty bundles folder and the policy as ceiling. */
  args: string[];
}

/** The servers an engine's bundles may reach. */
export interface Reachable {
  /** The capture server: the forwarding bundles' target, the proxied bundles' proxy. */
  capture: CaptureServer;
  /**
   * The server a proxied bundle's URL names: a request that bypassed the proxy would land there
   * (the engine's own `net` is loopback only, so a host that resolves nowhere cannot be granted).
   */
  direct: CaptureServer;
}

/** Data folder, sources folder and operator policy for an engine whose bundles may reach `net`. */
export async function engineFolder(
  root: string,
  name: string,
  { capture, direct }: Reachable,
): Promise<EngineFolder> {
  const dataDir = `${root}/${name}`;
  const sources = `${dataDir}/sources`;
  await Deno.mkdir(`${dataDir}/no-bundles`, { recursive: true });
  await Deno.mkdir(sources, { recursive: true });
  const net = [`127.0.0.1:${capture.port}`];
  const proxiedNet = [...net, `127.0.0.1:${direct.port}`];
  await Deno.writeTextFile(
    `${dataDir}/policy.json`,
    JSON.stringify({ net: proxiedNet, trusted: ["fwd-w", "front", "via-w"] }),
  );
  return {
    dataDir,
    sources,
    net,
    proxiedNet,
    args: ["--bundles", `${dataDir}/no-bundles`, "--ceiling", `${dataDir}/policy.json`],
  };
}
