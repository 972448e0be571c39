// Case search (`GET /v1/cases`): number, item, department, status, accepted
// date range, violation kind, time-limit status; paged. The search is kept
// in the URL, so Back and a copied link give the same page.

import { get, query } from "../api.js";
import { h, fill, chinaTime, hashOf } from "../dom.js";
import { t, vocab, VOCAB } from "../i18n.js";

const PAGE = 50;

function select(name, group, value) {
  return h("select", { id: `f-${name}`, name },
    h("option", { value: "" }, t("any")),
    Object.keys(VOCAB[group]).map((k) => h("option", { value: k, selected: k === value }, vocab(group, k))));
}

function field(label, control) {
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control);
}

/** What a user typed as a case number, as the search wants it. */
function caseQuery(text) {
  const v = text.trim();
  if (!v) return "";
  return v.startsWith("case-") ? v : `case-${v}`;
}

export async function casesPage(main, route, me) {
  const p = route.params;
  const input = (name, type = "text") =>
    h("input", { id: `f-${name}`, name, type, value: p.get(name) ?? "", autocomplete: "off" });
  const form = h(
    "form",
    { id: "case-search", class: "card search" },
    field(t("case_no"), input("case")),
    field(t("item_id"), input("item")),
    field(t("department"), input("department")),
    field(t("status"), select("status", "status", p.get("status"))),
    field(t("accepted_from"), input("accepted_from", "date")),
    field(t("accepted_before"), input("accepted_before", "date")),
    field(t("violation"), select("violation", "violation", p.get("violation"))),
    field(t("time_limit"), select("time_limit", "time_limit", p.get("time_limit"))),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, t("search")),
      h("a", { href: "#/cases", class: "button secondary" }, t("reset"))),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    location.hash = hashOf("cases", "", values);
  });
  const results = h("section", { id: "case-results", "aria-live": "polite" });
  main.append(h("h2", null, t("nav_cases")), form, results);
  if (me.role === "department") {
    form.querySelector("#f-department").value = me.department;
  }
  const offset = Number(p.get("offset") ?? 0) || 0;
  const search = {
    case: p.get("case") ? caseQuery(p.get("case")) : "",
    item: p.get("item"),
    department: p.get("department"),
    status: p.get("status"),
    accepted_from: p.get("accepted_from"),
    accepted_before: p.get("accepted_before"),
    violation: p.get("violation"),
    time_limit: p.get("time_limit"),
  };
  // A number without `*` searches that case; `demo-00*` a prefix.
  const page = await get(`/v1/cases${query({ ...search, offset, limit: PAGE })}`);
  const pager = (to) => hashOf("cases", "", { ...Object.fromEntries(p.entries()), offset: to });
  fill(
    results,
    h("p", { class: "summary" }, t("total", page.total), " · ",
      t("page", page.total ? offset + 1 : 0, offset + page.cases.length)),
    h("table", { class: "data", id: "cases-table" },
      h("thead", null, h("tr", null,
        [t("case_no"), t("item"), t("department"), t("channel"), t("status"), t("accepted_at"), t("deadline"), t("time_limit"), t("violations")]
          .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", null, page.cases.map((c) => {
        const id = c.stream.replace(/^case-/, "");
        return h("tr", { class: c.time_limit_status ?? "" },
          h("td", null, h("a", { href: hashOf("case", id), class: "case-link" }, id)),
          h("td", null, c.item_name ?? c.item_id ?? "—"),
          h("td", null, c.department ?? "—"),
          h("td", null, c.channel ?? "—"),
          h("td", null, vocab("status", c.status)),
          h("td", null, chinaTime(c.accepted_at)),
          h("td", null, c.deadline ?? "—"),
          h("td", { class: `tl ${c.time_limit_status ?? ""}` }, c.time_limit_status ? vocab("time_limit", c.time_limit_status) : "—"),
          h("td", null, (c.violations ?? []).map((v) => h("span", { class: "badge violation" }, vocab("violation", v)))));
      }))),
    h("div", { class: "pager" },
      offset > 0 ? h("a", { href: pager(Math.max(0, offset - PAGE)), class: "button secondary", rel: "prev" }, t("prev")) : null,
      offset + page.cases.length < page.total ? h("a", { href: pager(offset + PAGE), class: "button secondary", rel: "next" }, t("next")) : null),
  );
}
