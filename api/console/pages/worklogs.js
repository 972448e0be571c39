// Work logs (工作日志, `GET /v1/worklogs/{department}/{day}`): every step a
// department — or one officer — recorded on a day (China time), in the
// order of the work, backfilled steps marked. Printable: the print
// stylesheet leaves out the navigation and the form.

import { get, query } from "../api.js";
import { h, chinaTime, chinaDay, hashOf } from "../dom.js";
import { t } from "../i18n.js";

export async function worklogsPage(main, route, me) {
  const p = route.params;
  const dept = me.role === "department" ? me.department : p.get("department") ?? "";
  const day = p.get("day") ?? chinaDay(new Date().toISOString());
  const deptInput = h("input", { id: "f-department", name: "department", value: dept, required: true, list: "departments",
    readonly: me.role === "department" ? true : null, autocomplete: "off" });
  const dayInput = h("input", { id: "f-day", name: "day", type: "date", value: day, required: true });
  const officerInput = h("input", { id: "f-officer", name: "officer", value: p.get("officer") ?? "", autocomplete: "off" });
  const datalist = h("datalist", { id: "departments" });
  const form = h("form", { class: "card search no-print", id: "worklog-form" },
    h("div", { class: "field" }, h("label", { for: "f-department" }, t("department")), deptInput, datalist),
    h("div", { class: "field" }, h("label", { for: "f-day" }, t("day")), dayInput),
    h("div", { class: "field" }, h("label", { for: "f-officer" }, t("officer_optional")), officerInput),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, t("load")),
      h("button", { type: "button", id: "print", class: "secondary", title: t("print_hint"), onclick: () => window.print() }, t("print"))));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = hashOf("worklogs", "", { department: deptInput.value.trim(), day: dayInput.value, officer: officerInput.value.trim() });
  });
  main.append(h("h2", { class: "no-print" }, t("worklogs")), form);
  if (me.role !== "department") {
    // Departments with activity, for the input's suggestions; best effort.
    get("/v1/scorecards").then((s) => datalist.append(...s.scorecards.map((c) => h("option", { value: c.department }))), () => {});
  }
  if (!dept || !day) return;
  const log = await get(`/v1/worklogs/${encodeURIComponent(dept)}/${encodeURIComponent(day)}${query({ officer: p.get("officer") })}`);
  main.append(h("section", { class: "worklog", id: "worklog" },
    h("h3", null, t("worklog_title", log.officer ? `${log.department} · ${log.officer}` : log.department, log.day)),
    log.entries.length
      ? h("table", { class: "data", id: "worklog-table" },
          h("thead", null, h("tr", null, ["#", t("occurred_at"), t("recorded_at"), t("officer"), t("step"), t("stream"), ""].map((x) => h("th", { scope: "col" }, x)))),
          h("tbody", null, log.entries.map((e, i) => {
            const link = e.stream.startsWith("case-")
              ? h("a", { href: hashOf("case", e.stream.slice(5)) }, e.stream)
              : e.stream.startsWith("complaint-") ? h("a", { href: hashOf("complaint", e.stream.slice(10)) }, e.stream) : e.stream;
            return h("tr", { class: e.backfilled ? "late" : null },
              h("td", null, String(i + 1)), h("td", null, chinaTime(e.occurred_at)), h("td", null, chinaTime(e.recorded_at)),
              h("td", null, e.officer ?? "—"), h("td", null, e.label ?? e.event_type), h("td", null, link, ` v${e.version}`),
              h("td", null, e.backfilled ? h("span", { class: "badge violation" }, t("backfilled")) : null));
          })))
      : h("p", null, t("no_entries")),
  ));
}
