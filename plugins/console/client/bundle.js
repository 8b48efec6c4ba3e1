// A bundle: summary and lifecycle actions, versions with rollback, traffic split, canary,
// instances, breaker and throttling, config and secret names, and its own live charts.
import { api, ApiError, describe } from "./api.js";
import { drawLine, seriesOf } from "./charts.js";
import {
  $,
  bytes,
  clearAlert,
  confirmAction,
  el,
  emptyRow,
  poll,
  row,
  say,
  showAlert,
  stateText,
  tile,
  update,
  when,
} from "./ui.js";

let trafficDirty = false;
let trafficVersions = "";

async function act(question, okLabel, request, done) {
  clearAlert();
  if (!(await confirmAction(question, okLabel))) return false;
  try {
    await request();
    say(done);
    return true;
  } catch (error) {
    showAlert(`${okLabel} failed: ${describe(error)}`);
    return false;
  }
}

function summary(view) {
  const breaker = view.governance?.breaker?.state;
  const shown = [view.state, view.active, view.desired, breaker, view.logsDropped];
  update($("#summary-tiles"), shown, () => [
    tile("State", stateText(view.state), { "data-field": "state" }),
    tile("Active version", view.active ?? "–", { "data-field": "active" }),
    tile("Desired", view.desired ?? "–"),
    tile("Breaker", breaker ? stateText(breaker) : "none", { "data-field": "breaker" }),
    tile("Logs dropped", String(view.logsDropped ?? 0)),
  ]);
}

function versions(id, view, again) {
  const shown = [
    view.active,
    view.releases.map((r) => r.version),
    view.revisions.map((r) => [r.version, r.state, r.isolation, r.restarts, r.calls]),
  ];
  update($("#version-rows"), shown, () => versionRows(id, view, again));
}

function versionRows(id, view, again) {
  const revisions = new Map(view.revisions.map((r) => [r.version, r]));
  const rows = [...view.releases].reverse().map((release) => {
    const revision = revisions.get(release.version);
    const active = release.version === view.active;
    const action = active ? el("span", { class: "muted" }, "active") : el("button", {
      type: "button",
      "data-key": `rollback-${release.version}`,
      onclick: () =>
        act(
          `Roll ${id} back to ${release.version}? Traffic moves to it at once.`,
          "Roll back",
          () =>
            api(`/admin/bundles/${id}/rollback`, {
              method: "POST",
              body: { version: release.version },
            }),
          `Rolled ${id} back to ${release.version}`,
        ).then(again),
    }, `Roll back to ${release.version}…`);
    return el(
      "tr",
      { "data-version": release.version },
      el("td", {}, release.version),
      el("td", {}, when(release.releasedAt)),
      el("td", {}, revision ? stateText(revision.state) : "not installed"),
      el("td", {}, revision?.isolation ?? "–"),
      el("td", {}, revision ? String(revision.restarts) : "–"),
      el("td", {}, revision ? `${revision.calls.total} (${revision.calls.errors})` : "–"),
      el("td", {}, action),
    );
  });
  return rows.length ? rows : [emptyRow(7, "No releases")];
}

function traffic(view) {
  const names = view.releases.map((r) => r.version);
  const key = names.join(",") + "|" + JSON.stringify(view.weights ?? view.active);
  if (trafficDirty || key === trafficVersions) return;
  trafficVersions = key;
  const inputs = names.flatMap((version, i) => {
    const weight = view.weights ? (view.weights[version] ?? 0) : version === view.active ? 100 : 0;
    return [
      el("label", { for: `weight-${i}` }, `Version ${version}`),
      el("input", {
        id: `weight-${i}`,
        name: version,
        type: "number",
        min: 0,
        max: 100,
        step: 1,
        value: weight,
        "data-version": version,
        oninput: () => (trafficDirty = true),
      }),
    ];
  });
  $("#traffic-inputs").replaceChildren(...inputs);
}

function canary(id, view, again) {
  const state = view.canary;
  const box = $("#canary-state");
  const abort = $("#canary-abort");
  if (!state) {
    update(box, null, () => [el("p", { class: "muted" }, "No phased release yet.")]);
    abort.hidden = true;
  } else {
    const live = state.live;
    update(box, [state.status, state.step, state.weight, live?.weight, state.reason], () => [
      el(
        "dl",
        { class: "tiles" },
        tile("Canary", `${state.from} → ${state.version}`),
        tile("Status", stateText(state.status), { "data-field": "canary-status" }),
        tile("New version's weight", `${live?.weight ?? state.weight} %`),
        tile("Step", `${state.step + 1} of ${state.steps?.length ?? "?"}`),
        ...(state.reason ? [tile("Reason", state.reason)] : []),
      ),
      el("progress", {
        max: 100,
        value: live?.weight ?? state.weight,
        "aria-label": "Canary progress, percent of traffic",
      }),
    ]);
    abort.hidden = state.status !== "running";
    abort.onclick = () =>
      act(
        `Abort the canary of ${id} and send all traffic back to ${state.from}?`,
        "Abort canary",
        () =>
          api(`/admin/bundles/${id}/rollback`, { method: "POST", body: { version: state.from } }),
        `Canary aborted: ${id} serves ${state.from}`,
      ).then(again);
  }
  const select = $("#canary-version");
  const options = view.releases.map((r) => r.version).filter((v) => v !== view.active);
  if (select.dataset.options !== options.join(",")) {
    select.dataset.options = options.join(",");
    select.replaceChildren(...options.map((v) => el("option", { value: v }, v)));
  }
}

