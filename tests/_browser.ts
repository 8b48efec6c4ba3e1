/**
 * The console's browser tests drive a headless Chromium through `puppeteer-core` with the
 * system's executable (Debian package `chromium`; nothing is downloaded). A machine without it
 * skips those tests with a message, unless `BUNDLEHOST_REQUIRE_CHROMIUM=1` (set by `.ci/run`,
 * which installs it), where they must run.
 *
 * @module
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** Where the browser is looked for, first found wins (`BUNDLEHOST_CHROMIUM` overrides). */
const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

/** The browser's executable, or undefined when the machine has none. */
export function chromiumPath(): string | undefined {
  const given = Deno.env.get("BUNDLEHOST_CHROMIUM");
  for (const path of given ? [given] : CANDIDATES) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not there: try the next one.
    }
  }
  return undefined;
}

/**
 * Whether the browser tests run: always where Chromium is installed, and wherever
 * `BUNDLEHOST_REQUIRE_CHROMIUM=1` (so CI, which installs it, can never skip them; a missing
 * browser then fails the test instead).
 */
export function browserTestsRun(): boolean {
  if (Deno.env.get("BUNDLEHOST_REQUIRE_CHROMIUM") === "1") return true;
  if (chromiumPath() !== undefined) return true;
  console.warn(
    "Skipping the console's browser tests: no Chromium (apt-get install chromium, or set BUNDLEHOST_CHROMIUM)",
  );
  return false;
}

/**
 * Launches headless Chromium.
 *
 * @returns The browser; close it when done.
 * @throws {Error} When no Chromium is installed.
 */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) {
    throw new Error(
      "BUNDLEHOST_REQUIRE_CHROMIUM=1 but no Chromium was found (apt-get install chromium)",
    );
  }
  return await puppeteer.launch({
    executablePath,
    headless: true,
    // The sandbox needs user namespaces, which containers often lack; the pages are our own.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
    timeout: 60_000,
    protocolTimeout: 60_000,
  });
}

/** Requests a page made, recorded so a test can check that none left the origin. */
export interface RecordedRequests {
  /** Every URL requested, in order. */
  urls: string[];
}

/**
 * Records every request a page makes (documents, scripts, styles, fonts, fetches).
 *
 * @param page The page.
 * @returns The record, filled as the page runs.
 */
export function recordRequests(page: Page): RecordedRequests {
  const record: RecordedRequests = { urls: [] };
  page.on("request", (request) => record.urls.push(request.url()));
  return record;
}

// Page-side code is given as text: test files are type-checked without the DOM's types.

/** Waits until the text of `selector` is `text`. */
export async function waitText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    `document.querySelector(${JSON.stringify(selector)})?.textContent?.trim() === ${
      JSON.stringify(text)
    }`,
  );
}

/** Waits until the text of `selector` includes `text`. */
export async function waitIncludes(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    `document.querySelector(${JSON.stringify(selector)})?.textContent?.includes(${
      JSON.stringify(text)
    })`,
  );
}
