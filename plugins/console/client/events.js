// Events: the bus's counts, topics seen in dead letters, dead letters with replay and delete,
// and the armed schedules.
import { api, describe } from "./api.js";
import {
  $,
  bytes,
  clearAlert,
  confirmAction,
  el,
  emptyRow,
  poll,
  say,
  showAlert,
  tile,
  update,
  when,
} from "./ui.js";

async function act(question, okLabel, request, done, again) {
  clearAlert();
  if (!(await confirmAction(question, okLabel))) return;
  try {
    await request();
    say(done);
  } catch (error) {
    showAlert(`${okLabel} failed: ${describe(error)}`);
  }
  await again();
}

function letterRow(letter, again) {
  const replay = el("button", {
    type: "button",
    "data-key": `replay-${letter.id}`,
    onclick: () =>
      act(
        `Replay dead letter ${letter.id} (${letter.topic ?? letter.key}) to ${letter.bundle}?`,
        "Replay",
        () => api(`/admin/events/dead-letters/${letter.id}/replay`, { method: "POST" }),
        `Replayed ${letter.id}`,
        again,
      ),
  }, "Replay…");
  const drop = el("button", {
    type: "button",
    "data-key": `delete-${letter.id}`,
    class: "danger",
    onclick: () =>
      act(
        `Delete dead letter ${letter.id}? Its event will not be delivered.`,
        "Delete",
        () => api(`/admin/events/dead-letters/${letter.id}`, { method: "DELETE" }),
        `Deleted ${letter.id}`,
        again,
      ),
  }, "Delete…");
  return el(
    "tr",
    { "data-letter": letter.id },
    el("td", {}, letter.id),
    el("td", {}, letter.topic ?? letter.key ?? "–"),
    el("td", {}, `${letter.bundle} (${letter.handler})`),
    el("td", {}, when(letter.deadAt)),
    el("td", { class: "wrap" }, letter.error ?? "–"),
    el("td", {}, el("div", { class: "actions" }, replay, drop)),
  );
}

async function refresh(signal, again) {
  const [stats, letters] = await Promise.all([
    api("/admin/events/stats", { signal }),
    api("/admin/events/dead-letters?limit=200", { signal }),
  ]);
  update($("#event-tiles"), stats, () => [
    tile("Pending", String(stats.pending), { "data-field": "pending" }),
    tile("In flight", String(stats.inFlight)),
    tile("Dead letters", String(stats.deadLetters), { "data-field": "dead-letters" }),
    tile("Delivered", String(stats.delivered)),
    tile("Retried", String(stats.retried)),
    tile("Store", `${bytes(stats.storeBytes)} of ${bytes(stats.maxStoreBytes)}`),
  ]);
  const topics = new Map();
  for (const letter of letters) {
    const key = `${letter.topic ?? letter.key}\u0000${letter.bundle} (${letter.handler})`;
    topics.set(key, (topics.get(key) ?? 0) + 1);
  }
  const topicRows = [...topics].map(([key, count]) => {
    const [topic, subscriber] = key.split("\u0000");
    return el("tr", {}, el("td", {}, topic), el("td", {}, subscriber), el("td", {}, String(count)));
  });
  update(
    $("#topic-rows"),
    [...topics],
    () => topicRows.length ? topicRows : [emptyRow(3, "No topic has dead letters")],
  );
  update($("#letter-rows"), letters, () => {
    const rows = letters.map((l) => letterRow(l, again));
    return rows.length ? rows : [emptyRow(6, "No dead letters")];
  });
  update($("#schedule-list"), stats.schedules ?? [], () => {
    const schedules = (stats.schedules ?? []).map((s) => el("li", {}, `${s.key} → ${s.handler}`));
    return schedules.length ? schedules : [el("li", { class: "muted" }, "none armed")];
  });
}

/** Starts the page; returns its stop function. */
export function start({ refreshMs }) {
  const again = () => refresh(undefined, again).catch((error) => showAlert(describe(error)));
  return poll((signal) => refresh(signal, again), refreshMs, (error) => showAlert(describe(error)));
}
