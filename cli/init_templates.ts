/**
 * The files `init` writes: a bundle that releases as it is, its test, its `deno.json`.
 *
 * @module
 */
import { ENGINE_VERSION } from "../engine/base/version.ts";

/** Whether `bundle.json` gets a `"$schema"` line (the manifest accepts and ignores it). */
export const SCAFFOLD_SCHEMA = true;

/** Whether `mod.ts` imports `defineBundle` from `@bundlehost/sdk/bundle` (the engine provides it). */
export const SCAFFOLD_SDK_IMPORT = true;

/** The published JSON Schema of `bundle.json`, for editors. */
export const SCHEMA_URL =
  `https://jsr.io/@bundlehost/sdk/${ENGINE_VERSION}/schema/bundle.schema.json`;

/** Where `deno.json` maps `@bundlehost/sdk/<entry>` by default: the published package. */
export function publishedSdk(entry: string): string {
  return `jsr:@bundlehost/sdk@^${ENGINE_VERSION}/${entry}`;
}

/**
 * A service name from a bundle id: `order-book` → `OrderBookService`.
 *
 * @param id A valid bundle id.
 * @returns The name.
 */
export function serviceName(id: string): string {
  const pascal = id.split("-").filter(Boolean).map((w) => w[0]!.toUpperCase() + w.slice(1)).join(
    "",
  );
  return `${/^[A-Za-z]/.test(pascal) ? "" : "B"}${pascal}Service`;
}

/**
 * The `bundle.json` text.
 *
 * @param id Bundle id.
 * @param schema Whether to add the `"$schema"` line.
 * @returns The JSON text.
 */
export function manifestText(id: string, schema: boolean = SCAFFOLD_SCHEMA): string {
  return `${
    JSON.stringify(
      {
        ...(schema ? { $schema: SCHEMA_URL } : {}),
        id,
        version: "0.1.0",
        entry: "./mod.ts",
        description: `The ${id} bundle`,
        services: { [serviceName(id)]: "1.0.0" },
      },
      null,
      2,
    )
  }\n`;
}

const BODY = (service: string, ctx: string, req: string) =>
  `  services: {
    ${service}: {
      greet(input: { name?: string } | null, ${ctx}) {
        const name = input?.name || "world";
        ctx.log.info(\`greeting \${name}\`);
        return { message: \`Hello, \${name}!\`, bundle: \`\${ctx.bundle.id}@\${ctx.bundle.version}\` };
      },
    },
  },

  fetch(${req}, ${ctx}) {
    const url = new URL(request.url);
    return Response.json({ path: url.pathname, bundle: ctx.bundle.id });
  },
`;

/**
 * The entry module's text.
 *
 * @param id Bundle id.
 * @param sdkImport Whether the module imports `defineBundle` from the SDK.
 * @returns The TypeScript source.
 */
export function moduleText(id: string, sdkImport: boolean = SCAFFOLD_SDK_IMPORT): string {
  const service = serviceName(id);
  if (sdkImport) {
    return `/** The ${id} bundle: one service and an HTTP handler. */
import { defineBundle } from "@bundlehost/sdk/bundle";

export default defineBundle({
${BODY(service, "ctx", "request: Request")}});
`;
  }
  return `/**
 * The ${id} bundle: one service and an HTTP handler. A plain object is a valid bundle; the context
 * type below is the part of the SDK's \`BundleContext\` this module uses.
 */
interface Context {
  bundle: { id: string; version: string; instanceId: string };
  log: { info(...args: unknown[]): void };
}

export default {
${BODY(service, "ctx: Context", "request: Request")}};
`;
}

/**
 * The test file's text: releases the folder into a real engine and calls the service.
 *
 * @param id Bundle id.
 * @returns The TypeScript source.
 */
export function testText(id: string): string {
  const service = serviceName(id);
  return `import assert from "node:assert/strict";
import { testBundle } from "@bundlehost/sdk/testing";

Deno.test("${service} greets by name", async () => {
  await using bundle = await testBundle(import.meta.dirname!);
  const reply = await bundle.call("${service}", "greet", { name: "Ada" });
  assert.deepEqual(reply, { message: "Hello, Ada!", bundle: "${id}@0.1.0" });
});
`;
}

/** Flags `deno task test` in the new folder runs its tests with: what a real engine needs. */
export const TEST_TASK =
  "deno test --v8-flags=--enable-experimental-regexp-engine --allow-read --allow-write --allow-net=127.0.0.1,localhost --allow-env --allow-run=deno";

/**
 * The `deno.json` text.
 *
 * @param sdk Where each SDK entry (`bundle`, `testing`) is imported from.
 * @returns The JSON text.
 */
export function denoJsonText(sdk: (entry: string) => string): string {
  return `${
    JSON.stringify(
      {
        imports: {
          "@bundlehost/sdk/bundle": sdk("bundle"),
          "@bundlehost/sdk/testing": sdk("testing"),
        },
        tasks: { test: TEST_TASK },
        // What the engine that `testBundle` starts uses (Deno KV, worker permissions).
        unstable: ["kv", "worker-options", "no-legacy-abort"],
      },
      null,
      2,
    )
  }\n`;
}
