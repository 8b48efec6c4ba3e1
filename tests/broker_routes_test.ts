/**
 * The broker's route modes with real bundles: default (ranking, deterministic tie-break), semver
 * discovery, ID, REG, RULE, dynamic, mock; in-bundle typed clients; deadline and trace context
 * between bundles; the hop limit; service URIs in status.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BundlehostError, NotFoundError } from "../mod.ts";
import { manifest, rejects, sharing, testEngine, writeBundle } from "./_helpers.ts";
import { type Reply, rpc } from "./_http.ts";
import { type TestServer, testServer } from "./_server.ts";

/** Every provider answers with its own id; `{ fail: true }` makes it throw. */
const PROFILE = `export default { services: { ProfileService: {
  who(input, ctx) {
    if (input?.fail) throw new Error("profile lookup failed");
    return ctx.bundle.id;
  },
} } };`;

/** The mock never fails: it is what serves when everything else fails. */
const MOCK =
  `export default { services: { ProfileService: { who: (_input, ctx) => ctx.bundle.id } } };`;

const CONFIG = `export default { services: { ConfigReadService: {
  queryConfig: (input, ctx) => ({ key: input.key, from: ctx.bundle.id }),
  context: (_input, ctx) => ({ deadline: ctx.deadline, traceparent: ctx.traceparent }),
} } };`;

/** Calls other bundles through the typed client, the dynamic client and plain calls. */
const GATEWAY = `
interface ConfigReadService { queryConfig(input: { key: string }): { key: string; from: string } }
interface ProfileService { who(input: { fail?: boolean }): string }
interface Ctx {
  deadline: number;
  traceparent?: string;
  broker: {
    get<T>(service: string, route?: unknown): { [K in keyof T]: (input: unknown) => Promise<unknown> };
    call(service: string, method: string, input?: unknown, options?: unknown): Promise<unknown>;
    dynamic<T>(service: string): {
      getService(idOrParams: string | Record<string, string>): {
        [K in keyof T]: (input: unknown) => Promise<unknown>;
      };
    };
  };
}
export default { services: { GatewayService: {
  viaRegex(input: { key: string }, ctx: Ctx) {
    const cfg = ctx.broker.get<ConfigReadService>("ConfigReadService", { pattern: "^drf-hz.*$", type: "REG" });
    return cfg.queryConfig({ key: input.key });
  },
  viaRule(input: { pattern: Record<string, string | string[]> }, ctx: Ctx) {
    return ctx.broker.get<ProfileService>("ProfileService", { type: "RULE", pattern: input.pattern }).who({});
  },
  viaRange(input: { range: string }, ctx: Ctx) {
    return ctx.broker.get<ProfileService>(\`ProfileService@\${input.range}\`).who({});
  },
  viaDynamic(input: { target: string | Record<string, string> }, ctx: Ctx) {
    return ctx.broker.dynamic<ProfileService>("ProfileService").getService(input.target).who({});
  },
  async context(input: { timeoutMs?: number }, ctx: Ctx) {
    const options = input.timeoutMs === undefined ? undefined : { timeoutMs: input.timeoutMs };
    const inner = await ctx.broker.call("ConfigReadService", "context", null, options);
    return { outer: { deadline: ctx.deadline, traceparent: ctx.traceparent }, inner };
  },
} } };`;

const PROFILES = [
  {
    id: "profile-hema",
    version: "1.2.0",
    ranking: 5,
    attributes: { merchant: "hema", wareHouseId: "2001" },
  },
  {
    id: "profile-rtmart",
    version: "1.0.0",
    ranking: 5,
    attributes: { merchant: "rtmart", wareHouseId: "3001" },
  },
  {
    id: "profile-next",
    version: "2.0.0",
    ranking: 1,
    attributes: { merchant: "next", wareHouseId: "4001" },
  },
];

