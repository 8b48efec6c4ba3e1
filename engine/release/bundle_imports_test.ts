import assert from "node:assert/strict";
import { ReleaseRefusedError } from "../base/errors.ts";
import { resolveBundleImports } from "./bundle_imports.ts";
import type { ReleaseFile } from "./files.ts";

const file = (path: string, text: string): ReleaseFile => ({
  path,
  data: new TextEncoder().encode(text),
});

async function resolved(files: Record<string, string>): Promise<Record<string, string>> {
  const out = await resolveBundleImports(
    Object.entries(files).map(([path, text]) => file(path, text)),
  );
  return Object.fromEntries(out.map((f) => [f.path, new TextDecoder().decode(f.data)]));
}

Deno.test("A bundle's map resolves as Deno's does: scopes, exact, longest prefix, package subpaths", async () => {
  const out = await resolved({
    "deno.json": JSON.stringify({
      imports: {
        "@lib/": "./lib/",
        "@lib/special/": "./special/",
        "zod": "npm:zod@4.6.7",
        "x": "./lib/x.ts",
      },
      scopes: { "./vendor/": { "x": "./vendor/x.ts" } },
    }),
    "lib/x.ts": "export const x = 1;",
    "special/s.ts": "export const s = 1;",
    "vendor/x.ts": "export const v = 1;",
    "vendor/use.ts": `import { v } from "x";\nexport { v };`,
    "src/deep/mod.ts": [
      `import {`,
      `  x,`,
      `} from "@lib/x.ts";`,
      `import { s } from '@lib/special/s.ts';`,
      `import "x";`,
      `import * as mini from "zod/mini";`,
      `export { z } from "zod";`,
      `const later = () => import("@lib/x.ts");`,
      `const text = "left alone: @lib/x.ts";`,
      `import { unmapped } from "other";`,
    ].join("\n"),
    "README.md": `import { x } from "@lib/x.ts";`,
  });
  assert.equal(
    out["src/deep/mod.ts"],
    [
      `import {`,
      `  x,`,
      `} from "../../lib/x.ts";`,
      `import { s } from '../../special/s.ts';`,
      `import "../../lib/x.ts";`,
      `import * as mini from "npm:zod@4.6.7/mini";`,
      `export { z } from "npm:zod@4.6.7";`,
      `const later = () => import("../../lib/x.ts");`,
      `const text = "left alone: @lib/x.ts";`,
      `import { unmapped } from "other";`,
    ].join("\n"),
  );
  assert.equal(out["vendor/use.ts"], `import { v } from "./x.ts";\nexport { v };`);
  assert.equal(out["README.md"], `import { x } from "@lib/x.ts";`, "only modules are rewritten");
  assert.equal(out[".bundlehost/sdk/bundle.ts"], undefined, "no SDK copy when nothing names it");
});

Deno.test("The SDK copy is added only when a file names it, and its mapping beats the bundle's", async () => {
  const out = await resolved({
    "deno.json": JSON.stringify({ imports: { "@bundlehost/sdk/bundle": "./mine.ts" } }),
    "mine.ts": "export const defineBundle = 1;",
    "a/mod.ts": `import { defineBundle } from "@bundlehost/sdk/bundle";`,
  });
  assert.equal(out["a/mod.ts"], `import { defineBundle } from "../.bundlehost/sdk/bundle.ts";`);
  assert.match(out[".bundlehost/sdk/bundle.ts"] ?? "", /export function defineBundle/);
  assert.ok(out[".bundlehost/sdk/types.ts"]);
});

Deno.test("A mapping outside the folder is left for vetting; reserved files and bad maps are refused", async () => {
  for (
    const target of ["../secret.ts", "/etc/hostname", "file:///etc/hostname", "./a/../../x.ts"]
  ) {
    const out = await resolved({
      "deno.json": JSON.stringify({ imports: { "@out": target } }),
      "mod.ts": `import "@out";`,
    });
    assert.equal(out["mod.ts"], `import "@out";`, target);
  }
  await assert.rejects(
    resolved({ ".bundlehost/x.ts": "", "mod.ts": "" }),
    (error: unknown) => error instanceof ReleaseRefusedError && /reserves/.test(error.message),
  );
  await assert.rejects(
    resolved({ "deno.json": `{"imports": {"a": 1}}`, "mod.ts": "" }),
    (error: unknown) =>
      error instanceof ReleaseRefusedError && /"imports" maps "a"/.test(error.message),
  );
});
