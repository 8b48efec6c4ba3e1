/**
 * Unit tests of the operator policy: the parser, admission (limits and tier), ownership and the
 * per-bundle log budget.
 *
 * @module
 */
import { ManualClock } from "../base/clock.ts";
import assert from "node:assert/strict";
import { DEFAULT_LIMITS, loadPolicyFile, parsePolicy } from "./policy.ts";
import { checkLimits, chooseTier } from "../runtime/admission.ts";
import { Ownership } from "../runtime/ownership.ts";
import { LogBudget } from "../runtime/log_budget.ts";
import { ManifestError, OwnershipError, PolicyError } from "../base/errors.ts";
import { parseManifest } from "./manifest.ts";
import { DEFAULT_CEILING } from "./permissions.ts";
import { MemoryStore } from "../store/store.ts";

function refused(value: unknown, field: string, reason: string | RegExp): void {
  assert.throws(() => parsePolicy(value), (error: unknown) => {
    assert.ok(error instanceof PolicyError, `expected PolicyError, got ${error}`);
    assert.equal(error.field, field);
    assert.match(error.message, typeof reason === "string" ? new RegExp(reason) : reason);
    assert.ok(error.message.includes(`field "${field}"`), error.message);
    return true;
  });
}

Deno.test("parsePolicy applies the defaults: nothing trusted, no grants, default limits", () => {
  const policy = parsePolicy(undefined);
  assert.deepEqual(policy.trusted, []);
  assert.deepEqual(policy.services, {});
  assert.deepEqual(policy.topics, {});
  assert.deepEqual(policy.limits, DEFAULT_LIMITS);
  assert.deepEqual(policy.read, DEFAULT_CEILING.read);
  assert.deepEqual(policy.net, []);
});

Deno.test("parsePolicy keeps the old ceiling format and merges limits over the defaults", () => {
  const policy = parsePolicy({
    net: ["127.0.0.1:9000"],
    trusted: ["hello", "catalog"],
    services: { ProfileService: ["profile-hema", "profile-rtmart"], "*": ["ops"] },
    topics: { "order.created": ["*"] },
    limits: { maxWorkers: 2, logLinesPerSecond: 5 },
  });
  assert.deepEqual(policy.net, ["127.0.0.1:9000"]);
  assert.deepEqual(policy.write, DEFAULT_CEILING.write, "kinds not given keep the default");
  assert.deepEqual(policy.trusted, ["hello", "catalog"]);
  assert.deepEqual(policy.services.ProfileService, ["profile-hema", "profile-rtmart"]);
  assert.equal(policy.limits.maxWorkers, 2);
  assert.equal(policy.limits.logLinesPerSecond, 5);
  assert.equal(policy.limits.maxRanking, DEFAULT_LIMITS.maxRanking);
});

Deno.test("parsePolicy refuses unknown fields and bad values naming the field", () => {
  refused({ trusted: ["a"], trustd: ["b"] }, "trustd", "is not a known field");
  refused({ limits: { maxWorker: 3 } }, "limits.maxWorker", "is not a known field");
  refused({ limits: { maxWorkers: 0 } }, "limits.maxWorkers", /Too small|>=1/);
  refused({ limits: { maxTimeoutMs: "60s" } }, "limits.maxTimeoutMs", "must be number");
  refused({ trusted: ["Not An Id"] }, "trusted[0]", 'must be a bundle id or "\\*"');
  refused({ services: { "bad name!": ["a"] } }, "services.bad name!", "is not a service name");
  refused({ services: { Svc: ["UPPER"] } }, "services.Svc[0]", "must be a bundle id");
  refused({ topics: { "Bad Topic": ["a"] } }, "topics.Bad Topic", "is not a topic");
  refused({ net: "127.0.0.1" }, "net", "must be array");
  refused([], "(root)", "must be object");
});

