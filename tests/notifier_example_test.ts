/**
 * The example bundle `bundles/notifier` (README, "Config" and "Secrets") in both tiers: defaults
 * from its `bundle.json`, an operator override and a secret it signs with, as the README shows.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT, testEngine } from "./_helpers.ts";

for (const tier of ["worker", "process"] as const) {
  Deno.test(`Example bundle notifier uses its config and secret in the ${tier} tier`, async () => {
    await using t = await testEngine({ isolation: tier });
    const logs: string[] = [];
    t.engine.events.on("log", (event) => logs.push(event.message));
    await t.engine.release({ path: `${ROOT}/bundles/notifier` });
    const preview = () => t.engine.call("NotifierService", "preview", { name: "Ada", to: ["a@x"] });
    assert.deepEqual(await preview(), {
      from: "Bundlehost",
      to: ["a@x"],
      subject: "Hello Ada",
      footer: "Sent by Bundlehost",
      signed: false,
    });
    await t.engine.settings.putConfig("notifier", {
      sender: "Shop",
      template: { subject: "Hi {name}" },
    });
    await t.engine.settings.putSecret("notifier", "NOTIFIER_API_KEY", "k-123");
    const message = { from: "Shop", to: ["a@x"], subject: "Hi Ada", footer: "Sent by Shop" };
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode("k-123"),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = new Uint8Array(
      await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(JSON.stringify(message))),
    );
    const signature = [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
    assert.deepEqual(await preview(), { ...message, signed: true, signature });
    assert.ok(logs.some((l) => l.includes("settings refreshed; sender is Shop")), logs.join("\n"));
  });
}
