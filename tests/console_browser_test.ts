/**
 * The operator console in a real headless Chromium against a real engine on loopback: sign-in
 * with a wrong and a right token, a release uploaded through the page (and one by folder path),
 * the bundle served over HTTP, a traffic split, a rollback, a breaker seen open after a burst of
 * failing calls, the phone layout, and that no request left the engine's origin or carried the
 * token in its URL. Waits are on states in the page or the admin API, never on wall time.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { packTar } from "modern-tar";
import { webConsole } from "../plugins/console/mod.ts";
import { manifest, waitFor, writeBundle } from "./_helpers.ts";
import { TEST_TOKEN, testServer } from "./_server.ts";
import {
  browserTestsRun,
  launchBrowser,
  recordRequests,
  waitIncludes,
  waitText,
} from "./_browser.ts";

const WAIT_MS = 60_000;

function shop(version: string): Record<string, string> {
  return {
    "bundle.json": JSON.stringify(manifest("shop", { version })),
    "mod.ts": `export default { fetch: () => new Response(${JSON.stringify(`shop ${version}`)}) };`,
  };
}

async function targz(files: Record<string, string>): Promise<Uint8Array<ArrayBuffer>> {
  const tar = await packTar(
    Object.entries(files).map(([name, body]) => ({
      header: { name, size: new TextEncoder().encode(body).byteLength },
      body,
    })),
  );
  const stream = new Blob([tar]).stream().pipeThrough(new CompressionStream("gzip"));
  return await new Response(stream).bytes();
}

/** Clicks the confirmation dialog's Confirm button once the dialog is open. */
async function confirm(page: Page): Promise<void> {
  await page.waitForSelector("dialog#confirm[open] #confirm-ok", { visible: true });
  await page.click("#confirm-ok");
  await page.waitForSelector("dialog#confirm:not([open])", { hidden: false });
}

/** Evaluates `expression` in the page. */
function inPage<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate(expression) as Promise<T>;
}

/**
 * Page-side: the body's background and the contrast ratio (WCAG 2) of text on its nearest
 * opaque background, for the kinds of text the console shows.
 */
const CONTRAST = `(() => {
  const rgb = (c) => c.match(/[0-9.]+/g).map(Number);
  const lum = (c) => {
    const [r, g, b] = rgb(c).map((v) => v / 255).map((v) =>
      v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4
    );
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const backgroundOf = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      const parts = rgb(c);
      if (parts.length === 3 || parts[3] === 1) return c;
    }
    return "rgb(255, 255, 255)";
  };
  const ratio = (el) => {
    const a = lum(getComputedStyle(el).color);
    const b = lum(backgroundOf(el));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  };
  const checks = {
    "a heading": "main h1",
    "a panel heading": ".panel h2",
    "a tile's term": ".tiles dt",
    "a hint": ".hint",
    "a link": "#bundle-rows a",
    "a state": "#bundle-rows [class^=state-]",
    "the navigation": "nav a",
    "the primary button": "#release-form button[type=submit]",
    "a chart label": ".chart figcaption",
  };
  const ratios = Object.entries(checks).map(([what, selector]) => {
    const el = document.querySelector(selector);
    return [what + " (" + selector + ")", el ? ratio(el) : 0];
  });
  return [getComputedStyle(document.body).backgroundColor, ratios];
})()`;