function instances(view) {
  const rows = view.revisions.flatMap((r) =>
    r.instances.map((i) =>
      row(
        i.id,
        r.version,
        i.tier,
        stateText(i.state),
        i.pid ?? "–",
        bytes(i.memory?.rss),
        String(i.inflight),
      )
    )
  );
  update(
    $("#instance-rows"),
    view.revisions.map((r) => r.instances),
    () => rows.length ? rows : [emptyRow(7, "No instances running")],
  );
}

function governance(view) {
  const g = view.governance ?? {};
  const tiles = [];
  if (g.breaker) {
    tiles.push(
      tile("Breaker", stateText(g.breaker.state), { "data-field": "breaker-state" }),
      tile("Window calls", String(g.breaker.window.total)),
      tile("Window errors", String(g.breaker.window.errors)),
      tile("Window slow", String(g.breaker.window.slow)),
    );
  }
  if (g.concurrency) {
    tiles.push(tile("Concurrency", `${g.concurrency.active} of ${g.concurrency.max}`));
  }
  if (g.qps !== undefined) tiles.push(tile("QPS limit", String(g.qps)));
  if (tiles.length === 0) tiles.push(tile("Governance", "no breaker or limits"));
  update($("#governance-tiles"), g, () => tiles);
}

/** Names only: the keys of a config object, or the `name` of each secret listed. */
function namesOf(reply) {
  if (Array.isArray(reply)) {
    return reply.map((e) => (typeof e === "string" ? e : e?.name)).filter((n) =>
      typeof n === "string"
    );
  }
  return reply && typeof reply === "object" ? Object.keys(reply) : [];
}

async function names(id, kind, signal) {
  const section = $(`#${kind}`);
  try {
    const reply = await api(`/admin/bundles/${id}/${kind}`, { signal });
    const list = namesOf(reply);
    section.hidden = false;
    $(kind === "config" ? "#config-names" : "#secret-names").replaceChildren(
      ...(list.length ? list.map((n) => el("li", {}, n)) : [el("li", { class: "muted" }, "none")]),
    );
  } catch (error) {
    // An engine without the config or secrets API answers 404: the panel stays hidden.
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
      section.hidden = true;
      return;
    }
    throw error;
  } finally {
    // Marks the panel as decided (shown or hidden), for whoever waits on it.
    section.dataset.checked = "true";
  }
}

/** Starts the page; returns its stop function. */
export function start({ bundle: id, refreshMs }) {
  $("#config").hidden = true;
  $("#secrets").hidden = true;
  let again = () => {};
  const refresh = async (signal) => {
    const [view, history] = await Promise.all([
      api(`/admin/bundles/${id}`, { signal }),
      api(`/admin/metrics/history?bundle=${id}`, { signal }),
    ]);
    summary(view);
    versions(id, view, again);
    traffic(view);
    canary(id, view, again);
    instances(view);
    governance(view);
    const series = seriesOf(history);
    drawLine($("#chart-rate"), series.rate, "Calls per second", (v) => v.toFixed(1));
    drawLine($("#chart-p99"), series.p99, "p99 latency", (v) => `${v} ms`);
  };
  again = () => refresh().catch((error) => showAlert(describe(error)));
  const stop = poll(refresh, refreshMs, (error) => {
    showAlert(
      error instanceof ApiError && error.status === 404
        ? `No bundle "${id}" (it may have been deleted)`
        : describe(error),
    );
  });
  Promise.all([names(id, "config"), names(id, "secrets")]).catch((error) =>
    showAlert(describe(error))
  );

  for (const button of document.querySelectorAll("#lifecycle-actions button")) {
    const action = button.dataset.action;
    button.addEventListener("click", () => {
      if (action === "delete") {
        return act(
          `Delete ${id} with every released version? This cannot be undone.`,
          "Delete",
          () => api(`/admin/bundles/${id}`, { method: "DELETE" }),
          `Deleted ${id}`,
        ).then((deleted) => deleted && location.assign("/console"));
      }
      return act(
        `${action === "stop" ? "Stop" : "Start"} ${id}?${
          action === "stop" ? " Calls in flight finish first." : ""
        }`,
        action === "stop" ? "Stop" : "Start",
        () => api(`/admin/bundles/${id}/${action}`, { method: "POST" }),
        `${action === "stop" ? "Stopped" : "Started"} ${id}`,
      ).then(again);
    });
  }

  $("#traffic-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const weights = {};
    for (const input of document.querySelectorAll("#traffic-inputs input")) {
      weights[input.dataset.version] = Number(input.value);
    }
    const text = Object.entries(weights).map(([v, w]) => `${v}: ${w}`).join(", ");
    act(
      `Split the traffic of ${id} as ${text}?`,
      "Apply split",
      () => api(`/admin/bundles/${id}/traffic`, { method: "PUT", body: { weights } }),
      `Traffic of ${id}: ${text}`,
    )
      .then(() => {
        trafficDirty = false;
        trafficVersions = "";
        return again();
      });
  });

  $("#canary-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const version = $("#canary-version").value;
    const steps = $("#canary-steps").value.split(",").map((s) => Number(s.trim()));
    const stepMs = Number($("#canary-step-ms").value);
    if (!version) return showAlert("There is no other released version to phase in.");
    act(
      `Start a canary of ${id}@${version} in steps of ${steps.join(", ")} %?`,
      "Start canary",
      () =>
        api(`/admin/bundles/${id}/canary`, { method: "POST", body: { version, steps, stepMs } }),
      `Canary of ${id}@${version} started`,
    ).then(again);
  });
  return stop;
}
