/**
 * The console's other actions in headless Chromium against a real engine: following a bundle's
 * logs, a canary started and aborted, an API error shown in the engine's words, stop and start,
 * a dead letter replayed after a fix, delete, and signing out. Waits are on states in the page
 * or the admin API, never on wall time.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { webConsole } from "../plugins/console/mod.ts";
import { manifest, waitFor, writeBundle } from "./_helpers.ts";
import { TEST_TOKEN, testServer } from "./_server.ts";
import { browserTestsRun, launchBrowser, waitIncludes, waitText } from "./_browser.ts";

const WAIT_MS = 60_000;

async function confirm(page: Page): Promise<void> {
  await page.waitForSelector("dialog#confirm[open] #confirm-ok", { visible: true });
  await page.click("#confirm-ok");
}

function web(version: string): string {
  return `export default { fetch(request) {
    console.log("served " + new URL(request.url).pathname + " by ${version}");
    return new Response("web ${version}");
  } };`;
}

/** Settings of bundle "web": config defaults and one declared secret, set by the test. */
const WEB_SETTINGS = {
  config: { LOG_LEVEL: "config-value-debug", REGION: "config-value-eu" },
  secrets: ["API_KEY"],
};
const API_KEY_VALUE = "secret-value-4c1e";

function orders(fixed: boolean): string {
  return `export default { services: { Orders: { onCreated() {
    ${fixed ? "return true;" : 'throw new Error("the warehouse is offline");'}
  } } } };`;
}