Deno.test({
  name: "Console signs in, releases, splits traffic, rolls back and shows an open breaker",
  ignore: !browserTestsRun(),
}, async (t) => {
  await using server = await testServer({ plugins: [webConsole({ refreshMs: 250 })] });
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const requests = recordRequests(page);
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    const body = async (path: string) => {
      const response = await fetch(`${server.url}${path}`);
      return {
        status: response.status,
        text: await response.text(),
        from: response.headers.get("x-bundle"),
      };
    };
    const view = async (id: string) =>
      await (await server.request(`/admin/bundles/${id}`, { admin: true })).json();

    await t.step("a wrong token is refused and not kept", async () => {
      const response = await page.goto(`${server.url}/console`);
      assert.equal(response?.status(), 200);
      await page.waitForSelector("#login-form button:enabled", { visible: true });
      await page.type("#token", "wrong-token-0123456789");
      await page.keyboard.press("Enter");
      await waitIncludes(page, "#login-error", "Wrong token");
      assert.equal(await inPage(page, "sessionStorage.length"), 0);
      assert.equal(await inPage(page, 'document.querySelector("#content").hidden'), true);
    });

    await t.step("the right token signs in with the keyboard alone", async () => {
      await inPage(page, 'document.querySelector("#token").value = ""');
      await page.focus("#token");
      await page.keyboard.type(TEST_TOKEN);
      await page.keyboard.press("Enter");
      await page.waitForSelector("#bundle-rows", { visible: true });
      await waitIncludes(page, "#bundle-rows", "No bundles yet");
      assert.equal(await inPage(page, 'document.querySelector("#login").hidden'), true);
    });

    await t.step("a tar.gz released through the page serves over HTTP", async () => {
      const archive = `${server.root}/shop-1.0.0.tar.gz`;
      await Deno.writeFile(archive, await targz(shop("1.0.0")));
      const input = await page.$("#release-file");
      await input!.uploadFile(archive);
      await page.click("#release-form button[type=submit]");
      await confirm(page);
      await waitText(page, 'tr[data-bundle="shop"] [data-field="active"]', "1.0.0");
      await waitText(page, 'tr[data-bundle="shop"] [data-field="state"]', "ACTIVE");
      const served = await body("/b/shop/");
      assert.equal(served.status, 200);
      assert.equal(served.text, "shop 1.0.0");
    });

    await t.step("a folder path released through the page takes the traffic", async () => {
      const folder = await writeBundle(
        `${server.root}/src`,
        JSON.parse(shop("2.0.0")["bundle.json"]!),
        {
          "mod.ts": shop("2.0.0")["mod.ts"]!,
        },
      );
      await page.type("#release-path", folder);
      await page.click("#release-form button[type=submit]");
      await confirm(page);
      await waitText(page, 'tr[data-bundle="shop"] [data-field="active"]', "2.0.0");
      assert.equal((await body("/b/shop/")).text, "shop 2.0.0");
    });

    await t.step("a traffic split set on the bundle page reaches both versions", async () => {
      await page.click('tr[data-bundle="shop"] a');
      await page.waitForSelector('#traffic-inputs input[data-version="1.0.0"]', { visible: true });
      for (const version of ["1.0.0", "2.0.0"]) {
        const selector = `#traffic-inputs input[data-version="${version}"]`;
        await page.click(selector, { count: 3 });
        await page.type(selector, "50");
      }
      await page.click("#traffic-form button[type=submit]");
      await confirm(page);
      await waitFor(
        async () => JSON.stringify((await view("shop")).weights) === '{"1.0.0":50,"2.0.0":50}',
        WAIT_MS,
        "weights 50/50 in the admin API",
      );
      const seen = new Set<string>();
      for (let i = 0; i < 60 && seen.size < 2; i++) seen.add((await body("/b/shop/")).text);
      assert.deepEqual([...seen].sort(), ["shop 1.0.0", "shop 2.0.0"]);
    });

    await t.step("a rollback from the versions table serves the old version only", async () => {
      await page.click("#version-rows button::-p-text(Roll back to 1.0.0)");
      await confirm(page);
      await waitText(page, '#summary-tiles [data-field="active"]', "1.0.0");
      await waitFor(async () => (await view("shop")).weights === undefined, WAIT_MS, "no weights");
      for (let i = 0; i < 10; i++) assert.equal((await body("/b/shop/")).text, "shop 1.0.0");
    });

    await t.step("a breaker opened by a burst of failing calls shows OPEN", async () => {
      const dir = await writeBundle(
        `${server.root}/src`,
        manifest("flaky", {
          services: { Flaky: "1.0.0" },
          governance: {
            strategy: "errorCount",
            threshold: 2,
            minRequestAmount: 3,
            statIntervalMs: 60_000,
            retryTimeoutMs: 600_000,
          },
        }),
        {
          "mod.ts":
            `export default { services: { Flaky: { fail() { throw new Error("down"); } } } };`,
        },
      );
      const released = await server.request("/admin/releases", {
        admin: true,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ path: dir }),
      });
      assert.equal(released.status, 201, await released.text());
      const codes = new Set<number>();
      for (let i = 0; i < 8; i++) {
        const response = await server.request("/rpc/Flaky/fail", { method: "POST", body: "{}" });
        codes.add(response.status);
        await response.body?.cancel();
      }
      assert.ok(codes.has(503), `an open circuit answers 503 (saw ${[...codes]})`);
      await page.goto(`${server.url}/console/bundles/flaky`);
      await waitText(page, '#governance-tiles [data-field="breaker-state"]', "OPEN");
      await page.goto(`${server.url}/console`);
      await waitText(page, 'tr[data-bundle="flaky"] [data-field="breaker"]', "OPEN");
    });

    await t.step("the overview fits a phone's width", async () => {
      await page.setViewport({ width: 390, height: 844 });
      await page.waitForSelector('tr[data-bundle="shop"]', { visible: true });
      const overflow = await inPage<number>(
        page,
        "document.documentElement.scrollWidth - document.documentElement.clientWidth",
      );
      assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
    });

    await t.step("light and dark both keep text contrast at 4.5:1 or more", async () => {
      await page.setViewport({ width: 1280, height: 800 });
      const backgrounds: string[] = [];
      for (const scheme of ["light", "dark"]) {
        await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: scheme }]);
        await page.waitForSelector('tr[data-bundle="shop"]', { visible: true });
        const [background, ratios] = await inPage<[string, [string, number][]]>(page, CONTRAST);
        backgrounds.push(background);
        for (const [what, ratio] of ratios) {
          assert.ok(ratio >= 4.5, `${scheme}: ${what} has contrast ${ratio.toFixed(2)}`);
        }
      }
      assert.notEqual(backgrounds[0], backgrounds[1], "the dark scheme changes the page");
    });

    await t.step("no request left the origin or carried the token", () => {
      assert.ok(requests.urls.length > 10, "requests were recorded");
      const outside = requests.urls.filter((u) =>
        !u.startsWith("data:") && new URL(u).origin !== server.url
      );
      assert.deepEqual(outside, []);
      assert.deepEqual(requests.urls.filter((u) => u.includes(TEST_TOKEN)), []);
      assert.deepEqual(pageErrors, []);
    });
  } finally {
    await browser.close();
  }
});