/** Starts a server with the three profile providers, a mock, two config providers and a gateway. */
async function fleet(): Promise<TestServer> {
  // Four bundles provide ProfileService (routing between implementations): granted by the operator.
  const srv = await testServer({
    name: "edge-1",
    ...sharing({
      ProfileService: [...PROFILES.map((p) => p.id), "profile-mock"],
      ConfigReadService: ["drf-hz-config", "drf-sh-config"],
    }),
  });
  const deploy = async (m: Record<string, unknown>, mod: string) => {
    await srv.engine.runtime.install(await writeBundle(`${srv.root}/src`, m, { "mod.ts": mod }));
    await srv.engine.runtime.start(String(m.id));
  };
  try {
    for (const p of PROFILES) {
      await deploy(
        manifest(p.id, {
          version: p.version,
          ranking: p.ranking,
          attributes: p.attributes,
          services: { ProfileService: p.version },
        }),
        PROFILE,
      );
    }
    await deploy(
      manifest("profile-mock", { mock: true, ranking: 99, services: { ProfileService: "1.0.0" } }),
      MOCK,
    );
    for (const region of ["hz", "sh"]) {
      await deploy(
        manifest(`drf-${region}-config`, {
          attributes: { region },
          services: { ConfigReadService: "1.0.0" },
        }),
        CONFIG,
      );
    }
    await deploy(manifest("gateway", { services: { GatewayService: "1.0.0" } }), GATEWAY);
  } catch (error) {
    await srv[Symbol.asyncDispose]();
    throw error;
  }
  return srv;
}

function served(reply: Reply): string {
  if (reply.status !== 200) return `${reply.status} ${reply.body.error?.code}`;
  const degraded = reply.headers.get("x-degraded");
  return `${reply.headers.get("x-bundle")}${degraded ? ` degraded:${degraded}` : ""}`;
}

