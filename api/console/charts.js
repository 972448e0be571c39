// Charts drawn by hand as inline SVG: horizontal bars (one value or stacked
// parts per row) and the case timeline strip. Colours come from classes in
// console.css, so the print stylesheet and the CSP (no inline styles) hold.
// Each chart carries its numbers as a table in a <details> beside it, for
// screen readers and for copying.

import { h, s, chinaDay } from "./dom.js";
import { t } from "./i18n.js";

const ROW = 22;
const LABEL_W = 190;
const BAR_W = 420;
const VALUE_W = 90;

function dataTable(head, rows) {
  return h(
    "details",
    { class: "chart-data" },
    h("summary", null, t("table")),
    h("table", null, h("thead", null, h("tr", null, head.map((c) => h("th", null, c)))),
      h("tbody", null, rows.map((r) => h("tr", null, r.map((c) => h("td", null, c)))))),
  );
}

/**
 * Horizontal bars. `rows`: [{label, value, cls?, href?}]; `format(v)` the
 * value's text; `max` the full scale (default: the largest value).
 */
export function hbars(title, rows, { format = String, max } = {}) {
  const top = max ?? Math.max(1, ...rows.map((r) => r.value));
  const height = rows.length * ROW + 4;
  const svg = s(
    "svg",
    { class: "chart", viewBox: `0 0 ${LABEL_W + BAR_W + VALUE_W} ${height}`, role: "img", "aria-label": title },
    rows.map((r, i) => {
      const y = i * ROW + 2;
      const w = top > 0 ? Math.max(0, (r.value / top) * BAR_W) : 0;
      const label = s("text", { x: LABEL_W - 6, y: y + ROW * 0.68, class: "chart-label", "text-anchor": "end" }, r.label);
      return s(
        "g",
        null,
        r.href ? s("a", { href: r.href }, label) : label,
        s("rect", { x: LABEL_W, y: y + 3, width: w.toFixed(1), height: ROW - 6, class: `bar ${r.cls ?? ""}` },
          s("title", null, `${r.label}: ${format(r.value)}`)),
        s("text", { x: LABEL_W + w + 4, y: y + ROW * 0.68, class: "chart-value" }, format(r.value)),
      );
    }),
  );
  return h("figure", { class: "chart-box" }, h("figcaption", null, title), svg,
    dataTable([t("label"), t("count")], rows.map((r) => [r.label, format(r.value)])));
}

/**
 * Stacked horizontal bars. `rows`: [{label, parts: {key: value}}]; `keys`:
 * [{key, label}] in stacking order, each drawn with class `part-<i>`.
 */
export function stackedBars(title, rows, keys) {
  const totals = rows.map((r) => keys.reduce((n, k) => n + (r.parts[k.key] ?? 0), 0));
  const top = Math.max(1, ...totals);
  const legendH = Math.ceil(keys.length / 3) * 18 + 6;
  const height = rows.length * ROW + 4 + legendH;
  const svg = s(
    "svg",
    { class: "chart", viewBox: `0 0 ${LABEL_W + BAR_W + VALUE_W} ${height}`, role: "img", "aria-label": title },
    keys.map((k, i) =>
      s("g", null,
        s("rect", { x: LABEL_W + (i % 3) * 150, y: Math.floor(i / 3) * 18 + 2, width: 12, height: 12, class: `bar part-${i}` }),
        s("text", { x: LABEL_W + (i % 3) * 150 + 16, y: Math.floor(i / 3) * 18 + 12, class: "chart-legend" }, k.label)),
    ),
    rows.map((r, i) => {
      const y = legendH + i * ROW + 2;
      let x = LABEL_W;
      return s(
        "g",
        null,
        s("text", { x: LABEL_W - 6, y: y + ROW * 0.68, class: "chart-label", "text-anchor": "end" }, r.label),
        keys.map((k, j) => {
          const v = r.parts[k.key] ?? 0;
          const w = (v / top) * BAR_W;
          const rect = s("rect", { x: x.toFixed(1), y: y + 3, width: w.toFixed(1), height: ROW - 6, class: `bar part-${j}` },
            s("title", null, `${r.label} · ${k.label}: ${v}`));
          x += w;
          return v ? rect : null;
        }),
        s("text", { x: x + 4, y: y + ROW * 0.68, class: "chart-value" }, String(totals[i])),
      );
    }),
  );
  return h("figure", { class: "chart-box" }, h("figcaption", null, title), svg,
    dataTable([t("label"), ...keys.map((k) => k.label)], rows.map((r) => [r.label, ...keys.map((k) => String(r.parts[k.key] ?? 0))])));
}

