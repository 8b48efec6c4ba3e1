/**
 * The operator console: a small web interface at `/console` over the admin API (README,
 * "Console"). `GET /console` answers without a token with a sign-in form; the token stays in the
 * browser tab (`sessionStorage`) and goes to the admin API as a bearer token, never in a URL.
 * Pages are rendered here, their data is filled in by the console's own client modules, served
 * under `/console/assets/` — nothing comes from another origin, and a strict Content Security
 * Policy says so to the browser. Needs the service-release plugin (the admin API).
 *
 * @example Serve an engine with the console
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 * import { serviceRelease } from "@bundlehost/sdk/service-release";
 * import { webConsole } from "@bundlehost/sdk/console";
 *
 * const engine = await createEngine({ plugins: [serviceRelease(), webConsole()] });
 * Deno.serve({ hostname: "127.0.0.1", port: 8000 }, engine.fetch);
 * // Open http://127.0.0.1:8000/console and sign in with the admin token.
 * ```
 *
 * @module
 */
import type { Engine } from "../../engine/engine.ts";
import { BUNDLE_ID_PATTERN } from "../../engine/manifest/manifest.ts";
import { definePlugin, type Plugin } from "../../engine/plugin/plugin.ts";
import { pathOf } from "../../engine/edge/http.ts";
import { consoleAssets } from "./assets.ts";
import { type PageInfo, renderPage } from "./pages.ts";

/**
 * Options for {@linkcode webConsole}.
 *
 * @example Refresh the pages every five seconds
 * ```ts
 * import { webConsole, type WebConsoleOptions } from "@bundlehost/sdk/console";
 *
 * const options: WebConsoleOptions = { refreshMs: 5_000 };
 * const plugin = webConsole(options);
 * ```
 */
export interface WebConsoleOptions {
  /** How often the pages ask the admin API again, ms (from 250 to 60000). @default {2000} */
  refreshMs?: number;
}

/**
 * The Content Security Policy of every console response: no script, style, font or connection
 * to another origin, no inline script or style, no framing.
 */
const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

function headers(type: string): Headers {
  return new Headers({
    "content-type": type,
    "content-security-policy": CONSOLE_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
  });
}

async function page(info: PageInfo, status = 200): Promise<Response> {
  const body = await renderPage(info);
  const response = new Response(body.toString().trimStart(), {
    status,
    headers: headers("text/html; charset=utf-8"),
  });
  response.headers.set("cache-control", "no-store");
  return response;
}

function notFound(what: string): Response {
  return new Response(`${what}\n`, { status: 404, headers: headers("text/plain; charset=utf-8") });
}

async function asset(request: Request, name: string): Promise<Response> {
  const found = (await consoleAssets()).get(name);
  if (!found) return notFound(`No console asset "${name.slice(0, 64)}"`);
  const h = headers(found.type);
  h.set("etag", found.etag);
  h.set("cache-control", "no-cache");
  if (request.headers.get("if-none-match") === found.etag) {
    return new Response(null, { status: 304, headers: h });
  }
  return new Response(request.method === "HEAD" ? null : found.body, { headers: h });
}

/**
 * Answers a console request.
 *
 * @param request The request (its path starts with `/console`).
 * @param path Its path.
 * @param engine The engine (for its version).
 * @param refreshMs The pages' refresh interval.
 * @returns The response.
 */
function serveConsole(
  request: Request,
  path: string,
  engine: Engine,
  refreshMs: number,
): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    const response = new Response(`The console answers GET only\n`, {
      status: 405,
      headers: headers("text/plain; charset=utf-8"),
    });
    response.headers.set("allow", "GET, HEAD");
    return Promise.resolve(response);
  }
  const base = { engineVersion: engine.version, refreshMs };
  if (path === "/console" || path === "/console/") {
    return page({ ...base, page: "overview", title: "Overview" });
  }
  if (path === "/console/events") return page({ ...base, page: "events", title: "Events" });
  if (path === "/console/logs") return page({ ...base, page: "logs", title: "Logs" });
  if (path.startsWith("/console/assets/")) {
    return asset(request, path.slice("/console/assets/".length));
  }
  if (path.startsWith("/console/bundles/")) {
    const id = path.slice("/console/bundles/".length);
    if (!BUNDLE_ID_PATTERN.test(id)) {
      return Promise.resolve(notFound(`Invalid bundle id "${id.slice(0, 64)}"`));
    }
    return page({ ...base, page: "bundle", title: id, bundle: id });
  }
  return Promise.resolve(notFound(`No console page at ${path.slice(0, 128)}`));
}

/**
 * Creates the console plugin: serves `/console` and its pages and assets. Put it after
 * `serviceRelease()`, whose admin API the console uses.
 *
 * @param options Refresh interval.
 * @returns The plugin.
 * @throws {RangeError} For a refresh interval outside 250 to 60000 ms.
 *
 * @example The sign-in page answers without a token
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 * import { serviceRelease } from "@bundlehost/sdk/service-release";
 * import { webConsole } from "@bundlehost/sdk/console";
 *
 * await using engine = await createEngine({
 *   plugins: [serviceRelease({ adminToken: "a".repeat(32) }), webConsole()],
 * });
 * const page = await engine.fetch(new Request("http://127.0.0.1/console"));
 * console.log(page.status, page.headers.get("content-type"));
 * ```
 */
export function webConsole(options: WebConsoleOptions = {}): Plugin<Engine> {
  const refreshMs = options.refreshMs ?? 2_000;
  if (!(refreshMs >= 250 && refreshMs <= 60_000)) {
    throw new RangeError(`Console refreshMs must be from 250 to 60000, not ${refreshMs}`);
  }
  let engine: Engine | undefined;
  return definePlugin<Engine>({
    name: "console",
    version: "0.1.0",
    engine: "^0.1.0",
    dependencies: ["service-release"],
    setup(e) {
      engine = e;
    },
    fetch(request) {
      const path = pathOf(request.url);
      if (!engine || (path !== "/console" && !path.startsWith("/console/"))) return undefined;
      return serveConsole(request, path, engine, refreshMs);
    },
  });
}
