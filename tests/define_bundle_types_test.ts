/**
 * Type-level tests of the bundle entry: `defineBundle` types `ctx` as `BundleContext` in service
 * methods, `fetch` and hooks without the author writing it, and keeps the input and result types
 * the author wrote; `testBundle` turns them into typed calls. The `@ts-expect-error` lines must
 * fail to compile (an unused one is itself an error), so `deno test` type-checking this file is
 * the test; the runtime test shows that without `defineBundle` the same module does not compile.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type BundleContext, defineBundle } from "../engine/sdk/bundle.ts";
import type { CallArgs, CallResult, TestBundle } from "../engine/testing/mod.ts";
import { ROOT } from "./_helpers.ts";

/** `true` when `A` and `B` are the same type, else `false`. */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;

class Counter {
  count = 0;
  add(input: { n: number }, ctx: BundleContext): { count: number; by: string } {
    this.count += input.n;
    return { count: this.count, by: ctx.bundle.instanceId };
  }
}

const shop = defineBundle({
  services: {
    Greeter: {
      greet(input: { name: string }, ctx) {
        return { message: `Hello, ${input.name}`, instance: ctx.bundle.instanceId };
      },
      async slow(input: number, ctx) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(input, ctx.deadline)));
        return input;
      },
      now: () => Date.now(),
      echo: (input, ctx) => ({ input, traceparent: ctx.traceparent }),
    },
    Counter: new Counter(),
  },
  fetch: (request, ctx) => new Response(`${request.method} ${ctx.bundle.id}`),
  hooks: {
    onStart(ctx) {
      ctx.log.info("started", ctx.bundle.instanceId);
    },
  },
});

type Greeter = typeof shop.services.Greeter;

/** Compiles only when `T` is `true`. */
type Assert<T extends true> = T;

/** Each entry compiles only when the claim in its comment holds. */
export type DefineBundleChecks = [
  // ctx is the engine's context in object-literal methods, arrow functions, fetch and hooks.
  Assert<Equals<Parameters<Greeter["greet"]>[1], BundleContext>>,
  Assert<Equals<Parameters<Greeter["echo"]>[1], BundleContext>>,
  Assert<Equals<Parameters<NonNullable<typeof shop.fetch>>[1], BundleContext>>,
  // The author's input and result types are kept; an unannotated input is `unknown`, not `any`.
  Assert<Equals<Parameters<Greeter["greet"]>[0], { name: string }>>,
  Assert<Equals<ReturnType<Greeter["greet"]>, { message: string; instance: string }>>,
  Assert<Equals<Parameters<Greeter["echo"]>[0], unknown>>,
  Assert<Equals<typeof shop.services.Counter, Counter>>,
  // testBundle's call is typed from the definition.
  Assert<Equals<CallArgs<Greeter["greet"]>[0], { name: string }>>,
  Assert<Equals<CallResult<Greeter["slow"]>, number>>,
];

defineBundle({
  services: {
    Broken: {
      read(_input: unknown, ctx) {
        // @ts-expect-error `ctx` is a BundleContext, which has no `database`.
        return ctx.database;
      },
    },
  },
  hooks: {
    onStop(ctx) {
      // @ts-expect-error `ctx.deadline` is a number, not a string.
      const deadline: string = ctx.deadline;
      ctx.log.info(deadline);
    },
  },
});

defineBundle({
  // @ts-expect-error A service is an object of methods, not a number.
  services: { Answer: 42 },
});

declare const call: TestBundle<typeof shop>["call"];
/** Never run: its calls only need to fail to compile. */
export function typedCalls(): void {
  // @ts-expect-error `greet` takes `{ name: string }`.
  void call("Greeter", "greet", { name: 1 });
  // @ts-expect-error `Greeter` has no method `wave`.
  void call("Greeter", "wave", {});
  // @ts-expect-error There is no service `Missing`.
  void call("Missing", "greet", { name: "x" });
}

/** Type-checks a module in a fresh folder without a config file; returns the exit code and output. */
async function check(source: string): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "bundlehost-types-" });
  try {
    await Deno.writeTextFile(`${dir}/mod.ts`, source);
    const out = await new Deno.Command("deno", {
      args: ["check", "--no-config", "--quiet", `${dir}/mod.ts`],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const decoder = new TextDecoder();
    return { code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("defineBundle is what makes an unannotated ctx compile under strict checking", async () => {
  const body = `{
  services: { Hello: { greet(input: { name: string }, ctx) { return ctx.bundle.id + input.name; } } },
}`;
  const entry = new URL(`file://${ROOT}/engine/sdk/bundle.ts`).href;
  const plain = await check(`export default ${body};\n`);
  assert.notEqual(plain.code, 0);
  assert.match(plain.output, /TS7006.*'ctx' implicitly has an 'any' type/s);
  const typed = await check(
    `import { defineBundle } from "${entry}";\nexport default defineBundle(${body});\n`,
  );
  assert.equal(typed.code, 0, typed.output);
});
