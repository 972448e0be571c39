// The console's shell: sign-in, the navigation the token's role may use,
// the language switch, and a hash router (`#/cases`, `#/case/<id>`, …)
// that renders one page at a time and turns any failure into a message.

import { get, session, ApiError } from "./api.js";
import { h, fill, parseHash } from "./dom.js";
import { t, lang, setLang } from "./i18n.js";
import { casesPage } from "./pages/cases.js";
import { timelinePage } from "./pages/timeline.js";
import { complaintsPage, complaintPage } from "./pages/complaints.js";
import { dashboardsPage } from "./pages/dashboards.js";
import { worklogsPage } from "./pages/worklogs.js";
import { healthPage } from "./pages/health.js";

const ME_KEY = "ledger.console.me";

/** Pages: hash name, nav label (or null), roles, render(main, route, me). */
const PAGES = [
  { page: "cases", nav: "nav_cases", roles: ["admin", "inspector", "department"], render: casesPage },
  { page: "case", nav: null, roles: ["admin", "inspector", "department", "complaint_handler"], render: timelinePage },
  { page: "complaints", nav: "nav_complaints", roles: ["admin", "inspector", "complaint_handler"], render: complaintsPage },
  { page: "complaint", nav: null, roles: ["admin", "inspector", "complaint_handler"], render: complaintPage },
  { page: "dashboards", nav: "nav_dashboards", roles: ["admin", "inspector", "department"], render: dashboardsPage },
  { page: "worklogs", nav: "nav_worklogs", roles: ["admin", "inspector", "department"], render: worklogsPage },
  { page: "health", nav: "nav_health", roles: ["admin", "inspector", "department", "complaint_handler", "witness"], render: healthPage },
];

function me() {
  try {
    return session.token() ? JSON.parse(sessionStorage.getItem(ME_KEY) || "null") : null;
  } catch {
    return null;
  }
}

function signOut() {
  session.clear();
  sessionStorage.removeItem(ME_KEY);
  // A changed hash renders through the hashchange listener; rendering here
  // as well drew the sign-in form twice, and the second, a moment later,
  // wiped a token already typed into the first.
  if (location.hash === "#/") render();
  else location.hash = "#/";
}

function header(who) {
  const current = parseHash(location.hash).page;
  const nav = who
    ? PAGES.filter((p) => p.nav && p.roles.includes(who.role)).map((p) =>
        h("a", { href: `#/${p.page}`, class: p.page === current ? "current" : null, "aria-current": p.page === current ? "page" : null }, t(p.nav)))
    : [];
  return h(
    "header",
    { class: "top" },
    h("h1", null, h("a", { href: "#/" }, t("title"))),
    h("nav", { "aria-label": "main" }, nav, h("a", { href: "/status", id: "status-nav" }, t("nav_status"))),
    h(
      "div",
      { class: "who" },
      who ? h("span", { id: "whoami" }, `${t("signed_in_as")}: ${t(`role_${who.role}`)} · ${who.department} · ${who.subject}`) : null,
      h("button", {
        type: "button", id: "lang", lang: lang() === "zh" ? "en" : "zh-CN",
        onclick: () => { setLang(lang() === "zh" ? "en" : "zh"); render(); },
      }, t("language")),
      who ? h("button", { type: "button", id: "signout", onclick: signOut }, t("signout")) : null,
    ),
  );
}

function signInForm(main, message) {
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, size: 60 });
  const note = h("p", { id: "signin-message", role: "alert", class: message ? "error" : null }, message ?? "");
  const form = h(
    "form",
    { id: "signin", class: "card" },
    h("h2", null, t("signin")),
    h("p", null, t("signin_help")),
    h("label", { for: "token" }, t("token")),
    input,
    h("button", { type: "submit" }, t("signin")),
    note,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    session.set(input.value.trim());
    try {
      const who = await get("/v1/whoami");
      sessionStorage.setItem(ME_KEY, JSON.stringify(who));
      const first = PAGES.find((p) => p.nav && p.roles.includes(who.role));
      location.hash = `#/${first ? first.page : "health"}`;
      render();
    } catch (e) {
      session.clear();
      fill(note, e.message);
      note.className = "error";
    }
  });
  fill(main, form);
  input.focus();
}

/** Shows an error as a plain message, never a blank page. */
export function showError(el, e) {
  const text = e instanceof ApiError || e instanceof Error ? e.message : String(e);
  el.append(h("p", { class: "error", role: "alert" }, `${t("error")}: ${text}`));
}

let renderCount = 0;

async function render() {
  const who = me();
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  document.title = t("title");
  const main = h("main", { id: "main", tabindex: "-1" });
  fill(document.body, header(who), main);
  if (!who) return signInForm(main);
  const route = parseHash(location.hash);
  const page = PAGES.find((p) => p.page === route.page) ?? PAGES.find((p) => p.nav && p.roles.includes(who.role)) ?? PAGES.at(-1);
  if (!page.roles.includes(who.role)) {
    main.append(h("p", { class: "error" }, t("not_allowed")));
    return;
  }
  const mine = ++renderCount;
  main.append(h("p", { class: "loading" }, t("loading")));
  try {
    await page.render(main, route, who);
  } catch (e) {
    if (mine !== renderCount) return;
    if (e instanceof ApiError && e.status === 401) {
      session.clear();
      sessionStorage.removeItem(ME_KEY);
      return render().then(() => signInForm(document.getElementById("main"), e.message));
    }
    showError(main, e);
  } finally {
    main.querySelectorAll(":scope > p.loading").forEach((p) => p.remove());
  }
}

window.addEventListener("hashchange", render);
render();
