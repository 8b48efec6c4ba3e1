// Overview: engine tiles, live charts, the bundle table and the release form.
import { api, describe } from "./api.js";
import { drawLine, seriesOf } from "./charts.js";
import {
  $,
  clearAlert,
  confirmAction,
  el,
  emptyRow,
  ms,
  percent,
  poll,
  say,
  showAlert,
  stateText,
  update,
  uptime,
} from "./ui.js";

function trafficText(view) {
  if (!view.weights) return view.active ? `${view.active}: 100 %` : "–";
  const total = Object.values(view.weights).reduce((a, b) => a + b, 0) || 1;
  return Object.entries(view.weights)
    .map(([version, weight]) => `${version}: ${Math.round((100 * weight) / total)} %`)
    .join(", ");
}

function bundleRow(view) {
  const instances = view.revisions.reduce((n, r) => n + r.instances.length, 0);
  const calls = view.revisions.reduce((n, r) => n + r.calls.total, 0);
  const errors = view.revisions.reduce((n, r) => n + r.calls.errors, 0);
  const breaker = view.governance?.breaker?.state;
  return el(
    "tr",
    { "data-bundle": view.id },
    el(
      "td",
      {},
      el("a", { href: `/console/bundles/${view.id}`, "data-key": `open-${view.id}` }, view.id),
    ),
    el("td", { "data-field": "state" }, stateText(view.state)),
    el("td", { "data-field": "active" }, view.active ?? "–"),
    el("td", { "data-field": "traffic" }, trafficText(view)),
    el("td", {}, String(instances)),
    el("td", { "data-field": "breaker" }, breaker ? stateText(breaker) : "none"),
    el("td", {}, `${calls} (${errors})`),
  );
}

/** Rates over the samples of about the last ten seconds. */
function lastRates(history) {
  const recent = history.samples.slice(-Math.max(1, Math.round(10_000 / history.intervalMs)));
  if (recent.length === 0) return { rate: "–", errors: "–", p99: "–" };
  const calls = recent.reduce((n, s) => n + s.calls, 0);
  const errors = recent.reduce((n, s) => n + s.errors, 0);
  const p99s = recent.map((s) => s.p99Ms).filter((v) => typeof v === "number");
  return {
    rate: (calls / ((recent.length * history.intervalMs) / 1000)).toFixed(1),
    errors: calls === 0 ? "–" : percent(errors / calls),
    p99: p99s.length ? ms(Math.max(...p99s)) : "–",
  };
}

async function refresh(signal) {
  const [status, bundles, history] = await Promise.all([
    api("/admin/status", { signal }),
    api("/admin/bundles", { signal }),
    api("/admin/metrics/history?bundles=0", { signal }),
  ]);
  const rates = lastRates(history);
  $('[data-tile="bundles"]').textContent = String(bundles.length);
  $('[data-tile="rate"]').textContent = rates.rate;
  $('[data-tile="errors"]').textContent = rates.errors;
  $('[data-tile="p99"]').textContent = rates.p99;
  $('[data-tile="uptime"]').textContent = uptime(status.uptimeMs);
  const series = seriesOf(history);
  drawLine($("#chart-rate"), series.rate, "Calls per second", (v) => v.toFixed(1));
  drawLine($("#chart-errors"), series.errors, "Error ratio", (v) => `${v.toFixed(1)} %`);
  drawLine($("#chart-p99"), series.p99, "p99 latency", (v) => `${v} ms`);
  const shown = bundles.map((b) => ({
    id: b.id,
    state: b.state,
    active: b.active,
    weights: b.weights,
    governance: b.governance?.breaker?.state,
    revisions: b.revisions.map((r) => [r.instances.length, r.calls]),
  }));
  update($("#bundle-rows"), shown, () => {
    const rows = bundles.map(bundleRow);
    return rows.length ? rows : [emptyRow(7, "No bundles yet: release one below.")];
  });
}

async function release(event, again) {
  event.preventDefault();
  clearAlert();
  const file = $("#release-file").files?.[0];
  const path = $("#release-path").value.trim();
  const activate = $("#release-activate").checked;
  if (!file && path === "") return showAlert("Choose an archive or give a folder path to release.");
  if (file && path !== "") return showAlert("Give an archive or a folder path, not both.");
  const what = file ? `the archive ${file.name}` : `the folder ${path}`;
  const ok = await confirmAction(
    `Release ${what}${activate ? " and send traffic to it" : " without moving traffic"}?`,
    "Release",
  );
  if (!ok) return;
  const query = activate ? "" : "?activate=false";
  try {
    const result = file
      ? await api(`/admin/releases${query}`, {
        method: "POST",
        body: await file.arrayBuffer(),
        type: file.name.endsWith(".tar") ? "application/x-tar" : "application/gzip",
      })
      : await api(`/admin/releases${query}`, { method: "POST", body: { path } });
    say(`Released ${result.id}@${result.version} (${result.state})`);
    $("#release-form").reset();
    await again();
  } catch (error) {
    showAlert(`Release failed: ${describe(error)}`);
  }
}

/** Starts the page; returns its stop function. */
export function start({ refreshMs }) {
  const stop = poll(refresh, refreshMs, (error) => showAlert(describe(error)));
  $("#release-form").addEventListener("submit", (event) => release(event, () => refresh()));
  return stop;
}
