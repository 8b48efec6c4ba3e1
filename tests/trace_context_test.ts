/**
 * W3C Trace Context conformance, end to end (issue 19). Attacks the engine's handling of incoming
 * `traceparent` / `tracestate` at its edge and what it sends on: the real engine (`main.ts`) runs
 * in a child process with `OTEL_DENO=true`, exporting to a real OTLP receiver; requests are written
 * on a bare TCP socket (so header-name casing, repeated fields and whitespace arrive exactly as a
 * case writes them) through `/b/:bundleId/*` into a forwarding bundle in each tier, and through
 * `/rpc` into a call between two bundles (worker tier to process tier); a capture server on
 * loopback records the raw header list of each outgoing `fetch` a bundle makes. Each rule of the
 * specification (version 00, spec/20-http_request_header_format.md) is a step of its own, named
 * after the rule. A second engine without OpenTelemetry checks that context passes through
 * unchanged there.
 *
 * @module
 */
import assert from "node:assert/strict";
import { waitFor, writeBundle } from "./_helpers.ts";
import { admin, type BundleView, releasePath } from "./_http.ts";
import { startOtlpReceiver } from "./_otlp.ts";
import { type EngineProcess, startEngineProcess } from "./_server.ts";
import {
  type CapturedRequest,
  type CaptureServer,
  headerOf,
  headerValues,
  rawRequest,
  startCaptureServer,
} from "./_capture.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
const OTHER_TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const OTHER_PARENT_ID = "b7ad6b7169203331";
/** What an outgoing `traceparent` looks like: version 00, lower-case hex, four fields. */
const OUTGOING = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A `traceparent` value from its fields. */
function tp(flags = "01", traceId = TRACE_ID, parentId = PARENT_ID, version = "00"): string {
  return `${version}-${traceId}-${parentId}-${flags}`;
}

/**
 * The forwarding bundle: fetches each entry of the JSON list in its request body (a URL, sent with
 * no headers of its own, or `{ url, headers }`), then answers with the trace headers of its own
 * incoming Request.
 */
