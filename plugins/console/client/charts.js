// Live line charts drawn as inline SVG by hand: no chart library, no style attributes (the
// console's CSP forbids inline styles; colours come from the style sheet's classes).
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 320;
const HEIGHT = 120;
const PAD = { left: 36, right: 6, top: 8, bottom: 16 };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

function label(value) {
  if (value >= 1000) return `${(value / 1000).toFixed(value >= 10_000 ? 0 : 1)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 1 ? 2 : 1);
}

/**
 * Draws a series into a chart figure's body.
 *
 * @param figure The `figure.chart` element.
 * @param points `[time, value]` pairs, oldest first; a null value is a gap.
 * @param caption What the values are, for the accessible name.
 * @param format Formats a value for the accessible name.
 */
export function drawLine(figure, points, caption, format = label) {
  const body = figure.querySelector(".chart-body");
  const values = points.map(([, v]) => v).filter((v) => typeof v === "number");
  const max = niceMax(Math.max(0, ...values));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const root = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    "aria-hidden": "true",
    focusable: "false",
  });
  for (const fraction of [0, 0.5, 1]) {
    const y = PAD.top + plotH * (1 - fraction);
    root.append(svg("line", { class: "grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y }));
    root.append(
      svg("text", { x: PAD.left - 4, y: y + 3, "text-anchor": "end" }, label(max * fraction)),
    );
  }
  if (points.length > 1) {
    const t0 = points[0][0];
    const span = Math.max(1, points.at(-1)[0] - t0);
    const x = (t) => PAD.left + ((t - t0) / span) * plotW;
    const y = (v) => PAD.top + plotH * (1 - v / max);
    let path = "";
    let pen = false;
    for (const [t, v] of points) {
      if (typeof v !== "number") {
        pen = false;
        continue;
      }
      path += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    if (path !== "") root.append(svg("path", { class: "line", d: path }));
    // A value between two gaps draws no line: mark it with a dot.
    points.forEach(([t, v], i) => {
      const alone = typeof points[i - 1]?.[1] !== "number" &&
        typeof points[i + 1]?.[1] !== "number";
      if (typeof v === "number" && alone) {
        root.append(
          svg("circle", { class: "dot", cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: 2.5 }),
        );
      }
    });
    const minutes = Math.round(span / 60_000);
    root.append(
      svg(
        "text",
        { x: PAD.left, y: HEIGHT - 3 },
        minutes >= 1 ? `−${minutes} min` : `−${Math.round(span / 1000)} s`,
      ),
    );
    root.append(svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 3, "text-anchor": "end" }, "now"));
  }
  const last = [...points].reverse().find(([, v]) => typeof v === "number");
  body.setAttribute(
    "aria-label",
    last === undefined
      ? `${caption}: no samples yet`
      : `${caption}: now ${format(last[1])}, highest ${
        format(Math.max(...values))
      } over ${points.length} samples`,
  );
  body.replaceChildren(root);
}

/**
 * Turns the admin API's history into chart series.
 *
 * @param history `{ intervalMs, samples }` from `GET /admin/metrics/history`.
 * @returns Calls per second, error ratio in percent and p99 in ms, as `[time, value]` series.
 */
export function seriesOf(history) {
  const seconds = history.intervalMs / 1000;
  const rate = [];
  const errors = [];
  const p99 = [];
  for (const s of history.samples) {
    rate.push([s.time, s.calls / seconds]);
    errors.push([s.time, s.calls === 0 ? null : (100 * s.errors) / s.calls]);
    p99.push([s.time, s.p99Ms]);
  }
  return { rate, errors, p99 };
}
