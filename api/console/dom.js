// DOM and time helpers. Text always goes in as text nodes (never HTML), so
// nothing the API answers can become markup or script.

import { t } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  return el;
}

/** An HTML element: `h("a", {href: "#"}, "text", child…)`. */
export function h(tag, attrs, ...children) {
  return append(setAttrs(document.createElement(tag), attrs), children);
}

/** An SVG element, as `h`. */
export function s(tag, attrs, ...children) {
  return append(setAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// China time (UTC+8, no daylight saving) is the time of the cases' days.
const CHINA_OFFSET_MS = 8 * 3600 * 1000;
const pad = (n, w = 2) => String(n).padStart(w, "0");

function chinaParts(iso) {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return null;
  const d = new Date(ms + CHINA_OFFSET_MS);
  return {
    date: `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
    time: `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`,
  };
}

/** `YYYY-MM-DD HH:MM` in China time, or "—". */
export function chinaTime(iso) {
  const p = iso ? chinaParts(iso) : null;
  return p ? `${p.date} ${p.time}` : "—";
}

/** `YYYY-MM-DD` in China time. */
export function chinaDay(iso) {
  const p = iso ? chinaParts(iso) : null;
  return p ? p.date : "";
}

/** A `datetime-local` value (China time) for an instant. */
export function toLocalInput(iso) {
  const p = iso ? chinaParts(iso) : null;
  return p ? `${p.date}T${p.time}` : "";
}

/** The UTC instant (RFC 3339, `…Z`) of a `datetime-local` value read as
 *  China time, or null. */
export function fromLocalInput(value) {
  if (!value) return null;
  const ms = Date.parse(`${value.length === 16 ? value + ":00" : value}+08:00`);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString().replace(".000Z", "Z");
}

/** Parses `#/page/arg?k=v` into {page, arg, params}. */
export function parseHash(hash) {
  const [path, query] = (hash.replace(/^#\/?/, "") || "").split("?");
  const [page, ...rest] = path.split("/");
  return {
    page: page || "",
    arg: rest.length ? decodeURIComponent(rest.join("/")) : "",
    params: new URLSearchParams(query || ""),
  };
}

/** `#/page/arg?params`, leaving out empty parameters. */
export function hashOf(page, arg, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const qs = q.toString();
  return `#/${page}${arg ? "/" + encodeURIComponent(arg) : ""}${qs ? "?" + qs : ""}`;
}

/** A verification mark: ✓ (true), ✗ (false) or – (not applicable). */
export function mark(ok) {
  if (ok === true) return h("span", { class: "ok", "aria-label": t("ok") }, "✓");
  if (ok === false) return h("span", { class: "fail" }, "✗");
  return h("span", { class: "na" }, "–");
}
