/**
 * The JSON Schema of `bundle.json` (`schema/bundle.schema.json`) is what the validator generates:
 * the committed file is compared with a fresh generation, as the architecture document's layer
 * table is. The schema offers each shorthand the validator accepts, and `$schema` itself is a
 * field the engine accepts and ignores.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseManifest } from "../engine/manifest/manifest.ts";
import { ManifestError } from "../mod.ts";
import { ROOT } from "./_helpers.ts";
import { SCHEMA_PATH, schemaText } from "./schema.ts";

type Json = Record<string, unknown>;

Deno.test("schema/bundle.schema.json is what the validator generates (run deno task schema)", async () => {
  const committed = await Deno.readTextFile(`${ROOT}/${SCHEMA_PATH}`);
  assert.equal(committed, schemaText(), `${SCHEMA_PATH} is out of date: run deno task schema`);
});

Deno.test("The bundle.json schema offers the shorthands the validator accepts, and requires id and version", () => {
  const schema = JSON.parse(schemaText()) as Json;
  assert.deepEqual(schema.required, ["id", "version"]);
  assert.equal(schema.additionalProperties, false);
  const properties = schema.properties as Record<string, Json>;
  assert.equal(properties.$schema?.type, "string");
  // `"topic": "Service.method"` and `"topic": [steps]` are valid: an editor must not flag them.
  for (
    const [field, shorthand] of [["subscribe", "string"], ["schedule", "string"], [
      "eventMaps",
      "array",
    ]] as const
  ) {
    const entry = properties[field]?.additionalProperties as { anyOf?: Json[] } | undefined;
    assert.deepEqual(entry?.anyOf?.map((form) => form.type), [shorthand, "object"], field);
  }
  // The shorthands are accepted by the validator too, so the schema describes the same language.
  const parsed = parseManifest({
    id: "orders",
    version: "1.0.0",
    services: { OrderService: "1.0.0" },
    subscribe: { "order.created": "OrderService.created" },
    schedule: { "0 3 * * *": "OrderService.nightly" },
    eventMaps: { "order.paid": [{ call: "OrderService.paid" }] },
  });
  assert.equal(parsed.subscribe["order.created"]?.handler, "OrderService.created");
  assert.equal(parsed.eventMaps["order.paid"]?.steps[0]?.call, "OrderService.paid");
});

Deno.test("$schema is an optional string in bundle.json, ignored by the engine", () => {
  const url = "https://jsr.io/@bundlehost/sdk/0.1.0/schema/bundle.schema.json";
  assert.equal(parseManifest({ id: "a", version: "1.0.0", $schema: url }).$schema, url);
  assert.throws(
    () => parseManifest({ id: "a", version: "1.0.0", $schema: 1 }),
    (error: unknown) => error instanceof ManifestError && error.field === "$schema",
  );
});

Deno.test("Every top-level field of the bundle.json schema has a description for editors", () => {
  const properties = (JSON.parse(schemaText()) as Json).properties as Record<string, Json>;
  const undescribed = Object.entries(properties).filter(([, p]) =>
    typeof p.description !== "string"
  );
  assert.deepEqual(undescribed.map(([name]) => name), []);
});