Deno.test({
  name: "Console follows logs, runs a canary, stops, starts, replays a dead letter and deletes",
  ignore: !browserTestsRun(),
}, async (t) => {
  await using server = await testServer({
    plugins: [webConsole({ refreshMs: 250 })],
  });
  const release = async (
    id: string,
    version: string,
    files: Record<string, string>,
    extra = {},
  ) => {
    const dir = await writeBundle(`${server.root}/src`, manifest(id, { version, ...extra }), files);
    const activate = version === "1.0.0" || id !== "web" ? "" : "?activate=false";
    const response = await server.request(`/admin/releases${activate}`, {
      admin: true,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ path: dir }),
    });
    assert.equal(response.status, 201, await response.text());
  };
  const view = async (id: string) =>
    await (await server.request(`/admin/bundles/${id}`, { admin: true })).json();
  const subscribe = {
    services: { Orders: "1.0.0" },
    subscribe: { "order.created": { handler: "Orders.onCreated", maxAttempts: 1 } },
  };
  await release("web", "1.0.0", { "mod.ts": web("1.0.0") }, WEB_SETTINGS);
  await release("web", "2.0.0", { "mod.ts": web("2.0.0") }, WEB_SETTINGS);
  await server.engine.settings.putSecret("web", "API_KEY", API_KEY_VALUE);
  await release("orders", "1.0.0", { "mod.ts": orders(false) }, subscribe);

  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(WAIT_MS);
    await page.goto(`${server.url}/console/logs?bundle=web`);
    await page.waitForSelector("#login-form button:enabled", { visible: true });
    await page.type("#token", TEST_TOKEN);
    await page.keyboard.press("Enter");

    await t.step("the logs page follows a bundle's new records", async () => {
      await page.waitForSelector('#logs-bundle option[value="web"]');
      assert.equal(await page.evaluate('document.querySelector("#logs-bundle").value'), "web");
      await page.click("#logs-start");
      await waitIncludes(page, "#logs-status", "Following web");
      // A record written after the stream opened arrives through it.
      await waitFor(
        async () => {
          const response = await fetch(`${server.url}/b/web/ping`);
          await response.body?.cancel();
          return await page.evaluate(
            `document.querySelector("#log-lines").textContent.includes("served /ping by 1.0.0")`,
          ) as boolean;
        },
        WAIT_MS,
        "the record in the page",
      );
      await page.click("#logs-stop");
      await waitText(page, "#logs-status", "Stopped.");
    });

    await page.goto(`${server.url}/console/bundles/web`);
    await page.waitForSelector('#canary-version option[value="2.0.0"]');

    await t.step("config and secret names show where the API answers, never values", async () => {
      await waitIncludes(page, "#config-names", "REGION");
      await waitIncludes(page, "#secret-names", "API_KEY");
      assert.deepEqual(
        await page.evaluate(
          `[...document.querySelectorAll("#config-names li")].map((e) => e.textContent)`,
        ),
        ["LOG_LEVEL", "REGION"],
      );
      assert.equal(
        await page.evaluate(`document.body.textContent.includes("config-value")`),
        false,
      );
      assert.equal(
        await page.evaluate(`document.body.textContent.includes(${JSON.stringify(API_KEY_VALUE)})`),
        false,
      );
    });

    await t.step("a refused canary is explained in the engine's words", async () => {
      await page.click("#canary-steps", { count: 3 });
      await page.type("#canary-steps", "50, 10");
      await page.click("#canary-form button[type=submit]");
      await confirm(page);
      await waitIncludes(
        page,
        "#alert",
        "400: Invalid request body: steps: must be strictly increasing",
      );
    });

    await t.step(
      "a canary started on the page runs, and aborting it returns to the stable version",
      async () => {
        await page.click("#canary-steps", { count: 3 });
        await page.type("#canary-steps", "10, 50");
        await page.click("#canary-step-ms", { count: 3 });
        await page.type("#canary-step-ms", "600000");
        await page.click("#canary-form button[type=submit]");
        await confirm(page);
        await waitText(page, '[data-field="canary-status"]', "running");
        assert.equal((await view("web")).canary.status, "running");
        await page.click("#canary-abort");
        await confirm(page);
        await waitText(page, '[data-field="canary-status"]', "aborted");
        const after = await view("web");
        assert.equal(after.active, "1.0.0");
        assert.equal(after.weights, undefined);
      },
    );

    await t.step("stop and start from the bundle page", async () => {
      await page.click('#lifecycle-actions [data-action="stop"]');
      await confirm(page);
      await waitText(page, '#summary-tiles [data-field="state"]', "RESOLVED");
      const stopped = await fetch(`${server.url}/b/web/`);
      await stopped.body?.cancel();
      assert.ok(stopped.status >= 400, `a stopped bundle does not serve (${stopped.status})`);
      await page.click('#lifecycle-actions [data-action="start"]');
      await confirm(page);
      await waitText(page, '#summary-tiles [data-field="state"]', "ACTIVE");
      assert.equal(await (await fetch(`${server.url}/b/web/`)).text(), "web 1.0.0");
    });

    await t.step("a dead letter replayed after a fix is delivered", async () => {
      const published = await server.engine.eventBus.publish("order.created", { orderId: "o-7" });
      assert.equal(published.deliveries, 1);
      await waitFor(async () => (await server.engine.eventBus.stats()).deadLetters === 1, WAIT_MS);
      await release("orders", "1.1.0", { "mod.ts": orders(true) }, subscribe);
      await page.goto(`${server.url}/console/events`);
      await page.waitForSelector("#letter-rows tr[data-letter] button");
      await waitIncludes(page, "#topic-rows", "order.created");
      await page.click("#letter-rows tr[data-letter] button");
      await confirm(page);
      await waitIncludes(page, "#letter-rows", "No dead letters");
      await waitFor(async () => (await server.engine.eventBus.stats()).delivered >= 1, WAIT_MS);
    });

    await t.step("a bundle without config or secrets shows none in both panels", async () => {
      await page.goto(`${server.url}/console/bundles/orders`);
      await waitText(page, '#summary-tiles [data-field="active"]', "1.1.0");
      await page.waitForSelector('#config[data-checked="true"]');
      await page.waitForSelector('#secrets[data-checked="true"]');
      await waitIncludes(page, "#config-names", "none");
      await waitIncludes(page, "#secret-names", "none");
      assert.equal(await page.evaluate(`document.querySelector("#alert").hidden`), true);
    });

    await t.step("delete from the bundle page leaves the overview without it", async () => {
      await page.goto(`${server.url}/console/bundles/web`);
      await page.waitForSelector('#summary-tiles [data-field="state"]');
      await page.click('#lifecycle-actions [data-action="delete"]');
      await confirm(page);
      await page.waitForFunction(`location.pathname === "/console"`);
      await page.waitForSelector('tr[data-bundle="orders"]');
      assert.equal(await page.$('tr[data-bundle="web"]'), null);
      const gone = await server.request("/admin/bundles/web", { admin: true });
      assert.equal(gone.status, 404);
      await gone.body?.cancel();
    });

    await t.step("signing out forgets the token", async () => {
      await page.click("#sign-out");
      await page.waitForSelector("#token", { visible: true });
      assert.equal(await page.evaluate("sessionStorage.length"), 0);
      await waitText(page, "#login-error", "Signed out.");
    });
  } finally {
    await browser.close();
  }
});
