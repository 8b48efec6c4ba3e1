/**
 * The W3C Trace Context parser, rule by rule (W3C Trace Context, "traceparent Header" and
 * "tracestate Header"); the end-to-end cases over HTTP are in tests/trace_context_test.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  formatTraceparent,
  isTraceparent,
  isTracestate,
  MAX_TRACESTATE,
  parseTraceparent,
  parseTracestate,
  readTraceContext,
} from "./trace_context.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";
const tp = (flags = "01", version = "00") => `${version}-${TRACE}-${SPAN}-${flags}`;

Deno.test("parseTraceparent keeps a version-00 value as it is", () => {
  assert.equal(parseTraceparent(tp("01")), tp("01"));
  assert.equal(parseTraceparent(tp("00")), tp("00"));
});

Deno.test("parseTraceparent keeps the sampled and random flags and clears the others", () => {
  assert.equal(parseTraceparent(tp("03")), tp("03"));
  assert.equal(parseTraceparent(tp("02")), tp("02"));
  assert.equal(parseTraceparent(tp("ff")), tp("03"));
  assert.equal(parseTraceparent(tp("08")), tp("00"));
});

Deno.test("parseTraceparent ignores spaces and tabs around the value", () => {
  for (const raw of [` ${tp()}`, `\t${tp()}`, `${tp()} `, `${tp()}\t`, `\t ${tp()} \t`]) {
    assert.equal(parseTraceparent(raw), tp(), JSON.stringify(raw));
  }
});

Deno.test("parseTraceparent reads a higher version from its first 55 characters", () => {
  assert.equal(parseTraceparent(tp("01", "cc")), tp("01"));
  assert.equal(parseTraceparent(`${tp("01", "cc")}-what-the-future-will-be-like`), tp("01"));
  assert.equal(parseTraceparent(`${tp("01", "cc")}.what-the-future-will-be-like`), undefined);
  assert.equal(parseTraceparent(tp("01", "cc").slice(0, 54)), undefined);
});

Deno.test("parseTraceparent refuses every malformed value", () => {
  const bad = [
    "",
    tp("01", "ff"),
    `${tp()}.`,
    `${tp()}-what-the-future-will-be-like`,
    `.0-${TRACE}-${SPAN}-01`,
    `000-${TRACE}-${SPAN}-01`,
    `0-${TRACE}-${SPAN}-01`,
    `00-${"0".repeat(32)}-${SPAN}-01`,
    `00-${TRACE}-${"0".repeat(16)}-01`,
    `00-${TRACE.toUpperCase()}-${SPAN}-01`,
    `00-.${TRACE.slice(1)}-${SPAN}-01`,
    `00-${TRACE}1-${SPAN}-01`,
    `00-${TRACE.slice(1)}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}7-01`,
    `00-${TRACE}-${SPAN.slice(1)}-01`,
    `00-${TRACE}-${SPAN}-.0`,
    `00-${TRACE}-${SPAN}-001`,
    `00-${TRACE}-${SPAN}-1`,
    `00_${TRACE}_${SPAN}_01`,
    // Two headers, as Headers.get joins them.
    `${tp()}, ${tp()}`,
    `${" ".repeat(5000)}${tp()}`,
  ];
  for (const raw of bad) assert.equal(parseTraceparent(raw), undefined, JSON.stringify(raw));
  assert.equal(parseTraceparent(null), undefined);
});

Deno.test("parseTracestate normalises members and whitespace", () => {
  assert.equal(parseTracestate("foo=1 \t , \t bar=2, \t baz=3"), "foo=1,bar=2,baz=3");
  assert.equal(parseTracestate("\t foo=1 \t"), "foo=1");
  assert.equal(parseTracestate("a= x"), "a= x"); // A value's leading space is part of it.
  assert.equal(parseTracestate("foo=1,,  ,bar=2"), "foo=1,bar=2");
  assert.equal(parseTracestate(""), undefined);
  assert.equal(parseTracestate(" , "), undefined);
});

Deno.test("parseTracestate accepts every legal key and value character", () => {
  const key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
  let value = "";
  for (let c = 0x20; c <= 0x7e; c++) if (c !== 0x2c && c !== 0x3d) value += String.fromCharCode(c);
  assert.equal(parseTracestate(`${key}=${value}`), `${key}=${value}`);
  assert.equal(parseTracestate(`${key}@a-z0-9_-*/=1`), `${key}@a-z0-9_-*/=1`);
  assert.equal(parseTracestate("0abc=1,foo@=1,foo@@bar=2"), "0abc=1,foo@=1,foo@@bar=2");
  const longKey = "z".repeat(256);
  assert.equal(parseTracestate(`${longKey}=1`), `${longKey}=1`);
  assert.equal(parseTracestate(`a=${"v".repeat(256)}`), `a=${"v".repeat(256)}`);
});

Deno.test("parseTracestate drops the whole header for one bad member", () => {
  const bad = [
    "foo =1",
    "FOO=1",
    "foo.bar=1",
    "@foo=1,bar=2",
    "_foo=1",
    `${"z".repeat(257)}=1,foo=1`,
    "foo=bar=baz",
    "foo=,bar=3",
    "foo",
    "=1",
    `a=${"v".repeat(257)}`,
    "a=x\ty",
    "a=é",
  ];
  for (const raw of bad) assert.equal(parseTracestate(raw), undefined, JSON.stringify(raw));
});

Deno.test("parseTracestate takes at most 32 members", () => {
  const members = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=${i}`).join(",");
  assert.equal(parseTracestate(members(32)), members(32));
  assert.equal(parseTracestate(members(33)), undefined);
});

