/**
 * Broker micro-benchmarks (`deno task bench`): the route decision for the default, ID, REG and
 * RULE modes over 100 candidate bundles, the whole broker path without a sandbox, and the breaker
 * and sliding-window bookkeeping every call pays.
 *
 * @module
 */
import { Broker } from "../engine/broker/broker.ts";
import { CircuitBreaker } from "../engine/broker/breaker.ts";
import { type BundleEntry, type Query, selectRevision } from "../engine/broker/router.ts";
import { compileRoute } from "../engine/broker/rules.ts";
import { SlidingWindow } from "../engine/broker/window.ts";
import type { Revision } from "../engine/core/revision.ts";
import { standInRevision } from "./_stand_in.ts";
import type { RouteSpec } from "../engine/sdk/types.ts";

const CANDIDATES = 100;
const MERCHANTS = ["hema", "rtmart", "next", "ole"];

/** Candidate `i`: ProfileService with a warehouse, a merchant and a ranking. */
function standIn(i: number): Revision {
  return standInRevision(`profile-${String(i).padStart(3, "0")}`, {
    services: { ProfileService: "1.2.0" },
    attributes: { wareHouseId: String(2000 + i), merchant: MERCHANTS[i % MERCHANTS.length]! },
    ranking: i % 10,
  }, i);
}

const entries = new Map<string, BundleEntry>();
for (let i = 0; i < CANDIDATES; i++) {
  const revision = standIn(i);
  entries.set(revision.id, {
    id: revision.id,
    revisions: new Map([["1.0.0", revision]]),
    current: "1.0.0",
  });
}

function query(route?: RouteSpec): Query {
  const compiled = compileRoute(route);
  return compiled ? { service: "ProfileService", mock: false, route: compiled } : {
    service: "ProfileService",
    mock: false,
  };
}

const ROUTES: Record<string, RouteSpec | undefined> = {
  default: undefined,
  ID: { type: "ID", pattern: "profile-057" },
  REG: { type: "REG", pattern: "^profile-05[0-9]$" },
  RULE: { type: "RULE", pattern: { merchant: "ole", wareHouseId: ["2091", "2095", "2099"] } },
};

// Each mode must pick a bundle, or the benchmark would measure a miss.
for (const [mode, route] of Object.entries(ROUTES)) {
  if (!selectRevision(entries.values(), query(route))) throw new Error(`${mode} matches nothing`);
}

for (const [mode, route] of Object.entries(ROUTES)) {
  const q = query(route);
  Deno.bench({
    name: `route decision ${mode} over ${CANDIDATES} bundles`,
    group: "route",
    baseline: mode === "default",
    fn: () => {
      selectRevision(entries.values(), q);
    },
  });
}

Deno.bench({
  name: "route decision REG from a raw route (validate + cached regex + select)",
  group: "route",
  fn: () => {
    selectRevision(entries.values(), query(ROUTES.REG));
  },
});

const broker = new Broker({
  entries: () => entries.values(),
  entry: (id) => entries.get(id),
  onBreakerChange: () => {},
});
broker.setRules({
  bundles: Object.fromEntries([...entries.keys()].map((id) => [id, { strategy: "errorRatio" }])),
});

Deno.bench({
  name: "Broker.call REG over 100 bundles with a breaker, in-memory revision",
  group: "broker",
  fn: async () => {
    await broker.call({
      service: "ProfileService",
      method: "get",
      input: null,
      route: ROUTES.REG,
      deadline: Date.now() + 30_000,
      hops: 0,
    });
  },
});

const breaker = new CircuitBreaker({
  strategy: "errorRatio",
  maxRtMs: 100,
  threshold: 0.5,
  minRequestAmount: 5,
  statIntervalMs: 1000,
  retryTimeoutMs: 5000,
  probeNum: 1,
});
let n = 0;

Deno.bench({
  name: "CircuitBreaker tryPass + complete (record)",
  group: "breaker",
  fn: () => {
    const permit = breaker.tryPass();
    if (!permit) throw new Error("The breaker opened");
    // One call in ten fails: below the 0.5 ratio, so the breaker stays CLOSED.
    breaker.complete(permit, { error: ++n % 10 === 0, rtMs: 3 });
  },
});

const window = new SlidingWindow(1000, 10);
const now = Date.now();
for (let i = 0; i < 1000; i++) window.record(now + i, i % 7 === 0, i % 5 === 0);

Deno.bench({
  name: "SlidingWindow record",
  group: "window",
  fn: () => {
    window.record(Date.now(), false, false);
  },
});

Deno.bench({
  name: "SlidingWindow snapshot (10 buckets)",
  group: "window",
  fn: () => {
    window.snapshot(Date.now());
  },
});
