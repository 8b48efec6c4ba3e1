/**
 * The panels of each console page, empty: the client script fills them from the admin API.
 * Every control has a label, every table a header row, every chart an accessible name.
 *
 * @module
 */
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

/** A page of the console. */
export type ConsolePage = "overview" | "bundle" | "events" | "logs";

/** Rendered HTML (possibly still resolving). */
export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

function panel(id: string, heading: string, body: Html): Html {
  return html`<section class="panel" id="${id}" aria-labelledby="${id}-h">
  <h2 id="${id}-h">${heading}</h2>
  ${body}
</section>`;
}

function chart(id: string, label: string): Html {
  return html`
    <figure class="chart" id="${id}">
      <figcaption>${label}</figcaption>
      <div class="chart-body" role="img" aria-label="${label}: waiting for samples"></div>
    </figure>
  `;
}

/** A scrolling table whose body (`bodyId`) the client fills; `caption` is read by screen readers. */
function table(bodyId: string, columns: string[], caption?: string, loading?: string): Html {
  const head = columns.map((column) => html`<th scope="col">${column}</th>`);
  const rows = loading === undefined ? "" : html`
    <tr>
      <td colspan="${columns.length}">${loading}</td>
    </tr>
  `;
  return html`
    <div class="scroll">
      <table>${caption === undefined
        ? ""
        : html`<caption class="sr-only">${caption}</caption>`}<thead><tr>${head}</tr></thead><tbody id="${bodyId}">${rows}</tbody></table>
    </div>
  `;
}

/** Panels one after another. */
function page(...panels: Html[]): Html {
  return html`${panels}`;
}

function overview(): Html {
  return page(
    panel(
      "engine",
      "Engine",
      html`
        <dl class="tiles" id="tiles">
          <div>
            <dt>Bundles</dt>
            <dd data-tile="bundles">–</dd>
          </div>
          <div>
            <dt>Calls/s</dt>
            <dd data-tile="rate">–</dd>
          </div>
          <div>
            <dt>Error ratio</dt>
            <dd data-tile="errors">–</dd>
          </div>
          <div>
            <dt>p99 latency</dt>
            <dd data-tile="p99">–</dd>
          </div>
          <div>
            <dt>Uptime</dt>
            <dd data-tile="uptime">–</dd>
          </div>
        </dl>
        <div class="charts">${chart("chart-rate", "Calls per second")}${chart(
          "chart-errors",
          "Error ratio (%)",
        )}${chart("chart-p99", "p99 latency (ms)")}</div>
      `,
    ),
    panel(
      "bundles",
      "Bundles",
      table(
        "bundle-rows",
        ["Bundle", "State", "Active", "Traffic", "Instances", "Breaker", "Calls (errors)"],
        "Bundles, their versions, traffic and breakers",
        "Loading…",
      ),
    ),
    panel(
      "release",
      "Release a bundle",
      html`
        <form id="release-form" class="stack">
          <p class="hint">Upload a <code>.tar.gz</code> (or <code>.tar</code>) of a bundle folder, or give a
          folder path the engine can read.</p>
          <label for="release-file">Archive</label>
          <input id="release-file" name="file" type="file"
            accept=".tar,.tgz,.gz,application/gzip,application/x-tar">
          <label for="release-path">or folder path</label>
          <input id="release-path" name="path" type="text" autocomplete="off" spellcheck="false"
            placeholder="bundles/hello">
          <label
            class="check"><input id="release-activate" name="activate" type="checkbox" checked> Send traffic to it at once</label>
          <button type="submit">Release…</button>
        </form>
      `,
    ),
  );
}

function bundle(): Html {
  return page(
    panel(
      "summary",
      "Summary",
      html`<dl class="tiles" id="summary-tiles"></dl>
<div class="actions" id="lifecycle-actions">
  <button type="button" data-action="start">Start…</button>
  <button type="button" data-action="stop">Stop…</button>
  <button type="button" class="danger" data-action="delete">Delete…</button>
</div>
<div class="charts">${chart("chart-rate", "Calls per second")}${
        chart("chart-p99", "p99 latency (ms)")
      }</div>`,
    ),
    panel(
      "versions",
      "Versions and releases",
      table("version-rows", [
        "Version",
        "Released",
        "State",
        "Tier",
        "Restarts",
        "Calls (errors)",
        "Action",
      ]),
    ),
    panel(
      "traffic",
      "Traffic",
      html`<form id="traffic-form" class="stack">
  <p class="hint">Weights are relative shares per version; 0 takes a version out of rotation.</p>
  <div id="traffic-inputs" class="weights"></div>
  <button type="submit">Apply split…</button>
</form>`,
    ),
    panel(
      "canary",
      "Canary",
      html`<div id="canary-state" aria-live="polite"></div>
<form id="canary-form" class="stack">
  <label for="canary-version">Version to phase in</label>
  <select id="canary-version" name="version"></select>
  <label for="canary-steps">Steps (percent, increasing)</label>
  <input id="canary-steps" name="steps" type="text" value="10, 50, 100" inputmode="numeric">
  <label for="canary-step-ms">Time per step (ms)</label>
  <input id="canary-step-ms" name="stepMs" type="number" min="10" value="60000">
  <button type="submit">Start canary…</button>
</form>
<button type="button" id="canary-abort" hidden>Abort canary…</button>`,
    ),
    panel(
      "instances",
      "Instances",
      table("instance-rows", [
        "Instance",
        "Version",
        "Tier",
        "State",
        "PID",
        "Memory (RSS)",
        "In flight",
      ]),
    ),
    panel(
      "governance",
      "Breaker and throttling",
      html`<dl class="tiles" id="governance-tiles"></dl>`,
    ),
    panel("config", "Config names", html`<ul id="config-names" class="names"></ul>`),
    panel("secrets", "Secret names", html`<ul id="secret-names" class="names"></ul>`),
  );
}

function events(): Html {
  return page(
    panel(
      "event-stats",
      "Event bus",
      html`<dl class="tiles" id="event-tiles"></dl>`,
    ),
    panel(
      "topics",
      "Topics",
      table("topic-rows", ["Topic", "Subscriber", "Dead letters"]),
    ),
    panel(
      "dead-letters",
      "Dead letters",
      table("letter-rows", ["Id", "Topic", "Bundle", "Died", "Error", "Action"]),
    ),
    panel(
      "schedules",
      "Schedules",
      html`<ul id="schedule-list" class="names"></ul>`,
    ),
  );
}

function logs(): Html {
  return panel(
    "log-follow",
    "Follow a bundle's logs",
    html`
      <form id="logs-form" class="row">
        <label for="logs-bundle">Bundle</label>
        <select id="logs-bundle" name="bundle"></select>
        <label for="logs-level">Lowest level</label>
        <select id="logs-level" name="level">
          <option value="debug">debug</option>
          <option value="info" selected>info</option>
          <option value="warn">warn</option>
          <option value="error">error</option>
        </select>
        <button type="submit" id="logs-start">Follow</button>
        <button type="button" id="logs-stop" disabled>Stop</button>
      </form>
      <p id="logs-status" class="hint" aria-live="polite">Not following.</p>
      <ol id="log-lines" class="log" aria-label="Log records, newest last"></ol>
    `,
  );
}

/** Each page's panels. */
export const PAGE_BODIES: Record<ConsolePage, () => Html> = { overview, bundle, events, logs };