Deno.test("parseTracestate keeps the first of duplicated keys", () => {
  assert.equal(parseTracestate("foo=1,foo=2"), "foo=1");
  assert.equal(parseTracestate("foo=1,bar=2,foo=1"), "foo=1,bar=2");
});

Deno.test("parseTracestate fits 512 characters: long members first, then from the end", () => {
  const long = `long=${"x".repeat(200)}`;
  const short = Array.from({ length: 20 }, (_, i) => `key${i}=${"y".repeat(12)}`);
  const out = parseTracestate([short[0], long, ...short.slice(1)].join(","))!;
  assert.equal(out, short.join(","), "the member over 128 characters goes first");
  const many = Array.from({ length: 30 }, (_, i) => `key${i}=${"y".repeat(20)}`);
  const cut = parseTracestate(many.join(","))!;
  assert.ok(cut.length <= MAX_TRACESTATE);
  assert.equal(cut, many.slice(0, cut.split(",").length).join(","), "then members from the end");
});

Deno.test("parseTracestate ignores a raw header too large to be legal", () => {
  assert.equal(parseTracestate(`foo=1,${",".repeat(40_000)}`), undefined);
});

Deno.test("readTraceContext matches header names in any case and needs a valid traceparent", () => {
  const headers = new Headers([["TraceParent", tp("03")], ["TRACESTATE", "b=2"], [
    "tracestate",
    "a=1",
  ]]);
  assert.deepEqual(readTraceContext(headers), { traceparent: tp("03"), tracestate: "b=2,a=1" });
  assert.equal(readTraceContext(new Headers([["tracestate", "a=1"]])), undefined);
  assert.equal(readTraceContext(new Headers([["trace-parent", tp()]])), undefined);
  const twice = new Headers([["traceparent", tp()], ["traceparent", tp()]]);
  assert.equal(readTraceContext(twice), undefined);
  assert.deepEqual(readTraceContext(new Headers([["traceparent", tp()], ["tracestate", "A=1"]])), {
    traceparent: tp(),
  });
});

Deno.test("isTracestate accepts only what the engine itself writes", () => {
  assert.ok(isTracestate("a=1,b=2"));
  assert.ok(!isTracestate("a=1, b=2"));
  assert.ok(!isTracestate("A=1"));
  assert.ok(!isTracestate(`a=${"x".repeat(200)},b=${"y".repeat(200)},c=${"z".repeat(200)}`));
  assert.ok(!isTracestate(42));
});

Deno.test("formatTraceparent writes version 00 with only the known flags", () => {
  assert.equal(formatTraceparent(TRACE, SPAN, 0xff), tp("03"));
  assert.ok(isTraceparent(formatTraceparent(TRACE, SPAN, 1)));
});
