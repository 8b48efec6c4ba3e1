import assert from "node:assert/strict";
import { prunable } from "./prune.ts";
import type { BundleRecord, ReleaseRecord } from "../store/store.ts";

const releases = (versions: string[]): ReleaseRecord[] =>
  versions.map((version) => ({ id: "a", version, hash: "h", releasedAt: "" }));
const dev = (v: string) => v.includes("-dev.");
const record = (extra: Partial<BundleRecord> = {}): BundleRecord => ({
  id: "a",
  active: "1.0.0-dev.6",
  history: ["1.0.0-dev.5", "1.0.0-dev.6"],
  desired: "started",
  updatedAt: "",
  ...extra,
});
const all = releases(["1.0.0", ...[1, 2, 3, 4, 5, 6].map((n) => `1.0.0-dev.${n}`)]);

Deno.test("prunable keeps the newest matching versions and never a non-matching one", () => {
  assert.deepEqual(prunable(record(), all, 2, dev), [
    "1.0.0-dev.1",
    "1.0.0-dev.2",
    "1.0.0-dev.3",
    "1.0.0-dev.4",
  ]);
  assert.deepEqual(prunable(record(), all, 0, () => false), []);
});

Deno.test("prunable never removes what serves or may serve soon", () => {
  const weighted = record({ weights: { "1.0.0-dev.1": 10, "1.0.0-dev.6": 90 } });
  assert.ok(!prunable(weighted, all, 0, dev).includes("1.0.0-dev.1"));
  const rollback = record({ history: ["1.0.0-dev.2", "1.0.0-dev.6"] });
  assert.ok(!prunable(rollback, all, 0, dev).includes("1.0.0-dev.2"), "the warm rollback target");
  const canary = record({
    canary: {
      version: "1.0.0-dev.3",
      from: "1.0.0-dev.4",
      step: 0,
      weight: 5,
      status: "running",
      steps: [5],
      stepMs: 1,
      startedAt: "",
    } as unknown as NonNullable<BundleRecord["canary"]>,
  });
  const pruned = prunable(canary, all, 0, dev);
  assert.ok(!pruned.includes("1.0.0-dev.3") && !pruned.includes("1.0.0-dev.4"));
  assert.ok(!prunable(record(), all, 0, dev).includes("1.0.0-dev.6"), "the active version");
});
