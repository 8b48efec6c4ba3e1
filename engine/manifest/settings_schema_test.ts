import assert from "node:assert/strict";
import { parseManifest } from "./manifest.ts";
import { ManifestError } from "../base/errors.ts";
import { mergeConfig } from "./settings_schema.ts";

function refusal(extra: Record<string, unknown>): ManifestError {
  try {
    parseManifest({ id: "cfg", version: "1.0.0", ...extra });
  } catch (error) {
    assert.ok(error instanceof ManifestError);
    return error;
  }
  throw new Error("accepted");
}

Deno.test("parseManifest reads config and secrets, with defaults when absent", () => {
  const m = parseManifest({
    id: "cfg",
    version: "1.0.0",
    config: { a: { b: [1, 2] } },
    secrets: ["API_KEY", "DB_URL_2"],
  });
  assert.deepEqual([m.config, m.secrets], [{ a: { b: [1, 2] } }, ["API_KEY", "DB_URL_2"]]);
  const plain = parseManifest({ id: "cfg", version: "1.0.0" });
  assert.deepEqual([plain.config, plain.secrets], [{}, []]);
});

Deno.test("parseManifest refuses bad config and secrets naming the field", () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ config: [1] }, "config", /must be a JSON object/],
    [{ config: { big: "x".repeat(33_000) } }, "config", /more than 32768/],
    [
      { config: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } } },
      "config",
      /deeper than 8/,
    ],
    [{ secrets: ["lower"] }, "secrets[0]", /is not a secret name/],
    [{ secrets: ["A", "A"] }, "secrets", /names a secret twice/],
    [{ secrets: Array.from({ length: 33 }, (_, i) => `S${i}`) }, "secrets", /more than 32 secrets/],
    [{ secrets: "API_KEY" }, "secrets", /field "secrets"/],
  ];
  for (const [extra, field, message] of cases) {
    const error = refusal(extra);
    assert.equal(error.field, field, error.message);
    assert.match(error.message, message);
  }
});

Deno.test("mergeConfig merges objects at every depth, replaces other values and removes null keys", () => {
  const defaults = {
    db: { host: "a", port: 1, pool: { min: 1, max: 4 } },
    tags: ["x"],
    debug: true,
  };
  const merged = mergeConfig(defaults, {
    db: { host: "b", pool: { max: 8 } },
    tags: ["y", "z"],
    debug: null,
    added: 1,
  });
  assert.deepEqual(merged, {
    db: { host: "b", port: 1, pool: { min: 1, max: 8 } },
    tags: ["y", "z"],
    added: 1,
  });
  assert.deepEqual(defaults.db.pool, { min: 1, max: 4 }, "the defaults are not changed");
  assert.deepEqual(mergeConfig({ a: 1 }, { a: { b: 2 } }), { a: { b: 2 } });
});
