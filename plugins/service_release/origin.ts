/**
 * The browser origin model of `/b/:id/*`. Every bundle's pages share the engine's origin
 * (scheme, host, port), so a response from a bundle is confined before it leaves the engine:
 *
 * - **Opaque origin.** `Content-Security-Policy: sandbox …` without `allow-same-origin` makes a
 *   page (HTML, SVG, any document) run in a unique opaque origin: its scripts cannot read the
 *   engine's cookies or storage, cannot register a service worker, and their requests to the
 *   admin API or to another bundle are cross-origin (`Origin: null`). The bundle's own CSP, if any,
 *   is kept: browsers enforce both policies.
 * - **Cookies.** A `Set-Cookie` gets `Path=/b/<id><its path>` (a cookie without a path gets
 *   `/b/<id>/`), and loses any `Domain`: a bundle's cookie is sent only to that bundle.
 * - **CORS.** `Access-Control-Allow-Credentials` and `Access-Control-Allow-Private-Network` are
 *   removed: a bundle may let other sites read its responses, never with the user's credentials,
 *   and cannot open a private-network engine to public sites.
 * - **Origin-wide headers.** Headers that configure the whole origin are removed:
 *   `Clear-Site-Data`, `Service-Worker-Allowed`, `Strict-Transport-Security`, `Alt-Svc`, `NEL`,
 *   `Report-To`, `Public-Key-Pins`, `Origin-Agent-Cluster`.
 * - **Service workers.** A request the browser makes to fetch a service worker script
 *   (`Service-Worker: script`) is refused with 403, so no worker can be installed from `/b/`.
 *
 * @module
 */

/** The sandbox every `/b/` response runs in: scripts and forms, never the engine's origin. */
export const BUNDLE_SANDBOX_CSP =
  "sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox allow-modals " +
  "allow-downloads";

/** Response headers a bundle may not send: each configures the engine's whole origin or CORS credentials. */
export const ORIGIN_HEADERS: readonly string[] = [
  "access-control-allow-credentials",
  "access-control-allow-private-network",
  "alt-svc",
  "clear-site-data",
  "nel",
  "origin-agent-cluster",
  "public-key-pins",
  "public-key-pins-report-only",
  "report-to",
  "service-worker-allowed",
  "strict-transport-security",
];

/**
 * A `Set-Cookie` value confined to a bundle's prefix: `Path` moved under it (or set to it), and
 * `Domain` dropped.
 *
 * @param cookie The header value as the bundle sent it.
 * @param prefix The bundle's prefix, e.g. `/b/shop`.
 * @returns The rewritten value.
 */
export function confineCookie(cookie: string, prefix: string): string {
  const [pair = "", ...attributes] = cookie.split(";");
  let path = "/";
  const kept: string[] = [];
  for (const attribute of attributes) {
    const trimmed = attribute.trim();
    const eq = trimmed.indexOf("=");
    const name = (eq < 0 ? trimmed : trimmed.slice(0, eq)).trim().toLowerCase();
    if (name === "path") {
      const value = eq < 0 ? "" : trimmed.slice(eq + 1).trim();
      // RFC 6265: a path that does not start with "/" means the default path.
      path = value.startsWith("/") ? value : "/";
    } else if (name !== "domain" && trimmed !== "") kept.push(trimmed);
  }
  return [pair.trim(), `Path=${prefix}${path}`, ...kept].join("; ");
}

const REFUSED: ReadonlySet<string> = new Set(ORIGIN_HEADERS);

/**
 * Whether a request is a browser fetching a service worker script.
 *
 * @param request The request.
 * @returns `true` for `Service-Worker: script`.
 */
export function isServiceWorkerScript(request: Request): boolean {
  return request.headers.get("service-worker")?.trim().toLowerCase() === "script";
}

/**
 * Confines a bundle's response to its prefix (see the module documentation), in place.
 *
 * @param response The bundle's response (its headers must be mutable).
 * @param prefix The bundle's prefix, e.g. `/b/shop`.
 * @returns The same response.
 */
export function confineResponse(response: Response, prefix: string): Response {
  // Only the rare responses built before confinement come here (a 403, a WebSocket's 101): the
  // hot path confines the header list the response is built from (confineHeaders).
  const headers = response.headers;
  const confined = confineHeaders([...headers], prefix);
  for (const name of new Set(headers.keys())) headers.delete(name);
  for (const [name, value] of confined) headers.append(name, value);
  return response;
}

/**
 * Confines a bundle's response headers to its prefix (see the module documentation), on the
 * header list a response is built from (lower-case names), in place: the `/b/` hot path never
 * builds a `Headers` object only to edit it.
 *
 * @param headers The bundle's response headers, lower-case names.
 * @param prefix The bundle's prefix, e.g. `/b/shop`.
 * @returns The same list.
 */
export function confineHeaders(headers: [string, string][], prefix: string): [string, string][] {
  let kept = 0;
  for (const header of headers) {
    const name = header[0];
    if (REFUSED.has(name) || name === "x-content-type-options") continue;
    if (name === "set-cookie") header[1] = confineCookie(header[1], prefix);
    headers[kept++] = header;
  }
  headers.length = kept;
  headers.push(
    ["content-security-policy", BUNDLE_SANDBOX_CSP],
    ["x-content-type-options", "nosniff"],
  );
  return headers;
}