/**
 * The case timeline strip: steps at their occurred times (dots; a hollow
 * mark at the recorded time, joined when recorded late), stopped-clock
 * periods shaded, the deadline and the as-of moment as vertical lines.
 * `steps`: [{occurred, recorded, label, cls}] (ms); `stopped`: [{from, to}]
 * (ms); `deadline`, `asOf` ms or null.
 */
export function timelineStrip(title, { steps, stopped, deadline, asOf }) {
  const W = 900;
  const H = 120;
  const left = 40;
  const right = W - 40;
  const times = [...steps.flatMap((p) => [p.occurred, p.recorded]), ...stopped.flatMap((p) => [p.from, p.to]), deadline, asOf]
    .filter((x) => Number.isFinite(x));
  let lo = Math.min(...times);
  let hi = Math.max(...times);
  if (!(hi > lo)) hi = lo + 86400e3;
  const pad = (hi - lo) * 0.02;
  lo -= pad;
  hi += pad;
  const x = (ms) => left + ((ms - lo) / (hi - lo)) * (right - left);
  const axisY = 70;
  const ticks = [];
  for (let i = 0; i <= 5; i++) {
    const ms = lo + ((hi - lo) * i) / 5;
    ticks.push(s("g", null,
      s("line", { x1: x(ms), x2: x(ms), y1: axisY, y2: axisY + 5, class: "axis" }),
      s("text", { x: x(ms), y: axisY + 18, class: "chart-tick", "text-anchor": "middle" }, chinaDay(new Date(ms).toISOString()))));
  }
  const svg = s(
    "svg",
    { class: "chart timeline-strip", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title },
    stopped.map((p) =>
      s("rect", { x: x(p.from), y: 10, width: Math.max(2, x(Number.isFinite(p.to) ? p.to : hi) - x(p.from)), height: axisY - 10, class: "stopped" },
        s("title", null, t("stopped")))),
    s("line", { x1: left, x2: right, y1: axisY, y2: axisY, class: "axis" }),
    ticks,
    Number.isFinite(deadline)
      ? s("g", { class: "deadline" },
          s("line", { x1: x(deadline), x2: x(deadline), y1: 4, y2: axisY + 4 }),
          s("text", { x: x(deadline) + 3, y: 14, class: "chart-tick" }, t("deadline_line")))
      : null,
    Number.isFinite(asOf)
      ? s("g", { class: "as-of" },
          s("line", { x1: x(asOf), x2: x(asOf), y1: 4, y2: axisY + 4 }),
          s("text", { x: x(asOf) - 3, y: 14, class: "chart-tick", "text-anchor": "end" }, t("as_of")))
      : null,
    steps.map((p, i) => {
      const y = 26 + (i % 4) * 10;
      return s("g", { class: `step-mark ${p.cls ?? ""}` },
        Math.abs(x(p.recorded) - x(p.occurred)) > 3
          ? s("line", { x1: x(p.occurred), x2: x(p.recorded), y1: y, y2: y, class: "late" })
          : null,
        s("circle", { cx: x(p.recorded), cy: y, r: 3, class: "recorded" }),
        s("circle", { cx: x(p.occurred), cy: y, r: 4.5, class: "occurred" }, s("title", null, p.label)));
    }),
  );
  return h("figure", { class: "chart-box" }, h("figcaption", null, title), svg);
}