const FWD = `
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
const FRONT = `
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
const BACK = `
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
interface FwdReply {
  traceparent: string | null;
  tracestate: string | null;
  custom: string | null;
  statuses: number[];
}

/** One forwarding bundle per tier. */
const TIERS = [
  { tier: "worker", bundle: "fwd-w" },
  { tier: "process", bundle: "fwd-p" },
] as const;

/** The fields of an outgoing `traceparent`, after checking rule 1 on the captured request. */
interface Outgoing {
  traceparent: string;
  traceId: string;
  parentId: string;
  flags: number;
  tracestate: string | undefined;
}

/**
 * Rule 1 on one captured request: exactly one `traceparent`, version 00 in lower-case hex; at most
 * one `tracestate` (several fields would reach the server joined with ", ", which a normalised
 * value never holds).
 */
function outgoingOf(request: CapturedRequest): Outgoing {
  const values = headerValues(request, "traceparent");
  assert.equal(values.length, 1, `exactly one traceparent, got ${JSON.stringify(values)}`);
  const traceparent = values[0]!;
  const match = OUTGOING.exec(traceparent);
  assert.ok(match, `traceparent in W3C version 00 format, got "${traceparent}"`);
  const tracestate = headerOf(request, "tracestate");
  assert.ok(
    tracestate === undefined || !tracestate.includes(", "),
    `at most one normalised tracestate, got "${tracestate}"`,
  );
  return {
    traceparent,
    traceId: match[1]!,
    parentId: match[2]!,
    flags: parseInt(match[3]!, 16),
    tracestate,
  };
}

/** The single request the capture server got on `path`, checked against rule 1. */
function onlyOutgoing(capture: CaptureServer, path: string): Outgoing {
  const got = capture.at(path);
  assert.equal(got.length, 1, `one request on ${path}, got ${got.length}`);
  return outgoingOf(got[0]!);
}

/** POSTs a JSON list of calls to a forwarding bundle through `/b/`, with raw header lines. */
async function forward(
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

/** Every 32-hex-digit run in the values sent, lower-cased: ids a new trace must not reuse. */
function idsSent(headers: [string, string][]): string[] {
  return headers.flatMap(([, v]) =>
    [...v.matchAll(/[0-9a-f]{32}/gi)].map((m) => m[0].toLowerCase())
  );
}

/** What an outgoing request of a continued trace must carry. */
interface Continuation {
  /** Flags the outgoing `traceparent` must carry. */
  flags: number;
  /** The outgoing `tracestate`, or `undefined` when none may be sent. */
  tracestate: string | undefined;
  /** The incoming trace id (default {@linkcode TRACE_ID}). */
  traceId?: string;
  /** The incoming parent id (default {@linkcode PARENT_ID}). */
  parentId?: string;
}

/** A case whose incoming context is valid: the trace continues. */
interface Continues extends Continuation {
  rule: string;
  headers: [string, string][];
}

/** A case whose incoming context is invalid or missing: a new trace, no incoming tracestate. */
interface Restarts {
  rule: string;
  headers: [string, string][];
}

const STATE = "congo=t61rcWkgMzE";

/** Rule 2: valid incoming `traceparent`s. */
const VALID_TRACEPARENT: Continues[] = [
  {
    rule: "version 00 sampled continues the trace with a new parent id",
    headers: [["traceparent", tp("01")]],
    flags: 0x01,
    tracestate: undefined,
  },
  {
    rule: "an unsampled 00 stays unsampled",
    headers: [["traceparent", tp("00")]],
    flags: 0x00,
    tracestate: undefined,
  },
  {
    rule: "the level 2 random-trace-id flag is kept (02)",
    headers: [["traceparent", tp("02")]],
    flags: 0x02,
    tracestate: undefined,
  },
  {
    rule: "sampled and random flags are both kept (03)",
    headers: [["traceparent", tp("03")]],
    flags: 0x03,
    tracestate: undefined,
  },
  {
    rule: "undefined flag bits are set to zero (ff gives 03)",
    headers: [["traceparent", tp("ff")]],
    flags: 0x03,
    tracestate: undefined,
  },
  {
    rule: "undefined flag bits are set to zero (09 gives 01)",
    headers: [["traceparent", tp("09")]],
    flags: 0x01,
    tracestate: undefined,
  },
  {
    rule: "a higher version of exactly 55 characters is parsed and sent on as 00",
    headers: [["traceparent", tp("01", TRACE_ID, PARENT_ID, "cc")]],
    flags: 0x01,
    tracestate: undefined,
  },
  {
    rule: "a higher version with more fields after a dash is parsed and sent on as 00",
    headers: [["traceparent", `${tp("01", TRACE_ID, PARENT_ID, "cc")}-what-the-future-holds`]],
    flags: 0x01,
    tracestate: undefined,
  },
  {
    rule: "spaces and tabs around the value are ignored",
    headers: [["traceparent", ` \t ${tp("01")}\t `]],
    flags: 0x01,
    tracestate: undefined,
  },
  {
    rule: "the header name is case-insensitive (TraceParent)",
    headers: [["TraceParent", tp("01")]],
    flags: 0x01,
    tracestate: undefined,
  },
  {
    rule: "the header names are case-insensitive (TRACEPARENT, TraceState)",
    headers: [["TRACEPARENT", tp("01")], ["TraceState", STATE]],
    flags: 0x01,
    tracestate: STATE,
  },
];

/** Rule 3: invalid or missing `traceparent`s (each also sends a `tracestate` that must not pass). */
const INVALID_TRACEPARENT: Restarts[] = ([
  ["no traceparent", undefined],
  ["an empty traceparent", ""],
  ["upper-case hex in the trace id", tp("01", TRACE_ID.toUpperCase())],
  ["upper-case hex in the parent id", tp("01", TRACE_ID, PARENT_ID.toUpperCase())],
  ["upper-case hex in the flags", tp("0A")],
  ["upper-case hex in the version", tp("01", TRACE_ID, PARENT_ID, "CC")],
  ["an illegal character in the version", tp("01", TRACE_ID, PARENT_ID, "0.")],
  ["an illegal character in the trace id", tp("01", `${TRACE_ID.slice(0, 31)}g`)],
  ["an illegal character in the parent id", tp("01", TRACE_ID, `${PARENT_ID.slice(0, 15)}.`)],
  ["an illegal character in the flags", tp("0g")],
  ["a version of one character", tp("01", TRACE_ID, PARENT_ID, "0")],
  ["a version of three characters", tp("01", TRACE_ID, PARENT_ID, "000")],
  ["a trace id one character short", tp("01", TRACE_ID.slice(1))],
  ["a trace id one character long", tp("01", `${TRACE_ID}0`)],
  ["a parent id one character short", tp("01", TRACE_ID, PARENT_ID.slice(1))],
  ["a parent id one character long", tp("01", TRACE_ID, `${PARENT_ID}0`)],
  ["flags of one character", tp("1")],
  ["flags of three characters", tp("001")],
  ["version ff", tp("01", TRACE_ID, PARENT_ID, "ff")],
  ["version 00 with a further field", `${tp("01")}-extra`],
  ["version 00 with one character more", `${tp("01")}0`],
  ["a higher version shorter than 55 characters", tp("1", TRACE_ID, PARENT_ID, "cc")],
  ["a higher version without a dash after the flags", `${tp("01", TRACE_ID, PARENT_ID, "cc")}.x`],
  ["an all-zero trace id", tp("01", "0".repeat(32))],
  ["an all-zero parent id", tp("01", TRACE_ID, "0".repeat(16))],
  ["the fields separated by other characters", `00_${TRACE_ID}_${PARENT_ID}_01`],
] as [string, string | undefined][]).map(([what, value]) => ({
  rule: `${what} starts a new trace and drops tracestate`,
  headers: [
    ...(value === undefined ? [] : [["traceparent", value] as [string, string]]),
    ["tracestate", STATE],
  ],
}));
INVALID_TRACEPARENT.push(
  {
    rule: "two traceparent headers start a new trace and drop tracestate",
    headers: [
      ["traceparent", tp("01")],
      ["traceparent", tp("01", OTHER_TRACE_ID, OTHER_PARENT_ID)],
      ["tracestate", STATE],
    ],
  },
  {
    rule: "two identical traceparent headers start a new trace and drop tracestate",
    headers: [["traceparent", tp("01")], ["traceparent", tp("01")], ["tracestate", STATE]],
  },
  {
    rule: "a hyphenated header name (trace-parent) is not traceparent",
    headers: [["trace-parent", tp("01")], ["tracestate", STATE]],
  },
);

/** A member `k=v…` of exactly `length` characters. */
function member(key: string, length: number): string {
  return `${key}=${"v".repeat(length - key.length - 1)}`;
}

const KEY_256 = `k${"a".repeat(255)}`;
const VALUE_256 = "x".repeat(256);
const MEMBERS_32 = Array.from({ length: 32 }, (_, i) => `m${i}=${i}`);
const BIG = member("big", 143);
const M103 = ["k1", "k2", "k3", "k4", "k5", "k6"].map((k) => member(k, 103));
const M128 = ["q1", "q2", "q3"].map((k) => member(k, 128));

/** Rule 4: `tracestate` with a valid `traceparent` (each case sends `tp("01")` first). */
const TRACESTATE: { rule: string; fields: string[]; tracestate: string | undefined }[] = [
  { rule: "a single member arrives unchanged", fields: [STATE], tracestate: STATE },
  {
    rule: "several members arrive unchanged, in order",
    fields: [`rojo=${PARENT_ID},${STATE}`],
    tracestate: `rojo=${PARENT_ID},${STATE}`,
  },
  {
    rule: "several tracestate headers are combined in order",
    fields: ["a=1", "b=2,c=3", "d=4"],
    tracestate: "a=1,b=2,c=3,d=4",
  },
  {
    rule: "spaces and tabs around members are ignored",
    fields: [" a=1 ,\tb=2\t,  c=3  "],
    tracestate: "a=1,b=2,c=3",
  },
  {
    rule: "a value keeps its leading space",
    fields: ["a= x,b=2"],
    tracestate: "a= x,b=2",
  },
  {
    rule: "empty and blank members are ignored",
    fields: [",a=1,,b=2, ,\t,"],
    tracestate: "a=1,b=2",
  },
  {
    rule: "an empty tracestate header sends none",
    fields: [""],
    tracestate: undefined,
  },
  {
    rule: "keys of every allowed character and of 256 characters are kept",
    fields: [`0ab=1,a_b-c*d/e@f=2,tenant@vendor=3,${KEY_256}=4`],
    tracestate: `0ab=1,a_b-c*d/e@f=2,tenant@vendor=3,${KEY_256}=4`,
  },
  {
    rule: "values of every printable character and of 256 characters are kept",
    fields: [`a=!"#$%&'()*+-./:;<>?@[\\]^_\`{|}~ z,b=${VALUE_256}`],
    tracestate: `a=!"#$%&'()*+-./:;<>?@[\\]^_\`{|}~ z,b=${VALUE_256}`,
  },
  ...([
    ["an upper-case key", "a=1,Bc=2"],
    ["a key starting with an underscore", "a=1,_b=2"],
    ["a key starting with an at sign", "a=1,@b=2"],
    ["a key of 257 characters", `a=1,${KEY_256}x=2`],
    ["a key with a dot", "a=1,b.c=2"],
    ["an empty key", "a=1,=2"],
    ["a member without an equals sign", "a=1,b"],
    ["an empty value", "a=1,b="],
    ["a value with an equals sign", "a=1,b=c=d"],
    ["a value of 257 characters", `a=1,b=${VALUE_256}x`],
    ["a value with a tab inside", "a=1,b=c\td"],
    ["a value with a non-ASCII character", "a=1,b=caf\u00e9"],
    ["a space inside a member before the equals sign", "a=1,b =2"],
    ["33 members", [...MEMBERS_32, "m32=32"].join(",")],
    ["33 members over two headers", MEMBERS_32.join(","), "m32=32"],
  ] as string[][]).map(([what, ...fields]) => ({
    rule: `${what} drops the whole tracestate`,
    fields,
    tracestate: undefined,
  })),
  {
    rule: "32 members are kept",
    fields: [MEMBERS_32.join(",")],
    tracestate: MEMBERS_32.join(","),
  },
  {
    rule: "32 members with empty ones between are kept",
    fields: [MEMBERS_32.join(",,")],
    tracestate: MEMBERS_32.join(","),
  },
  {
    rule: "a duplicated key keeps its first member",
    fields: ["a=1,b=2,a=3"],
    tracestate: "a=1,b=2",
  },
  {
    rule: "a duplicated key over two headers keeps its first member",
    fields: ["a=1,b=2", "b=3,c=4"],
    tracestate: "a=1,b=2,c=4",
  },
  {
    rule: "a list of exactly 512 characters is kept whole",
    fields: [[...M128, member("q4", 125)].join(",")],
    tracestate: [...M128, member("q4", 125)].join(","),
  },
  {
    rule: "over 512 characters, members longer than 128 are removed first",
    fields: [[M103[0], BIG, M103[1], M103[2], M103[3]].join(",")],
    tracestate: M103.slice(0, 4).join(","),
  },
  {
    rule: "over 512 characters, members are removed from the end until it fits",
    fields: [M103.join(",")],
    tracestate: M103.slice(0, 4).join(","),
  },
  {
    rule: "over 512 characters, long members go first, then members from the end",
    fields: [[M103[0], BIG, ...M103.slice(1, 5)].join(",")],
    tracestate: M103.slice(0, 4).join(","),
  },
  {
    rule: "the 512 limit counts the normalised list, not the whitespace sent",
    fields: [[...M128, member("q4", 125)].join(" ,\t ")],
    tracestate: [...M128, member("q4", 125)].join(","),
  },
];

