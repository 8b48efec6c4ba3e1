/**
 * The JSON Schema of `bundle.json`, generated from its validator so the two never drift apart:
 * `deno task schema` writes it to `schema/bundle.schema.json`, which a bundle's `$schema` field
 * points editors at (completion and checking while the author types).
 *
 * @module
 */
import { z } from "zod";
import { MANIFEST_SCHEMA } from "./manifest.ts";
import { SHORTHAND_FORMS } from "./events_schema.ts";

/** What an editor shows for each top-level field (README, the `bundle.json` table). */
const FIELD_HELP: Record<string, string> = {
  $schema: "JSON Schema an editor checks this file against; ignored by the engine.",
  id: "Bundle id: lower-case letters, digits and dashes, 1-63 characters.",
  version: "Semver version of this release, e.g. 1.0.0.",
  entry: "Entry module, relative to the bundle folder; it default-exports the bundle definition.",
  description: "Free text.",
  types:
    "Self-contained .ts file of this bundle's service interfaces (max 64 KiB), served to callers.",
  services: "Service name → SPI semver version; the entry's default export implements each.",
  attributes: "Attributes matched by RULE routes and dynamic routing.",
  permissions: "Permissions the bundle asks for; none when empty.",
  imports: 'Allowed npm/remote import specifier prefixes, e.g. "npm:zod@^4".',
  isolation: "Isolation tier: worker (trusted bundles only) or process.",
  degradeTo: "Bundle serving this one's calls when it is not found, times out or fails.",
  mock: "Whether this bundle is a mock implementation (serves on mock routes only).",
  ranking: "Higher ranking wins the default route.",
  governance: "Timeouts, circuit breaking and throttling.",
  scaling: "Instances, autoscaling and per-instance limits.",
  subscribe: 'Topic → "Service.method" of this bundle that receives its events.',
  schedule: 'Cron expression → "Service.method" of this bundle it triggers.',
  eventMaps: "Topic → a chain of service calls run for each of its events.",
  config: "Config defaults (ctx.config); the operator's overrides are merged over them.",
  secrets:
    "Names of the secrets the bundle may read with ctx.secrets.get (values set by the operator).",
};

/**
 * The JSON Schema of `bundle.json`, generated from the validator (the input form: fields with a
 * default are optional, shorthands are offered beside the full form). Checks a validator makes in
 * code (semver, cron expressions, time zones, counts) are not expressible here; the engine still
 * makes them at release.
 *
 * @returns A JSON Schema (draft 2020-12) object.
 *
 * @example Write the schema an editor reads
 * ```ts
 * import { manifestJsonSchema } from "@bundlehost/sdk";
 * const text = JSON.stringify(manifestJsonSchema(), null, 2);
 * console.log(text.includes('"version"')); // true
 * ```
 */
export function manifestJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(MANIFEST_SCHEMA, {
    io: "input",
    override(ctx) {
      const shorthand = SHORTHAND_FORMS.get(ctx.zodSchema);
      if (shorthand === undefined) return;
      const full = { ...ctx.jsonSchema };
      for (const key of Object.keys(ctx.jsonSchema)) delete ctx.jsonSchema[key];
      const { $schema: _, ...short } = z.toJSONSchema(shorthand, { io: "input" });
      ctx.jsonSchema.anyOf = [short, full];
    },
  });
  const properties = schema.properties as Record<string, Record<string, unknown>> | undefined;
  for (const [field, property] of Object.entries(properties ?? {})) {
    const help = FIELD_HELP[field];
    if (help !== undefined) properties![field] = { description: help, ...property };
  }
  return {
    $schema: schema.$schema,
    title: "Bundlehost bundle.json",
    description: 'The manifest of a Bundlehost bundle (README, "Writing a bundle").',
    ...schema,
  };
}