Deno.test("Broker routes every mode to the expected bundle", async (t) => {
  await using srv = await fleet();
  const who = async (headers: Record<string, string> = {}, service = "ProfileService") =>
    served(await rpc(srv.url, service, "who", null, headers));

  await t.step("Broker default route serves the only provider of a service", async () => {
    const reply = await rpc(srv.url, "GatewayService", "viaRegex", { key: "k" });
    assert.equal(served(reply), "gateway@1.0.0");
  });

  await t.step("Broker default route picks the highest ranking, ties broken by id", async () => {
    // hema and rtmart rank 5, next ranks 1, the mock (99) serves mock routes only.
    for (let i = 0; i < 5; i++) assert.equal(await who(), "profile-hema@1.2.0");
    await srv.engine.runtime.stop("profile-hema");
    try {
      assert.equal(await who(), "profile-rtmart@1.0.0");
    } finally {
      await srv.engine.runtime.start("profile-hema");
    }
    assert.equal(await who(), "profile-hema@1.2.0");
  });

  await t.step("Broker discovers providers by semver range", async () => {
    assert.equal(await who({}, "ProfileService@^1"), "profile-hema@1.2.0");
    assert.equal(await who({}, "ProfileService@^2"), "profile-next@2.0.0");
    assert.equal(await who({}, "ProfileService@~1.0.0"), "profile-rtmart@1.0.0");
    assert.equal(await who({}, "ProfileService@^3"), "404 NOT_FOUND");
    const inBundle = await srv.engine.call("GatewayService", "viaRange", { range: "^2" });
    assert.equal(inBundle, "profile-next");
    const bad = await srv.engine.invoke({
      service: "ProfileService@not a range!",
      method: "who",
      input: null,
    }).catch((e) => e);
    assert.ok(bad instanceof TypeError, String(bad));
    assert.match(bad.message, /Invalid service version range/);
  });

  await t.step("Broker ID route serves exactly that bundle or answers 404", async () => {
    assert.equal(await who({ "x-route-id": "profile-next" }), "profile-next@2.0.0");
    assert.equal(await who({ "x-route-id": "profile-gone" }), "404 NOT_FOUND");
    // A mock is never reached by a non-mock route, even by id.
    assert.equal(await who({ "x-route-id": "profile-mock" }), "404 NOT_FOUND");
  });

  await t.step("Broker REG route picks the best match and bounds the pattern", async () => {
    const reg = (pattern: string) => ({ "x-route-type": "REG", "x-route-pattern": pattern });
    assert.equal(await who(reg("^profile-(rt|ne)")), "profile-rtmart@1.0.0");
    assert.equal(await who(reg("xt$")), "profile-next@2.0.0");
    assert.equal(await who(reg("^nothing-")), "404 NOT_FOUND");
    const long = await rpc(srv.url, "ProfileService", "who", null, reg(`^${"a".repeat(600)}`));
    assert.equal(long.status, 400);
    assert.match(long.body.error!.message, /x-route-pattern: .*256/);
    await rejects(
      () =>
        srv.engine.invoke({
          service: "ProfileService",
          method: "who",
          input: null,
          route: { type: "REG", pattern: "([" },
        }),
      TypeError,
      "not a valid regular expression",
    );
  });

  await t.step("Broker RULE route matches attributes, an array value being any-of", async () => {
    const rule = (pattern: Record<string, unknown>) => ({
      "x-route-type": "RULE",
      "x-route-pattern": JSON.stringify(pattern),
    });
    assert.equal(await who(rule({ merchant: "next" })), "profile-next@2.0.0");
    assert.equal(await who(rule({ merchant: "next", wareHouseId: "2001" })), "404 NOT_FOUND");
    assert.equal(await who(rule({ wareHouseId: ["4001", "3001"] })), "profile-rtmart@1.0.0");
    assert.equal(await who(rule({ wareHouseId: ["4001", "9999"] })), "profile-next@2.0.0");
    const inBundle = await srv.engine.invoke({
      service: "GatewayService",
      method: "viaRule",
      input: {
        pattern: { merchant: ["next", "hema"] },
      },
    });
    assert.equal(inBundle.result, "profile-hema");
  });

  await t.step("Broker dynamic route narrows by parameters or bundle id", async () => {
    assert.equal(await who({ "x-route-params": '{"wareHouseId":4001}' }), "profile-next@2.0.0");
    assert.equal(await who({ "x-route-params": '{"region":"hz"}' }), "404 NOT_FOUND");
    const dyn = (target: unknown) =>
      srv.engine.invoke({ service: "GatewayService", method: "viaDynamic", input: { target } })
        .then((o) => o.result);
    assert.equal(await dyn("profile-rtmart"), "profile-rtmart");
    assert.equal(await dyn({ merchant: "next" }), "profile-next");
    assert.equal(await dyn({ wareHouseId: "2001", merchant: "hema" }), "profile-hema");
    const missing = await rpc(srv.url, "GatewayService", "viaDynamic", { target: "nobody" });
    assert.equal(missing.status, 502);
    assert.match(missing.body.error!.message, /No active bundle provides service ProfileService/);
  });

  await t.step("Broker typed client in a bundle follows its REG route", async () => {
    const reply = await rpc(srv.url, "GatewayService", "viaRegex", { key: "timeout" });
    assert.deepEqual(reply.body.result, { key: "timeout", from: "drf-hz-config" });
  });

  await t.step(
    "Broker mock force serves the mock and mock fail serves it only on failure",
    async () => {
      assert.equal(await who({ "x-mock": "force" }), "profile-mock@1.0.0 degraded:mock");
      assert.equal(await who({ "x-mock": "fail" }), "profile-hema@1.2.0");
      const failing = await rpc(srv.url, "ProfileService", "who", { fail: true }, {
        "x-mock": "fail",
      });
      assert.equal(served(failing), "profile-mock@1.0.0 degraded:error");
      assert.equal(
        await who({ "x-mock": "fail", "x-route-id": "profile-gone" }),
        "profile-mock@1.0.0 degraded:mock",
      );
      const plain = await rpc(srv.url, "ProfileService", "who", { fail: true });
      assert.equal(served(plain), "502 BUNDLE_ERROR");
      const engineLevel = await srv.engine.invoke({
        service: "ProfileService",
        method: "who",
        input: null,
        route: { mock: "force" },
      });
      assert.deepEqual(engineLevel, {
        result: "profile-mock",
        bundle: "profile-mock@1.0.0",
        degraded: "mock",
      });
    },
  );

  await t.step("Broker reports printable service URIs in status", async () => {
    const services = srv.engine.bundle("profile-hema").revisions[0]!.services;
    assert.deepEqual(services.ProfileService!.uris, ["bundle://edge-1/ProfileService/1.2.0/who"]);
    const response = await srv.request("/admin/status", { admin: true });
    const status = await response.json() as {
      bundles: { id: string; revisions: { services: Record<string, { uris: string[] }> }[] }[];
    };
    const config = status.bundles.find((b) => b.id === "drf-hz-config")!;
    assert.deepEqual(config.revisions[0]!.services.ConfigReadService!.uris, [
      "bundle://edge-1/ConfigReadService/1.0.0/queryConfig",
      "bundle://edge-1/ConfigReadService/1.0.0/context",
    ]);
  });

  await t.step("Broker carries the caller's deadline and trace context to the callee", async () => {
    const trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const reply = await rpc(srv.url, "GatewayService", "context", {}, {
      traceparent: trace,
      "x-timeout-ms": "20000",
    });
    const { outer, inner } = reply.body.result as Record<
      "outer" | "inner",
      { deadline: number; traceparent?: string }
    >;
    assert.ok(outer && inner, JSON.stringify(reply.body));
    assert.equal(inner.deadline, outer.deadline, "the callee inherits the caller's deadline");
    assert.equal(inner.traceparent?.slice(3, 35), trace.slice(3, 35), "same trace id");
    // A shorter timeout on the inner call gives an earlier deadline, never a later one.
    const shorter = await srv.engine.call("GatewayService", "context", { timeoutMs: 5_000 }, {
      timeoutMs: 20_000,
    }) as Record<"outer" | "inner", { deadline: number }>;
    assert.ok(shorter.inner.deadline < shorter.outer.deadline);
    const longer = await srv.engine.call("GatewayService", "context", { timeoutMs: 60_000 }, {
      timeoutMs: 20_000,
    }) as Record<"outer" | "inner", { deadline: number }>;
    assert.equal(longer.inner.deadline, longer.outer.deadline);
  });
});