/** Rule 2 and 4 checks on one outgoing request of a continued trace. */
function assertContinues(out: Outgoing, expected: Continuation): void {
  const parentId = expected.parentId ?? PARENT_ID;
  assert.equal(out.traceId, expected.traceId ?? TRACE_ID, "the same trace id");
  assert.notEqual(out.parentId, parentId, "a parent id of the engine's, not the caller's");
  assert.equal(
    out.flags,
    expected.flags,
    `flags ${expected.flags.toString(16).padStart(2, "0")}, got ${out.traceparent}`,
  );
  assert.equal(out.tracestate, expected.tracestate, "tracestate");
}

/** Rule 3 checks on one outgoing request of a restarted trace. */
function assertRestarts(out: Outgoing, headers: [string, string][]): void {
  const sent = new Set([TRACE_ID, OTHER_TRACE_ID, ...idsSent(headers)]);
  assert.ok(!sent.has(out.traceId), `a new trace id, got ${out.traceparent}`);
  assert.equal(out.tracestate, undefined, "no tracestate from the request");
}

/** Writes a bundle under the engine's data folder and releases it through the admin API. */
async function release(
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
async function tierOf(engine: EngineProcess, id: string): Promise<string[]> {
  const view = await admin<BundleView>(engine.url, "GET", `/admin/bundles/${id}`);
  return view.body.revisions.map((r) => r.isolation);
}

/** Data folder, sources folder and operator policy for an engine whose bundles may reach `net`. */
async function engineFolder(root: string, name: string, capture: CaptureServer) {
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

Deno.test("Trace context holds end to end through /b/, /rpc and bundle fetches (OTel on)", async (t) => {
  await using receiver = startOtlpReceiver();
  await using capture = startCaptureServer();
  const root = await Deno.makeTempDir({ prefix: "bundlehost-trace-" });
  try {
    const folder = await engineFolder(root, "on", capture);
    await using engine = await startEngineProcess(folder.dataDir, folder.args, {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "bundlehost-trace-test",
      OTEL_METRIC_EXPORT_INTERVAL: "60000",
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_BLRP_SCHEDULE_DELAY: "100",
    });
    const permissions = { net: folder.net };
    await release(engine, folder.sources, {
      id: "fwd-w",
      version: "1.0.0",
      isolation: "worker",
      permissions,
    }, FWD);
    await release(engine, folder.sources, {
      id: "fwd-p",
      version: "1.0.0",
      isolation: "process",
      permissions,
    }, FWD);
    await release(engine, folder.sources, {
      id: "front",
      version: "1.0.0",
      isolation: "worker",
      services: { FrontService: "1.0.0" },
    }, FRONT);
    await release(engine, folder.sources, {
      id: "back",
      version: "1.0.0",
      isolation: "process",
      services: { BackService: "1.0.0" },
      permissions,
    }, BACK);
    assert.deepEqual(await tierOf(engine, "fwd-w"), ["worker"]);
    assert.deepEqual(await tierOf(engine, "fwd-p"), ["process"]);
    assert.deepEqual(await tierOf(engine, "front"), ["worker"]);
    assert.deepEqual(await tierOf(engine, "back"), ["process"]);

    for (const { tier, bundle } of TIERS) {
      /** Sends `headers` to the bundle, which fetches one fresh capture path; rule 1 checked. */
      const once = async (rule: string, headers: [string, string][]) => {
        const path = capture.fresh(`${tier}-${rule}`);
        const reply = await forward(engine.url, bundle, headers, [`${capture.url}${path}`]);
        return { out: onlyOutgoing(capture, path), reply };
      };

      await t.step(
        `${tier} tier: rule 1, one well-formed traceparent when none came in`,
        async () => {
          const { out } = await once("none", []);
          assert.equal(out.tracestate, undefined);
        },
      );

      for (const c of VALID_TRACEPARENT) {
        await t.step(`${tier} tier: rule 2, ${c.rule}`, async () => {
          const { out } = await once(c.rule, c.headers);
          assertContinues(out, c);
        });
      }

      for (const c of INVALID_TRACEPARENT) {
        await t.step(`${tier} tier: rule 3, ${c.rule}`, async () => {
          const { out } = await once(c.rule, c.headers);
          assertRestarts(out, c.headers);
        });
      }

      for (const c of TRACESTATE) {
        await t.step(`${tier} tier: rule 4, ${c.rule}`, async () => {
          const headers: [string, string][] = [
            ["traceparent", tp("01")],
            ...c.fields.map((f): [string, string] => ["tracestate", f]),
          ];
          const { out } = await once(c.rule, headers);
          assertContinues(out, { flags: 0x01, tracestate: c.tracestate });
        });
      }

      await t.step(
        `${tier} tier: rule 5, several fetches share the trace with distinct parent ids`,
        async () => {
          const paths = [1, 2, 3].map((i) => capture.fresh(`${tier}-several-${i}`));
          await forward(
            engine.url,
            bundle,
            [["traceparent", tp("01")]],
            paths.map((p) => `${capture.url}${p}`),
          );
          const outs = paths.map((p) => onlyOutgoing(capture, p));
          for (const out of outs) {
            assertContinues(out, { flags: 0x01, tracestate: undefined });
          }
          assert.equal(new Set(outs.map((o) => o.parentId)).size, 3, "distinct parent ids");
        },
      );

      await t.step(
        `${tier} tier: rule 5, several fetches in a new trace share its trace id`,
        async () => {
          const paths = [1, 2].map((i) => capture.fresh(`${tier}-several-new-${i}`));
          await forward(engine.url, bundle, [], paths.map((p) => `${capture.url}${p}`));
          const outs = paths.map((p) => onlyOutgoing(capture, p));
          assert.equal(outs[0]!.traceId, outs[1]!.traceId, "one trace");
          assert.notEqual(outs[0]!.parentId, outs[1]!.parentId, "distinct parent ids");
        },
      );

      /** Sends `headers` to the bundle; its Request's `traceparent`, checked as W3C 00. */
      const seenBy = async (rule: string, headers: [string, string][]) => {
        const { out, reply } = await once(rule, headers);
        const seen = OUTGOING.exec(reply.traceparent ?? "");
        assert.ok(seen, `the bundle's traceparent is W3C version 00, got ${reply.traceparent}`);
        return { out, reply, traceId: seen[1]!, parentId: seen[2]!, flags: parseInt(seen[3]!, 16) };
      };

      await t.step(
        `${tier} tier: rule 7, the bundle's Request is in the caller's trace under the engine's span`,
        async () => {
          const seen = await seenBy("own-request", [
            ["traceparent", tp("01")],
            ["x-custom", "kept as sent"],
          ]);
          assert.equal(seen.traceId, TRACE_ID, "the caller's trace id");
          assert.notEqual(seen.parentId, PARENT_ID, "the engine's span as parent");
          assert.equal(seen.reply.custom, "kept as sent", "other caller headers arrive untouched");
        },
      );

      await t.step(
        `${tier} tier: rule 7, the bundle's Request keeps the caller's flags`,
        async () => {
          const seen = await seenBy("own-request-flags", [["traceparent", tp("02")]]);
          assert.equal(seen.traceId, TRACE_ID, "the caller's trace id");
          assert.equal(seen.flags, 0x02, `flags 02, got ${seen.reply.traceparent}`);
        },
      );

      await t.step(
        `${tier} tier: rule 7, the bundle's Request has the normalised tracestate`,
        async () => {
          const seen = await seenBy("own-request-state", [
            ["traceparent", tp("01")],
            ["TraceState", " a=1 , ,b=2"],
            ["tracestate", "c=3"],
          ]);
          assert.equal(seen.reply.tracestate, "a=1,b=2,c=3");
        },
      );

      await t.step(
        `${tier} tier: rule 7, with an invalid traceparent the bundle's Request shows the new trace`,
        async () => {
          const seen = await seenBy("own-request-invalid", [
            ["traceparent", tp("01", TRACE_ID.toUpperCase())],
          ]);
          assert.equal(seen.traceId, seen.out.traceId, "the trace its fetch carries");
          assert.notEqual(seen.traceId, TRACE_ID);
        },
      );

      await t.step(
        `${tier} tier: rule 7, without context the bundle's Request shows the new trace`,
        async () => {
          const { out, reply } = await once("own-request-new", []);
          const seen = OUTGOING.exec(reply.traceparent ?? "");
          assert.ok(seen, `the bundle's traceparent is W3C version 00, got ${reply.traceparent}`);
          assert.equal(seen[1], out.traceId, "the trace its fetch carries");
          assert.equal(reply.tracestate, null);
        },
      );

      await t.step(
        `${tier} tier: a traceparent the bundle sets itself is sent as its only one`,
        async () => {
          const own = tp("01", OTHER_TRACE_ID, OTHER_PARENT_ID);
          const path = capture.fresh(`${tier}-bundle-own`);
          await forward(engine.url, bundle, [["traceparent", tp("01")]], [{
            url: `${capture.url}${path}`,
            headers: { traceparent: own },
          }]);
          const got = capture.at(path);
          assert.equal(got.length, 1);
          assert.deepEqual(headerValues(got[0]!, "traceparent"), [own]);
        },
      );

      await t.step(
        `${tier} tier: rule 8, the parent id sent on is a span exported in the trace`,
        async () => {
          const traceId = crypto.randomUUID().replaceAll("-", "");
          const { out } = await once("linkage", [["traceparent", tp("01", traceId)]]);
          assert.equal(out.traceId, traceId);
          await waitFor(
            () => receiver.spans.some((s) => s.traceId === traceId && s.spanId === out.parentId),
            30_000,
            `a span ${out.parentId} in trace ${traceId} (got ${
              receiver.spans.filter((s) => s.traceId === traceId).map((s) =>
                `${s.name}:${s.spanId}`
              )
                .join(", ")
            })`,
          );
        },
      );
    }

    /** `POST /rpc/FrontService/go`: bundle A (worker) calls B (process), which fetches `path`. */
    const between = async (rule: string, headers: [string, string][]) => {
      const path = capture.fresh(`between-${rule}`);
      const reply = await rawRequest(
        engine.url,
        "POST",
        "/rpc/FrontService/go",
        [["content-type", "application/json"], ...headers],
        JSON.stringify({ url: `${capture.url}${path}` }),
      );
      assert.equal(reply.status, 200, reply.text);
      return onlyOutgoing(capture, path);
    };

    await t.step("rule 6, between bundles the trace goes on with a new parent id", async () => {
      const out = await between("trace", [["traceparent", tp("01")]]);
      assertContinues(out, { flags: 0x01, tracestate: undefined });
    });

    await t.step("rule 6, between bundles the tracestate goes on, normalised", async () => {
      const out = await between("state", [
        ["traceparent", tp("01")],
        ["tracestate", ` ${STATE} ,rojo=${PARENT_ID}`],
      ]);
      assertContinues(out, {
        flags: 0x01,
        tracestate: `${STATE},rojo=${PARENT_ID}`,
      });
    });

    await t.step("rule 6, between bundles the caller's flags go on (02)", async () => {
      const out = await between("flags", [["traceparent", tp("02")]]);
      assertContinues(out, { flags: 0x02, tracestate: undefined });
    });

    await t.step("rule 6, between bundles an invalid traceparent starts a new trace", async () => {
      const headers: [string, string][] = [
        ["traceparent", tp("01", TRACE_ID.toUpperCase())],
        ["tracestate", STATE],
      ];
      assertRestarts(await between("invalid", headers), headers);
    });
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

Deno.test("Trace context passes through unchanged when OpenTelemetry is off", async (t) => {
  await using capture = startCaptureServer();
  const root = await Deno.makeTempDir({ prefix: "bundlehost-trace-off-" });
  try {
    const folder = await engineFolder(root, "off", capture);
    await using engine = await startEngineProcess(folder.dataDir, folder.args);
    await release(engine, folder.sources, {
      id: "fwd-w",
      version: "1.0.0",
      isolation: "worker",
      permissions: { net: folder.net },
    }, FWD);
    assert.deepEqual(await tierOf(engine, "fwd-w"), ["worker"]);

    await t.step("a valid context arrives unchanged (tracestate normalised)", async () => {
      const path = capture.fresh("off-pass");
      const incoming = tp("00");
      await forward(engine.url, "fwd-w", [
        ["traceparent", incoming],
        ["tracestate", ` ${STATE} , ,rojo=${PARENT_ID}`],
      ], [`${capture.url}${path}`]);
      const got = capture.at(path);
      assert.equal(got.length, 1);
      assert.deepEqual(headerValues(got[0]!, "traceparent"), [incoming]);
      assert.equal(headerOf(got[0]!, "tracestate"), `${STATE},rojo=${PARENT_ID}`);
    });

    await t.step("without incoming context no traceparent is added", async () => {
      const path = capture.fresh("off-none");
      await forward(engine.url, "fwd-w", [], [`${capture.url}${path}`]);
      const got = capture.at(path);
      assert.equal(got.length, 1);
      assert.equal(headerOf(got[0]!, "traceparent"), undefined);
      assert.equal(headerOf(got[0]!, "tracestate"), undefined);
    });
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
