/**
 * The engine side of the trace-context test: the bundles it releases (a forwarding bundle per tier,
 * a pair that calls from one bundle to the other), and helpers to set up an engine whose bundles
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

/** One forwarding bundle per tier. */
export const TIERS = [
  { tier: "worker", bundle: "fwd-w" },
  { tier: "process", bundle: "fwd-p" },
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

/** Where an engine of the test keeps its data and what its bundles may reach. */
export interface EngineFolder {
  /** The engine's data folder. */
  dataDir: string;
  /** Where released bundles' sources are written. */
  sources: string;
  /** The `net` grant that reaches the capture server (the policy's whole `net` ceiling). */
  net: string[];
  /** Engine arguments: an empty bundles folder and the policy as ceiling. */
  args: string[];
}

/** Data folder, sources folder and operator policy for an engine whose bundles may reach `net`. */
export async function engineFolder(
  root: string,
  name: string,
  capture: CaptureServer,
): Promise<EngineFolder> {
  const dataDir = `${root}/${name}`;
  const sources = `${dataDir}/sources`;
  await Deno.mkdir(`${dataDir}/no-bundles`, { recursive: true });
  await Deno.mkdir(sources, { recursive: true });
  const net = [`127.0.0.1:${capture.port}`];
  await Deno.writeTextFile(
    `${dataDir}/policy.json`,
    JSON.stringify({ net, trusted: ["fwd-w", "front"] }),
  );
  return {
    dataDir,
    sources,
    net,
    args: ["--bundles", `${dataDir}/no-bundles`, "--ceiling", `${dataDir}/policy.json`],
  };
}
