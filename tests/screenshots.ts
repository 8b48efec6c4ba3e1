/**
 * `deno task screenshots`: regenerates the console's screenshots in `docs/console/` (README,
 * "Console"). It starts an engine with the example bundles and a bundle whose event handler
 * fails (so the events page has a dead letter), makes some calls, signs in with headless
 * Chromium and saves each page at laptop width, the overview also at phone width and dark.
 *
 * @module
 */
import type { Page } from "puppeteer-core";
import { createEngine } from "../mod.ts";
import { serviceRelease } from "../plugins/service_release/mod.ts";
import { webConsole } from "../plugins/console/mod.ts";
import { launchBrowser } from "./_browser.ts";
import { manifest, ROOT, waitFor, writeBundle } from "./_helpers.ts";

const TOKEN = "screenshot-token-0123456789";
const OUT = `${ROOT}/docs/console`;

const root = await Deno.makeTempDir({ prefix: "bundlehost-screenshots-" });
const engine = await createEngine({
  dataDir: `${root}/.bundlehost`,
  // hello in the process tier, so its instance shows a pid.
  ceiling: { trusted: ["orders"] },
  metricsHistory: { intervalMs: 1_000, size: 120 },
  plugins: [serviceRelease({ adminToken: TOKEN }), webConsole({ refreshMs: 500 })],
});
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, engine.fetch);
const base = `http://127.0.0.1:${server.addr.port}`;

/** Waits until the page has drawn `selector`'s text. */
async function drawn(page: Page, selector: string): Promise<void> {
  await page.waitForFunction(
    `(document.querySelector(${JSON.stringify(selector)})?.textContent ?? "").trim() !== ""`,
  );
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${OUT}/${name}.png`, fullPage: true });
  console.log(`Wrote docs/console/${name}.png`);
}

const browser = await launchBrowser();
try {
  for (const name of ["hello", "catalog"]) {
    await engine.release({ path: `${ROOT}/bundles/${name}` });
  }
  const orders = await writeBundle(
    `${root}/src`,
    manifest("orders", {
      services: { Orders: "1.0.0" },
      subscribe: { "order.created": { handler: "Orders.onCreated", maxAttempts: 1 } },
    }),
    {
      "mod.ts": `export default { services: { Orders: {
        onCreated() { throw new Error("the warehouse is offline"); },
      } } };`,
    },
  );
  await engine.release({ path: orders });
  await engine.eventBus.publish("order.created", { orderId: "o-1042" });
  await waitFor(
    async () => (await engine.eventBus.stats()).deadLetters > 0,
    30_000,
    "a dead letter",
  );
  // A few seconds of traffic, so the charts have a shape.
  for (let second = 0; second < 8; second++) {
    const calls = 5 + second * 3;
    for (let i = 0; i < calls; i++) {
      const response = await fetch(`${base}/b/hello/?name=console`);
      await response.body?.cancel();
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  await Deno.mkdir(OUT, { recursive: true });

  const page = await browser.newPage();
  page.setDefaultTimeout(60_000);
  await page.setViewport({ width: 1280, height: 800 });
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
  await page.goto(`${base}/console`);
  await page.waitForSelector("#login-form button:enabled", { visible: true });
  await shoot(page, "login");
  await page.type("#token", TOKEN);
  await page.keyboard.press("Enter");
  await page.waitForSelector('tr[data-bundle="hello"]');
  await page.waitForSelector("#chart-rate path.line");
  await shoot(page, "overview");

  await page.goto(`${base}/console/bundles/hello`);
  await page.waitForSelector("#instance-rows tr");
  await drawn(page, "#summary-tiles");
  await page.waitForSelector("#chart-rate path.line");
  await shoot(page, "bundle");

  await page.goto(`${base}/console/events`);
  await page.waitForSelector("#letter-rows tr[data-letter]");
  await shoot(page, "events");

  await page.goto(`${base}/console/logs?bundle=hello`);
  await page.waitForSelector('#logs-bundle option[value="hello"]');
  await page.click("#logs-start");
  await page.waitForSelector("#log-lines li");
  await shoot(page, "logs");

  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
  await page.goto(`${base}/console`);
  await page.waitForSelector("#chart-rate path.line");
  await shoot(page, "overview-dark");

  await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 1 });
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
  await page.goto(`${base}/console/bundles/hello`);
  await page.waitForSelector("#instance-rows tr");
  await shoot(page, "bundle-phone");
} finally {
  await browser.close();
  engine.endLogFollowers();
  await server.shutdown();
  await engine.close();
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