Deno.test("loadPolicyFile names the file for unreadable, non-JSON and invalid policies", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-policy-" });
  try {
    await assert.rejects(() => loadPolicyFile(`${dir}/missing.json`), /Cannot read policy file/);
    await Deno.writeTextFile(`${dir}/bad.json`, "{ trusted: ");
    await assert.rejects(() => loadPolicyFile(`${dir}/bad.json`), /bad\.json is not valid JSON/);
    await Deno.writeTextFile(`${dir}/typo.json`, JSON.stringify({ limit: {} }));
    await assert.rejects(
      () => loadPolicyFile(`${dir}/typo.json`),
      /Invalid policy file .*typo\.json: field "limit" is not a known field/,
    );
    await Deno.writeTextFile(`${dir}/ok.json`, JSON.stringify({ trusted: ["*"] }));
    assert.deepEqual((await loadPolicyFile(`${dir}/ok.json`)).trusted, ["*"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkLimits refuses each field above its bound, naming field and bound", () => {
  const limits = parsePolicy({ limits: { maxWorkers: 2, maxMemoryMb: 256 } }).limits;
  const cases: [Record<string, unknown>, string, string][] = [
    [{ ranking: 101 }, "ranking", "limits.maxRanking (100)"],
    [{ scaling: { maxWorkers: 3 } }, "scaling.maxWorkers", "limits.maxWorkers (2)"],
    [{ scaling: { warmWorkers: 3 } }, "scaling.warmWorkers", "limits.maxWorkers (2)"],
    [{ scaling: { maxWorkers: 4, minWorkers: 0 } }, "scaling.maxWorkers", "limits.maxWorkers (2)"],
    [{ scaling: { memoryMb: 257 } }, "scaling.memoryMb", "limits.maxMemoryMb (256)"],
    [{ scaling: { maxBuffered: 10_001 } }, "scaling.maxBuffered", "limits.maxBuffered (10000)"],
    [{ governance: { timeoutMs: 60_001 } }, "governance.timeoutMs", "limits.maxTimeoutMs (60000)"],
    [{ governance: { drainMs: 600_000 } }, "governance.drainMs", "limits.maxTimeoutMs (60000)"],
  ];
  for (const [extra, field, bound] of cases) {
    const scaling = { maxWorkers: 2, ...(extra.scaling as Record<string, unknown> | undefined) };
    const manifest = parseManifest({ id: "greedy", version: "1.0.0", ...extra, scaling });
    assert.throws(() => checkLimits(manifest, limits), (error: unknown) => {
      assert.ok(error instanceof ManifestError);
      assert.equal(error.field, field);
      assert.ok(error.message.includes(bound), error.message);
      return true;
    });
  }
  assert.throws(
    () => checkLimits(parseManifest({ id: "low", version: "1.0.0", ranking: -1 }), DEFAULT_LIMITS),
    /field "ranking" is -1, below 0/,
  );
  // At the bounds exactly: admitted.
  checkLimits(
    parseManifest({
      id: "edge",
      version: "1.0.0",
      ranking: 100,
      scaling: { minWorkers: 2, maxWorkers: 2, memoryMb: 256 },
      governance: { timeoutMs: 60_000 },
    }),
    limits,
  );
});

Deno.test("chooseTier gives the worker tier only to trusted bundles, and says why", () => {
  const worker = parseManifest({ id: "w", version: "1.0.0" });
  const process = parseManifest({ id: "p", version: "1.0.0", isolation: "process" });
  assert.equal(chooseTier(worker, { trusted: [] }).tier, "process");
  assert.match(chooseTier(worker, { trusted: [] }).reason, /does not trust it/);
  assert.equal(chooseTier(worker, { trusted: ["w"] }).tier, "worker");
  assert.equal(chooseTier(worker, { trusted: ["*"] }).tier, "worker");
  assert.equal(chooseTier(worker, { trusted: ["other"] }).tier, "process");
  assert.equal(chooseTier(process, { trusted: ["*"] }).tier, "process");
  assert.deepEqual(chooseTier(worker, { trusted: [] }, "worker"), {
    tier: "worker",
    reason: "forced by the engine's isolation option",
  });
});

Deno.test("Ownership gives a name to its first bundle and refuses others without a grant", async () => {
  const store = new MemoryStore();
  const book = new Ownership(parsePolicy({
    services: { Shared: ["second"] },
    topics: { "order.created": ["*"] },
  }));
  await book.open(store);
  await book.claim({ id: "first", services: ["Own", "Shared"], topics: ["order.created"] });
  assert.equal(book.owner("service", "Own"), "first");
  // The owner itself declares it again (a new version): fine.
  await book.claim({ id: "first", services: ["Own"], topics: [] });
  const error = await book.claim({ id: "thief", services: ["Own"], topics: [] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof OwnershipError);
  assert.match(error.message, /service "Own" belongs to bundle "first"/);
  assert.match(error.message, /"services": \{"Own": \["thief"\]\}/);
  await book.claim({ id: "second", services: ["Shared"], topics: ["order.created"] });
  await book.claim({ id: "anyone", services: [], topics: ["order.created"] });
  await assert.rejects(
    () =>
      book.claim({ id: "thief", services: [], topics: ["order.shipped", "x"] }).then(() =>
        book.claim({ id: "other", services: [], topics: ["order.shipped"] })
      ),
    /topic "order\.shipped" belongs to bundle "thief"/,
  );
  // A refused claim claims nothing, not even the names that were free.
  await assert.rejects(() => book.claim({ id: "late", services: ["Free", "Own"], topics: [] }));
  assert.equal(book.owner("service", "Free"), undefined);
  assert.deepEqual(await store.getOwners(), {
    "service:Own": "first",
    "service:Shared": "first",
    "topic:order.created": "first",
    "topic:order.shipped": "thief",
    "topic:x": "thief",
  });
});

Deno.test("Ownership survives a reopen and is released with its owner", async () => {
  const store = new MemoryStore();
  const policy = parsePolicy({});
  const book = new Ownership(policy);
  await book.open(store);
  await book.claim({ id: "first", services: ["Own"], topics: [] });
  const again = new Ownership(policy);
  await again.open(store);
  assert.equal(again.owner("service", "Own"), "first");
  await assert.rejects(() => again.claim({ id: "thief", services: ["Own"], topics: [] }));
  await again.release("first");
  assert.deepEqual(await store.getOwners(), {});
  await again.claim({ id: "thief", services: ["Own"], topics: [] });
  assert.equal(again.owner("service", "Own"), "thief");
  await again.prune(new Set(["someone-else"]));
  assert.equal(again.owner("service", "Own"), undefined, "an owner that is no bundle is pruned");
});

Deno.test("LogBudget shares one bucket per bundle id, refills at the rate, counts drops", async () => {
  const clock = new ManualClock(1_000);
  const budget = new LogBudget({ linesPerSecond: 10, burst: 5, clock });
  const admitted = (id: string, n: number) =>
    Array.from({ length: n }, () => budget.admit(id)).filter(Boolean).length;
  assert.equal(admitted("a", 8), 5, "the burst");
  assert.equal(budget.dropped("a"), 3);
  assert.equal(admitted("b", 5), 5, "another bundle has its own budget");
  await clock.advance(300); // 3 lines refilled
  assert.equal(admitted("a", 5), 3);
  assert.equal(budget.dropped("a"), 5);
  await clock.advance(60_000); // refills up to the burst only
  assert.equal(admitted("a", 10), 5);
  budget.forget("a");
  assert.equal(budget.dropped("a"), 0);
  const silent = new LogBudget({ linesPerSecond: 0, burst: 1, clock });
  assert.equal(silent.admit("x"), true);
  await clock.advance(10_000);
  assert.equal(silent.admit("x"), false, "a rate of 0 never refills");
});
