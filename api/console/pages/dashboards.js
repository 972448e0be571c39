// Dashboards: overdue and at-risk cases, violations by kind and by
// department, department scorecards (`/v1/scorecards`) and fairness by
// channel (`/v1/fairness`), as hand-drawn SVG charts with their tables.

import { get, query } from "../api.js";
import { h, chinaTime, hashOf } from "../dom.js";
import { t, vocab } from "../i18n.js";
import { hbars, stackedBars } from "../charts.js";

const num = (v) => (typeof v === "number" ? String(Math.round(v * 100) / 100) : "—");
const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);

function caseList(title, page, id) {
  return h("section", { class: "card", id },
    h("h3", null, `${title} (${page.total})`),
    page.cases.length
      ? h("ul", { class: "case-list" }, page.cases.map((c) => {
          const caseId = c.stream.replace(/^case-/, "");
          return h("li", null, h("a", { href: hashOf("case", caseId) }, caseId),
            ` · ${c.item_name ?? c.item_id ?? ""} · ${c.department ?? ""} · ${t("deadline")} ${c.deadline ?? "—"}`);
        }))
      : h("p", null, t("none")));
}

export async function dashboardsPage(main, route, me) {
  const p = route.params;
  const period = { from: p.get("from") ?? "", to: p.get("to") ?? "" };
  const from = h("input", { type: "date", id: "f-from", value: period.from });
  const to = h("input", { type: "date", id: "f-to", value: period.to });
  const form = h("form", { class: "card search", id: "period" },
    h("div", { class: "field" }, h("label", { for: "f-from" }, t("accepted_from")), from),
    h("div", { class: "field" }, h("label", { for: "f-to" }, t("accepted_before")), to),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("show"))));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = hashOf("dashboards", "", { from: from.value, to: to.value });
  });
  main.append(h("h2", null, t("dashboards")), form);

  const fairnessAllowed = me.role === "admin" || me.role === "inspector";
  const [overdue, atRisk, cards, fairness] = await Promise.all([
    get(`/v1/cases${query({ time_limit: "overdue", limit: 20 })}`),
    get(`/v1/cases${query({ time_limit: "at_risk", limit: 20 })}`),
    get(`/v1/scorecards${query(period)}`),
    fairnessAllowed ? get(`/v1/fairness${query(period)}`) : null,
  ]);
  const sc = cards.scorecards;
  main.append(h("p", { class: "summary" }, t("period", cards.from, cards.to), " · ", chinaTime(cards.judged_at)));

  // Overdue and at risk now, by department, and the cases themselves.
  main.append(
    h("div", { class: "grid2" },
      stackedBars(`${t("overdue_cases")} / ${t("at_risk_cases")}`,
        sc.filter((c) => c.overdue || c.at_risk).map((c) => ({ label: c.department, parts: { overdue: c.overdue, at_risk: c.at_risk } })),
        [{ key: "overdue", label: t("overdue") }, { key: "at_risk", label: t("at_risk") }]),
      h("div", null, caseList(t("overdue_cases"), overdue, "overdue-list"), caseList(t("at_risk_cases"), atRisk, "at-risk-list"))),
  );

  // Violations by kind (all departments) and by department (stacked by kind).
  const kinds = new Map();
  for (const c of sc) for (const v of c.violations ?? []) kinds.set(v.kind, (kinds.get(v.kind) ?? 0) + v.count);
  const kindKeys = [...kinds.keys()].sort((a, b) => kinds.get(b) - kinds.get(a)).map((k) => ({ key: k, label: vocab("violation", k) }));
  main.append(
    h("div", { class: "grid2", id: "violations-charts" },
      hbars(t("violations_by_kind"), kindKeys.map((k) => ({ label: k.label, value: kinds.get(k.key), cls: "violation" }))),
      stackedBars(t("violations_by_dept"),
        sc.filter((c) => (c.violations ?? []).length).map((c) => ({
          label: c.department, parts: Object.fromEntries(c.violations.map((v) => [v.kind, v.count])),
        })),
        kindKeys)),
  );

  // Scorecards: on-time rate chart and the full table.
  main.append(
    h("section", { id: "scorecards" },
      h("h3", null, t("scorecards")),
      hbars(t("on_time_rate"), sc.filter((c) => c.on_time_rate !== undefined && c.on_time_rate !== null)
        .map((c) => ({ label: c.department, value: c.on_time_rate, cls: c.on_time_rate < 0.9 ? "warn" : "good" })), { format: pct, max: 1 }),
      h("table", { class: "data", id: "scorecards-table" },
        h("thead", null, h("tr", null, [t("department"), t("accepted"), t("completed"), t("on_time_rate"), t("open"), t("overdue"), t("at_risk"),
          t("violations"), t("backfill_rate"), t("complaints_received"), t("complaints_upheld")].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", null, sc.map((c) => h("tr", null,
          h("td", null, c.department), h("td", null, c.accepted), h("td", null, c.completed), h("td", null, pct(c.on_time_rate)),
          h("td", null, c.open), h("td", { class: c.overdue ? "overdue" : null }, c.overdue), h("td", null, c.at_risk),
          h("td", null, (c.violations ?? []).reduce((n, v) => n + v.count, 0)), h("td", null, pct(c.backfill_rate)),
          h("td", null, c.complaints_received), h("td", null, c.complaints_upheld)))))),
  );

  // Fairness by channel: flagged items first, each as a chart of medians.
  if (fairness) {
    const flagged = new Set((fairness.flags ?? []).map((f) => f.item_id));
    const items = [...fairness.items].sort((a, b) => Number(flagged.has(b.item_id)) - Number(flagged.has(a.item_id)));
    main.append(h("section", { id: "fairness" },
      h("h3", null, t("fairness")),
      h("p", { class: "help" }, t("fairness_help")),
      (fairness.flags ?? []).map((f) => h("p", { class: "flag" }, h("span", { class: "badge violation" }, f.label ?? f.kind), ` ${f.item_name}: `,
        `${t("agent")} ${num(f.agent)} · ${t("self_filed")} ${num(f.self_filed)}`, " · ",
        (f.agent_sample ?? []).map((id) => h("a", { href: hashOf("case", id), class: "sample" }, id + " ")))),
      h("div", { class: "grid2" }, items.filter((i) => (i.by_channel ?? []).some((c) => c.median_working_days !== undefined)).slice(0, 8).map((i) =>
        hbars(`${i.item_name}${flagged.has(i.item_id) ? " ⚑" : ""}`,
          i.by_channel.filter((c) => c.median_working_days !== undefined)
            .map((c) => ({ label: c.label ?? c.channel, value: c.median_working_days, cls: c.channel === "agent" ? "agent" : "" })),
          { format: (v) => `${v} ${t("median_days")}` }))),
    ));
  }
}
