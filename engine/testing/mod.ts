/**
 * Helpers for testing a bundle or a plugin against a real engine (real sandboxes, real Deno KV,
 * in a temporary data folder): {@linkcode testBundle} (with mocked services, captured logs and
 * publishes, and a manual event clock) and {@linkcode testPlugin}.
 *
 * @example Test a bundle in `deno test`
 * ```ts
 * import { testBundle } from "@bundlehost/sdk/testing";
 *
 * Deno.test("HelloService greets by name", async () => {
 *   await using hello = await testBundle("./bundles/hello");
 *   const reply = await hello.call("HelloService", "greet", { name: "Ada" });
 *   if (!JSON.stringify(reply).includes("Ada")) throw new Error("no greeting");
 * });
 * ```
 *
 * @module
 */
export {
  type BundleServices,
  type CallArgs,
  type CallResult,
  type TestBundle,
  testBundle,
  type TestBundleOptions,
} from "./test_bundle.ts";
export { type TestPlugin, testPlugin, type TestPluginOptions } from "./test_plugin.ts";
export type { MockCall, MockCallMeta, MockMethod, ServiceMocks } from "./mocks.ts";
export type { CapturedLog, PublishedEvent } from "./capture.ts";
export type { DeliveryReport, PublishReport } from "./event_driver.ts";
export { ManualClock } from "../base/clock.ts";
