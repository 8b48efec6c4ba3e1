/**
 * W3C Trace Context conformance, end to end (issue 19). Attacks the engine's handling of incoming
 * `traceparent` / `tracestate` at its edge and what it sends on: the real engine (`main.ts`) runs
 * in a child process with `OTEL_DENO=true`, exporting to a real OTLP receiver; requests are written
 * on a bare TCP socket (so header-name casing, repeated fields and whitespace arrive exactly as a
 * case writes them) through `/b/:bundleId/*` into a forwarding bundle in each tier, and through
 * `/rpc` into a call between two bundles (worker tier to process tier); a capture server on
 * loopback records the raw header list of each outgoing `fetch` a bundle makes, also one that
 * goes through the bundle's own Deno HTTP client (`client` option) as a proxy. Each rule of the
 * specification (version 00, spec/20-http_request_header_format.md) is a step of its own, named
 * after the rule. A second engine without OpenTelemetry checks that context passes through
 * unchanged there. The rules' case tables and checks are in `_trace_cases.ts`; the bundles and
 * the engine set-up in `_trace_engine.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { waitFor } from "./_helpers.ts";
import { startOtlpReceiver } from "./_otlp.ts";
import { startEngineProcess } from "./_server.ts";
import { headerOf, headerValues, rawRequest, startCaptureServer } from "./_capture.ts";
import {
  assertContinues,
  assertRestarts,
  INVALID_TRACEPARENT,
  onlyOutgoing,
  OTHER_PARENT_ID,
  OTHER_TRACE_ID,
  OUTGOING,
  PARENT_ID,
  STATE,
  tp,
  TRACE_ID,
  TRACESTATE,
  VALID_TRACEPARENT,
} from "./_trace_cases.ts";
import {
  BACK,
  engineFolder,
  fetchThroughProxy,
  forward,
  FRONT,
  FWD,
  otelEnv,
  PROXIED,
  release,
  tierOf,
  TIERS,
} from "./_trace_engine.ts";

Deno.test("Trace context holds end to end through /b/, /rpc and bundle fetches (OTel on)", async (t) => {
  await using receiver = startOtlpReceiver();
  await using capture = startCaptureServer();
  await using direct = startCaptureServer();
  const root = await Deno.makeTempDir({ prefix: "bundlehost-trace-" });
  try {
    const folder = await engineFolder(root, "on", { capture, direct });
    await using engine = await startEngineProcess(
      folder.dataDir,
      folder.args,
      otelEnv(receiver.url),
    );
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
    for (const { tier, proxied } of TIERS) {
      await release(engine, folder.sources, {
        id: proxied,
        version: "1.0.0",
        isolation: tier,
        permissions: { net: folder.proxiedNet },
      }, PROXIED);
    }
    assert.deepEqual(await tierOf(engine, "fwd-w"), ["worker"]);
    assert.deepEqual(await tierOf(engine, "fwd-p"), ["process"]);
    assert.deepEqual(await tierOf(engine, "front"), ["worker"]);
    assert.deepEqual(await tierOf(engine, "back"), ["process"]);
    assert.deepEqual(await tierOf(engine, "via-w"), ["worker"]);
    assert.deepEqual(await tierOf(engine, "via-p"), ["process"]);

    for (const { tier, bundle, proxied } of TIERS) {
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
        `${tier} tier: a fetch with Deno's client option goes through that client, in the trace`,
        async () => {
          const path = capture.fresh(`${tier}-client`);
          const url = `${direct.url}${path}`;
          await fetchThroughProxy(engine.url, proxied, [
            ["traceparent", tp("01")],
            ["tracestate", STATE],
          ], { url, proxy: capture.url });
          assert.equal(direct.at(path).length, 0, "no request bypassed the bundle's proxy");
          const out = onlyOutgoing(capture, path);
          assert.equal(capture.at(path)[0]!.url, url, "a proxy request for the bundle's URL");
          assertContinues(out, { flags: 0x01, tracestate: STATE });
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
  await using direct = startCaptureServer();
  const root = await Deno.makeTempDir({ prefix: "bundlehost-trace-off-" });
  try {
    const folder = await engineFolder(root, "off", { capture, direct });
    await using engine = await startEngineProcess(folder.dataDir, folder.args);
    await release(engine, folder.sources, {
      id: "fwd-w",
      version: "1.0.0",
      isolation: "worker",
      permissions: { net: folder.net },
    }, FWD);
    await release(engine, folder.sources, {
      id: "via-w",
      version: "1.0.0",
      isolation: "worker",
      permissions: { net: folder.proxiedNet },
    }, PROXIED);
    assert.deepEqual(await tierOf(engine, "fwd-w"), ["worker"]);
    assert.deepEqual(await tierOf(engine, "via-w"), ["worker"]);

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

    await t.step("a fetch with Deno's client option goes through that client", async () => {
      const path = capture.fresh("off-client");
      const url = `${direct.url}${path}`;
      const incoming = tp("00");
      await fetchThroughProxy(engine.url, "via-w", [["traceparent", incoming]], {
        url,
        proxy: capture.url,
      });
      assert.equal(direct.at(path).length, 0, "no request bypassed the bundle's proxy");
      const got = capture.at(path);
      assert.equal(got.length, 1);
      assert.equal(got[0]!.url, url, "a proxy request for the bundle's URL");
      assert.deepEqual(headerValues(got[0]!, "traceparent"), [incoming]);
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
