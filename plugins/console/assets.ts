/**
 * The console's static files: its client modules and style sheet, read into the module graph as
 * text (so the engine serves them from memory, wherever it was loaded from) and served under
 * `/console/assets/` with their own content type and an entity tag.
 *
 * @module
 */
import app from "./client/app.js" with { type: "text" };
import api from "./client/api.js" with { type: "text" };
import ui from "./client/ui.js" with { type: "text" };
import charts from "./client/charts.js" with { type: "text" };
import overview from "./client/overview.js" with { type: "text" };
import bundle from "./client/bundle.js" with { type: "text" };
import events from "./client/events.js" with { type: "text" };
import logs from "./client/logs.js" with { type: "text" };
import css from "./client/console.css" with { type: "text" };

/** One static file. */
export interface Asset {
  /** Content type. */
  type: string;
  /** The bytes. */
  body: Uint8Array<ArrayBuffer>;
  /** Strong entity tag (hash of the bytes). */
  etag: string;
}

const JS = "text/javascript; charset=utf-8";
const SOURCES: Record<string, [string, string]> = {
  "app.js": [JS, app],
  "api.js": [JS, api],
  "ui.js": [JS, ui],
  "charts.js": [JS, charts],
  "overview.js": [JS, overview],
  "bundle.js": [JS, bundle],
  "events.js": [JS, events],
  "logs.js": [JS, logs],
  "console.css": ["text/css; charset=utf-8", css],
};

let loaded: Map<string, Asset> | undefined;

/**
 * The console's assets by file name, hashed once.
 *
 * @returns Name → asset.
 */
export async function consoleAssets(): Promise<Map<string, Asset>> {
  if (loaded) return loaded;
  const assets = new Map<string, Asset>();
  for (const [name, [type, text]] of Object.entries(SOURCES)) {
    const body = new TextEncoder().encode(text);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
    const etag = `"${
      Array.from(digest.slice(0, 12), (b) => b.toString(16).padStart(2, "0")).join("")
    }"`;
    assets.set(name, { type, body, etag });
  }
  loaded = assets;
  return assets;
}
