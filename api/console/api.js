// The console's only way to the service: same-origin fetches with the
// bearer token from sessionStorage; RFC 9457 problems become ApiErrors
// carrying the problem's own words.

import { t } from "./i18n.js";

const TOKEN_KEY = "ledger.console.token";

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  set: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An HTTP failure: `status`, and the problem document when there is one. */
export class ApiError extends Error {
  constructor(message, status, problem) {
    super(message);
    this.status = status;
    this.problem = problem;
  }
}

/** GET `path`; JSON by default, `as: "text"` or `as: "bytes"` otherwise. */
export async function get(path, { as = "json", auth = true } = {}) {
  const headers = {};
  const token = session.token();
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { headers, cache: "no-store" });
  } catch (e) {
    throw new ApiError(t("network_error", e.message), 0, null);
  }
  if (!res.ok) {
    let problem = null;
    try {
      problem = await res.json();
    } catch {
      // Not a problem document: the status alone speaks.
    }
    const detail = problem?.detail || problem?.title || t("unknown_error", res.status);
    throw new ApiError(`${res.status}: ${detail}`, res.status, problem);
  }
  if (as === "text") return res.text();
  if (as === "bytes") return new Uint8Array(await res.arrayBuffer());
  return res.json();
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}
