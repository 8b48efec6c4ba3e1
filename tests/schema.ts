/**
 * `deno task schema`: writes the JSON Schema of `bundle.json`, generated from the engine's
 * validator, to `schema/bundle.schema.json` (what a bundle's `$schema` field points editors at).
 *
 * - `deno task schema` rewrites the file.
 * - `deno task schema --check` exits 1 when the committed file differs from what the validator
 *   generates (`tests/schema_test.ts` makes the same check).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { manifestJsonSchema } from "../engine/manifest/json_schema.ts";

/** The schema file, relative to the repository root. */
export const SCHEMA_PATH = "schema/bundle.schema.json";

/**
 * The schema file's text as the validator generates it.
 *
 * @returns Indented JSON with a final newline.
 */
export function schemaText(): string {
  return `${JSON.stringify(manifestJsonSchema(), null, 2)}\n`;
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { check: { type: "boolean" } } });
  const path = new URL(`../${SCHEMA_PATH}`, import.meta.url);
  const text = schemaText();
  if (values.check) {
    const committed = await Deno.readTextFile(path).catch(() => "");
    if (committed !== text) {
      console.error(`${SCHEMA_PATH} is out of date: run deno task schema`);
      Deno.exit(1);
    }
    console.log(`${SCHEMA_PATH} is up to date`);
  } else {
    await Deno.mkdir(new URL("../schema/", import.meta.url), { recursive: true });
    await Deno.writeTextFile(path, text);
    console.log(`${SCHEMA_PATH} written`);
  }
}
