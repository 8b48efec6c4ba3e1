// Small DOM helpers: building elements, the confirmation dialog, the status and alert regions,
// number formats and a polling loop that stops when asked.

/** The element matching a selector. */
export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** Builds an element: attributes (`on*` functions become listeners) and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A table row of cells (strings or nodes). */
export function row(...cells) {
  return el("tr", {}, ...cells.map((cell) => el("td", {}, cell)));
}

/** A row saying there is nothing, across `columns`. */
export function emptyRow(columns, text) {
  return el("tr", {}, el("td", { colspan: columns, class: "muted" }, text));
}

/** A term and its value, for a tiles list. */
export function tile(term, value, attrs = {}) {
  return el("div", {}, el("dt", {}, term), el("dd", attrs, value));
}

/** Says something in the status region (announced politely). */
export function say(text) {
  $("#status").textContent = text;
}

/** Shows an error in the alert region (announced at once). */
export function showAlert(text) {
  const alert = $("#alert");
  alert.textContent = text;
  alert.hidden = false;
}

/** Hides the alert region. */
export function clearAlert() {
  const alert = $("#alert");
  alert.textContent = "";
  alert.hidden = true;
}

/** Asks the operator to confirm an action; resolves true on Confirm. */
export function confirmAction(text, okLabel = "Confirm") {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("button[value=cancel]", dialog).focus();
  });
}

/** Bytes in binary units. */
export function bytes(n) {
  if (typeof n !== "number") return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** A duration in ms, short. */
export function ms(n) {
  if (typeof n !== "number") return "–";
  if (n < 10) return `${n.toFixed(2)} ms`;
  if (n < 1000) return `${Math.round(n)} ms`;
  return `${(n / 1000).toFixed(1)} s`;
}

/** A ratio as a percentage. */
export function percent(ratio) {
  return typeof ratio === "number" && Number.isFinite(ratio)
    ? `${(ratio * 100).toFixed(1)} %`
    : "–";
}

/** An uptime. */
export function uptime(msValue) {
  const s = Math.floor(msValue / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** A time, local. */
export function when(value) {
  if (value === undefined || value === null) return "–";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/**
 * Runs `fn` now and again `everyMs` after each run ends, until the returned function is called.
 * `fn` gets an AbortSignal that aborts on stop.
 */
export function poll(fn, everyMs, onError = (error) => showAlert(String(error))) {
  const controller = new AbortController();
  let timer;
  const run = async () => {
    try {
      await fn(controller.signal);
    } catch (error) {
      if (!controller.signal.aborted && error?.name !== "AbortError") onError(error);
    } finally {
      if (!controller.signal.aborted) timer = setTimeout(run, everyMs);
    }
  };
  run();
  return () => {
    controller.abort();
    clearTimeout(timer);
  };
}

/** A state word with its class, for colour (never colour alone: the word is the state). */
export function stateText(state) {
  return el("span", { class: `state-${state}` }, state ?? "–");
}

const drawn = new WeakMap();

/** Whether two nodes are the same element (tag and attributes) or both text. */
function sameShell(a, b) {
  if (a.nodeType !== b.nodeType || a.nodeName !== b.nodeName) return false;
  if (a.nodeType !== Node.ELEMENT_NODE) return true;
  if (a.attributes.length !== b.attributes.length) return false;
  for (const { name, value } of b.attributes) {
    if (a.getAttribute(name) !== value) return false;
  }
  return true;
}

/**
 * Makes `parent`'s children look like `next`, keeping every element whose tag and attributes
 * did not change (with its listeners, focus and pointer) and only rewriting the text that did.
 */
function morph(parent, next) {
  const old = [...parent.childNodes];
  next.forEach((node, i) => {
    const current = old[i];
    if (!current) parent.append(node);
    else if (!sameShell(current, node)) current.replaceWith(node);
    else if (current.nodeType === Node.TEXT_NODE) {
      if (current.data !== node.data) current.data = node.data;
    } else morph(current, [...node.childNodes]);
  });
  for (const extra of old.slice(next.length)) extra.remove();
}

/**
 * Redraws `container` with `build()` when `data` differs from what it last drew. Elements that
 * stay the same (a row of the same bundle, its buttons) are kept and only their changed text is
 * rewritten, so a poll never pulls a button from under the operator's pointer or focus.
 */
export function update(container, data, build) {
  const key = JSON.stringify(data);
  if (drawn.get(container) === key) return;
  drawn.set(container, key);
  morph(container, build());
}