const LOOP = `export default { services: { Loop: {
  async down(input, ctx) {
    if (input.n <= 0) return 0;
    return 1 + await ctx.broker.call("Loop", "down", { n: input.n - 1 });
  },
  forever: (_input, ctx) => ctx.broker.call("Loop", "forever", null),
} } };`;

Deno.test("Broker stops a call chain at the hop limit with 508", async () => {
  await using srv = await testServer({ maxHops: 3 });
  await srv.engine.runtime.install(
    await writeBundle(`${srv.root}/src`, manifest("loop", { services: { Loop: "1.0.0" } }), {
      "mod.ts": LOOP,
    }),
  );
  await srv.engine.runtime.start("loop");
  // Three bundle-to-bundle hops are allowed, the fourth is refused.
  assert.equal(await srv.engine.call("Loop", "down", { n: 3 }), 3);
  const error = await rejects(
    () => srv.engine.call("Loop", "down", { n: 4 }),
    BundlehostError,
    "exceeds 3 hops",
  );
  assert.equal(error.code, "HOP_LIMIT");
  const reply = await rpc(srv.url, "Loop", "forever");
  assert.equal(served(reply), "508 HOP_LIMIT");
  assert.equal(await srv.engine.call("Loop", "down", { n: 1 }), 1, "the bundle still serves");
});

Deno.test("Broker answers NotFoundError when no provider matches the route", async () => {
  await using t = await testEngine();
  await t.deploy(manifest("solo", { services: { ProfileService: "1.0.0" } }), {
    "mod.ts": PROFILE,
  });
  await rejects(
    () =>
      t.engine.invoke({
        service: "ProfileService",
        method: "who",
        input: null,
        route: { type: "ID", pattern: "x" },
      }),
    NotFoundError,
    "on route ID",
  );
  await rejects(
    () =>
      t.engine.invoke({
        service: "ProfileService",
        method: "who",
        input: null,
        route: { params: { a: "b" } },
      }),
    NotFoundError,
    "with those parameters",
  );
  await rejects(
    () =>
      t.engine.invoke({
        service: "ProfileService",
        method: "who",
        input: null,
        route: { mock: "force" },
      }),
    NotFoundError,
    "No mock bundle",
  );
});
