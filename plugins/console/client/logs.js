// Logs: follows one bundle's records live over the admin API's event stream, read with fetch
// (an EventSource could not send the token as a header). At most MAX lines stay on the page.
import { api, describe, token } from "./api.js";
import { $, el, showAlert } from "./ui.js";

const MAX = 500;
let following;

function line(record) {
  const time = new Date(record.time ?? Date.now()).toLocaleTimeString();
  return el(
    "li",
    { class: `level-${record.level}` },
    `${time} ${String(record.level ?? "").padEnd(5)} ${record.version ? `${record.version} ` : ""}${
      record.message ?? ""
    }`,
  );
}

function append(node) {
  const list = $("#log-lines");
  const atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.append(node);
  while (list.childElementCount > MAX) list.firstElementChild.remove();
  if (atEnd) list.scrollTop = list.scrollHeight;
}

function handle(event, data) {
  if (event === "log") append(line(JSON.parse(data)));
  else if (event === "dropped") {
    append(el("li", { class: "level-warn" }, `${JSON.parse(data).dropped} records dropped`));
  } else if (event === "end") {
    $("#logs-status").textContent = `Stream ended: ${JSON.parse(data).reason}`;
  }
}

async function follow(bundle, level) {
  following?.abort();
  const controller = new AbortController();
  following = controller;
  $("#log-lines").replaceChildren();
  $("#logs-stop").disabled = false;
  $("#logs-status").textContent = `Following ${bundle}…`;
  try {
    const response = await fetch(
      `/admin/bundles/${bundle}/logs?follow=1&limit=100&level=${level}`,
      {
        headers: { authorization: `Bearer ${token() ?? ""}` },
        signal: controller.signal,
        cache: "no-store",
        credentials: "omit",
      },
    );
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new Error(`${response.status}: ${body?.error?.message ?? response.statusText}`);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const chunk = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data = [];
        for (const text of chunk.split("\n")) {
          if (text.startsWith("event: ")) event = text.slice(7);
          else if (text.startsWith("data: ")) data.push(text.slice(6));
        }
        if (data.length) handle(event, data.join("\n"));
      }
    }
  } catch (error) {
    if (error?.name !== "AbortError") showAlert(`Following the logs failed: ${describe(error)}`);
  } finally {
    if (following === controller) {
      $("#logs-stop").disabled = true;
      if (!controller.signal.aborted && $("#logs-status").textContent.startsWith("Following")) {
        $("#logs-status").textContent = "The stream ended.";
      }
    }
  }
}

/** Starts the page; returns its stop function. */
export function start() {
  api("/admin/bundles").then((bundles) => {
    const wanted = new URLSearchParams(location.search).get("bundle");
    $("#logs-bundle").replaceChildren(
      ...bundles.map((b) => el("option", { value: b.id, selected: b.id === wanted }, b.id)),
    );
  }).catch((error) => showAlert(describe(error)));
  $("#logs-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const bundle = $("#logs-bundle").value;
    if (!bundle) return showAlert("There is no bundle to follow.");
    follow(bundle, $("#logs-level").value);
  });
  $("#logs-stop").addEventListener("click", () => {
    following?.abort();
    $("#logs-stop").disabled = true;
    $("#logs-status").textContent = "Stopped.";
  });
  return () => following?.abort();
}
