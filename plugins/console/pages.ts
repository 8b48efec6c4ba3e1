/**
 * The console's server-rendered pages: one layout (header, navigation, the sign-in form, a
 * confirmation dialog, a live status region) around each page's panels. The pages carry no
 * data and no token: the client script (`client/app.js`) signs in, keeps the token in the tab's
 * `sessionStorage` and fills the panels from the admin API.
 *
 * @module
 */
import { html } from "hono/html";
import { type ConsolePage, type Html, PAGE_BODIES } from "./page_bodies.ts";

export type { ConsolePage };

/** What a page shows besides its panels. */
export interface PageInfo {
  /** Which page. */
  page: ConsolePage;
  /** Title (the bundle id on a bundle page). */
  title: string;
  /** Engine version, shown in the header. */
  engineVersion: string;
  /** Bundle id, on a bundle page. */
  bundle?: string;
  /** How often the client refreshes, ms. */
  refreshMs: number;
}

const NAV: { page: ConsolePage; href: string; label: string }[] = [
  { page: "overview", href: "/console", label: "Overview" },
  { page: "events", href: "/console/events", label: "Events" },
  { page: "logs", href: "/console/logs", label: "Logs" },
];

/**
 * Renders a console page.
 *
 * @param info Page, title, engine version and bundle id.
 * @returns The page's HTML.
 */
export function renderPage(info: PageInfo): Html {
  const nav = NAV.map((item) =>
    html`<li><a href="${item.href}"${
      item.page === info.page
        ? html`
          aria-current="page"
        `
        : ""
    }>${item.label}</a></li>`
  );
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="color-scheme" content="light dark">
        <title>${info.title} · Bundlehost console</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="/console/assets/console.css">
        <script type="module" src="/console/assets/app.js"></script>
      </head>
      <body data-page="${info.page}" data-bundle="${info.bundle ?? ""}" data-refresh-ms="${info
        .refreshMs}">
        <a class="skip" href="#content">Skip to content</a>
        <header class="top">
          <p class="brand">Bundlehost <span class="muted">${info.engineVersion}</span></p>
          <nav aria-label="Console">
            <ul>${nav}</ul>
          </nav>
          <button type="button" id="sign-out" hidden>Sign out</button>
        </header>
        <div id="status" class="status" role="status" aria-live="polite"></div>
        <div id="alert" class="alert" role="alert" hidden></div>
        <section id="login" class="login" aria-labelledby="login-h">
          <h1 id="login-h">Sign in</h1>
          <form id="login-form" class="stack" method="post" action="/console">
            <p class="hint">The admin token is kept in this tab only and sent as a bearer token to the
            admin API.</p>
            <label for="token">Admin token</label>
            <input id="token" name="token" type="password" autocomplete="off" required minlength="16">
            <p id="login-error" class="error" role="alert"></p>
            <button type="submit" disabled>Sign in</button>
          </form>
        </section>
        <main id="content" hidden tabindex="-1">
        <h1>${info.title}</h1>
        ${PAGE_BODIES[info.page]()}
            </main>
        <dialog id="confirm" aria-labelledby="confirm-h" aria-describedby="confirm-text">
          <form method="dialog" class="stack">
            <h2 id="confirm-h">Please confirm</h2>
            <p id="confirm-text"></p>
            <div class="actions">
              <button value="cancel" type="submit">Cancel</button>
              <button value="ok" type="submit" id="confirm-ok" class="primary">Confirm</button>
            </div>
          </form>
        </dialog>
      </body>
    </html>
  `;
}
