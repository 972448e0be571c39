// Complaints (`GET /v1/complaints`) and one complaint's timeline
// interleaved with its case's (`GET /v1/complaints/{id}/timeline`): the
// case steps recorded after the filing are marked, and the case is shown as
// it stood when the complaint was filed.

import { get, query } from "../api.js";
import { h, chinaTime, hashOf } from "../dom.js";
import { t, vocab, violationDetail } from "../i18n.js";

export async function complaintsPage(main, route) {
  const p = route.params;
  const caseInput = h("input", { id: "f-case", name: "case", value: p.get("case") ?? "", autocomplete: "off" });
  const deptInput = h("input", { id: "f-department", name: "department", value: p.get("department") ?? "", autocomplete: "off" });
  const form = h("form", { class: "card search", id: "complaint-search" },
    h("div", { class: "field" }, h("label", { for: "f-case" }, t("case_no")), caseInput),
    h("div", { class: "field" }, h("label", { for: "f-department" }, t("department")), deptInput),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("search"))));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = hashOf("complaints", "", { case: caseInput.value.trim(), department: deptInput.value.trim() });
  });
  main.append(h("h2", null, t("complaints")), form);
  const c = p.get("case");
  const list = await get(`/v1/complaints${query({ case: c ? (c.startsWith("case-") ? c : `case-${c}`) : "", department: p.get("department") })}`);
  main.append(
    h("p", { class: "summary" }, t("total", list.complaints.length)),
    h("table", { class: "data", id: "complaints-table" },
      h("thead", null, h("tr", null, [t("complaint"), t("filed_at"), t("case"), t("department"), t("assigned_body"), t("status"), t("finding")]
        .map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", null, list.complaints.map((x) => h("tr", null,
        h("td", null, h("a", { href: hashOf("complaint", x.complaint_id), class: "complaint-link" }, x.complaint_id)),
        h("td", null, chinaTime(x.filed_at)),
        h("td", null, x.case ? h("a", { href: hashOf("case", x.case.replace(/^case-/, "")) }, x.case) : "—"),
        h("td", null, x.department ?? "—"),
        h("td", null, x.assigned_body ?? "—"),
        h("td", null, x.status_label ?? x.status),
        h("td", null, x.finding ?? "—"))))));
}

export async function complaintPage(main, route) {
  const id = route.arg;
  const tl = await get(`/v1/complaints/${encodeURIComponent(id)}/timeline`);
  const c = tl.complaint;
  const caseId = tl.case ? tl.case.replace(/^case-/, "") : null;
  main.append(
    h("h2", null, `${t("complaint")} · ${id}`),
    h("dl", { class: "facts card" },
      h("dt", null, t("status")), h("dd", null, c.status_label ?? c.status),
      h("dt", null, t("filed_at")), h("dd", null, chinaTime(c.filed?.occurred_at)),
      h("dt", null, t("summary")), h("dd", null, c.filed?.summary ?? "—"),
      h("dt", null, t("case")), h("dd", null, caseId ? h("a", { href: hashOf("case", caseId), id: "complaint-case" }, tl.case) : "—"),
      h("dt", null, t("assigned_body")), h("dd", null, (c.assignments ?? []).map((a) => a.body).join("、") || "—"),
      h("dt", null, t("finding")), h("dd", null, c.resolution ? `${c.resolution.finding}${c.resolution.measures?.length ? "：" + c.resolution.measures.join("；") : ""}` : "—")),
    h("h3", null, t("complaint_timeline")),
    h("table", { class: "data steps interleaved", id: "interleaved" },
      h("thead", null, h("tr", null, ["", t("step"), t("officer"), t("department"), t("occurred_at"), t("recorded_at"), ""]
        .map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", null, (tl.steps ?? []).map((s) => h("tr", { class: `source-${s.source}${s.recorded_after_filing ? " after-filing" : ""}` },
        h("td", null, h("span", { class: `badge source ${s.source}` }, t(`source_${s.source}`))),
        h("td", null, s.label),
        h("td", null, s.officer ?? "—"),
        h("td", null, s.department),
        h("td", null, chinaTime(s.occurred_at)),
        h("td", null, chinaTime(s.recorded_at)),
        h("td", null, s.recorded_after_filing && s.source === "case" ? h("span", { class: "badge violation" }, t("after_filing")) : null))))),
  );
  const atFiling = tl.case_when_filed ?? null;
  if (atFiling) {
    main.append(h("section", { class: "card" }, h("h3", null, t("case_at_filing")),
      h("p", null, `${t("status")}: ${atFiling.status_label ?? vocab("status", atFiling.status) ?? "—"}`),
      (tl.violations_when_filed ?? []).length
        ? h("ul", null, tl.violations_when_filed.map((v) => h("li", null, vocab("violation", v.kind), " — ", violationDetail(v))))
        : null));
  }
}
