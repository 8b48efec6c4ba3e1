/**
 * The W3C Trace Context rules as case tables (version 00, spec/20-http_request_header_format.md),
 * and the checks every case runs on the request a bundle sent on: rule 1 on its form, rules 2 and 4
 * when the incoming context continues, rule 3 when it starts a new trace. Used by
 * `tests/trace_context_test.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type CapturedRequest, type CaptureServer, headerOf, headerValues } from "./_capture.ts";

/** The trace id of a valid incoming context. */
export const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
/** The parent id of a valid incoming context. */
export const PARENT_ID = "00f067aa0ba902b7";
/** A second trace id, for a second `traceparent` in one request. */
export const OTHER_TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
/** The parent id that goes with {@linkcode OTHER_TRACE_ID}. */
export const OTHER_PARENT_ID = "b7ad6b7169203331";
/** What an outgoing `traceparent` looks like: version 00, lower-case hex, four fields. */
export const OUTGOING = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A `traceparent` value from its fields. */
export function tp(flags = "01", traceId = TRACE_ID, parentId = PARENT_ID, version = "00"): string {
  return `${version}-${traceId}-${parentId}-${flags}`;
}

/** What an outgoing request of a continued trace must carry. */
export interface Continuation {
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
export interface Continues extends Continuation {
  /** The rule, as the step names it. */
  rule: string;
  /** Header lines sent, in order. */
  headers: [string, string][];
}

/** A case whose incoming context is invalid or missing: a new trace, no incoming tracestate. */
export interface Restarts {
  /** The rule, as the step names it. */
  rule: string;
  /** Header lines sent, in order. */
  headers: [string, string][];
}

/** A valid one-member `tracestate`. */
export const STATE = "congo=t61rcWkgMzE";

/** Rule 2: valid incoming `traceparent`s. */
export const VALID_TRACEPARENT: Continues[] = [
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
export const INVALID_TRACEPARENT: Restarts[] = ([
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

/** A case of rule 4: the `tracestate` fields sent and the one that must go on. */
export interface TracestateCase {
  /** The rule, as the step names it. */
  rule: string;
  /** The `tracestate` header lines sent, in order. */
  fields: string[];
  /** The `tracestate` that must go on, or `undefined` when none may. */
  tracestate: string | undefined;
}

/** Rule 4: `tracestate` with a valid `traceparent` (each case sends `tp("01")` first). */
export const TRACESTATE: TracestateCase[] = [
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

/** The fields of an outgoing `traceparent`, after checking rule 1 on the captured request. */
export interface Outgoing {
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
export function onlyOutgoing(capture: CaptureServer, path: string): Outgoing {
  const got = capture.at(path);
  assert.equal(got.length, 1, `one request on ${path}, got ${got.length}`);
  return outgoingOf(got[0]!);
}

/** Every 32-hex-digit run in the values sent, lower-cased: ids a new trace must not reuse. */
function idsSent(headers: [string, string][]): string[] {
  return headers.flatMap(([, v]) =>
    [...v.matchAll(/[0-9a-f]{32}/gi)].map((m) => m[0].toLowerCase())
  );
}

/** Rule 2 and 4 checks on one outgoing request of a continued trace. */
export function assertContinues(out: Outgoing, expected: Continuation): void {
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
export function assertRestarts(out: Outgoing, headers: [string, string][]): void {
  const sent = new Set([TRACE_ID, OTHER_TRACE_ID, ...idsSent(headers)]);
  assert.ok(!sent.has(out.traceId), `a new trace id, got ${out.traceparent}`);
  assert.equal(out.tracestate, undefined, "no tracestate from the request");
}
