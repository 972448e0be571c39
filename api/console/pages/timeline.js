// A case's timeline (`GET /v1/cases/{id}/timeline`), as it stands now or
// as it stood at any moment (`as_of`: a slider over the recorded steps and a
// date-time picker), with stopped-clock periods, the deadline, violations
// on the steps that prove them, complaints about the case, its public
// status link and QR code — and every step verified in this browser.

import { get, query, ApiError } from "../api.js";
import { h, fill, mark, chinaTime, toLocalInput, fromLocalInput, hashOf } from "../dom.js";
import { t, vocab, violationDetail } from "../i18n.js";
import { timelineStrip } from "../charts.js";
import { verifyStream } from "../verify.js";

/** End of a China-time day `YYYY-MM-DD`, in ms. */
function endOfChinaDay(day) {
  return Date.parse(`${day}T23:59:59+08:00`);
}

function stopKind(kind) {
  if (kind === "correction") return t("stopped_correction");
  if (kind && typeof kind === "object") return Object.values(kind).join(" ");
  return String(kind ?? "");
}

export async function timelinePage(main, route, me) {
  const id = route.arg;
  const asOf = route.params.get("as_of") || "";
  const path = `/v1/cases/${encodeURIComponent(id)}/timeline`;
  // The whole case (for the slider) and the case as of the chosen moment.
  const [full, view] = await Promise.all([get(path), asOf ? get(path + query({ as_of: asOf })) : null]);
  const tl = view ?? full;
  const steps = tl.timeline.steps ?? [];
  const stream = tl.stream;

  // Violations, by the events that prove them.
  const proving = new Map();
  for (const v of tl.violations) for (const e of v.events ?? []) {
    if (!proving.has(e)) proving.set(e, []);
    proving.get(e).push(v);
  }
  const limit = tl.time_limit;
  const heading = h("h2", null, `${t("timeline")} · ${id}`);
  const facts = h("dl", { class: "facts card" },
    h("dt", null, t("item_name")), h("dd", null, tl.item?.name ?? tl.timeline.accepted?.item_id ?? "—"),
    h("dt", null, t("status")), h("dd", { id: "case-status" }, vocab("status", tl.timeline.status)),
    h("dt", null, t("department")), h("dd", null, steps.find((s) => s.event_type === "case.accepted")?.department ?? steps[0]?.department ?? "—"),
    h("dt", null, t("accepted_at")), h("dd", null, chinaTime(tl.timeline.accepted?.at)),
    h("dt", null, t("limit_days")), h("dd", null, limit ? t("working_days", limit.limit_days) : "—"),
    h("dt", null, t("deadline")), h("dd", null, limit ? (limit.clock_stopped ? t("clock_stopped") : limit.deadline ?? "—") : "—"),
    h("dt", null, t("time_limit")), h("dd", { class: `tl ${limit?.status ?? ""}` }, limit
      ? `${vocab("time_limit", limit.status)} · ${t("used", limit.used_days)}${limit.remaining_days >= 0 && !limit.status.startsWith("completed") ? " · " + t("remaining", limit.remaining_days) : ""}`
      : "—"),
    h("dt", null, t("as_of")), h("dd", { id: "as-of-shown" }, chinaTime(tl.as_of)),
  );

  // As-of: a slider over the recorded steps of the whole case, and a picker.
  const allSteps = full.timeline.steps ?? [];
  const recordedTimes = allSteps.map((s) => s.recorded_at);
  const sliderValue = asOf ? recordedTimes.filter((r) => r <= asOf).length - 1 : allSteps.length - 1;
  const slider = h("input", {
    type: "range", id: "as-of-slider", min: 0, max: Math.max(0, allSteps.length - 1), step: 1,
    value: Math.max(0, sliderValue), "aria-label": t("as_of"),
  });
  const sliderLabel = h("output", { for: "as-of-slider", id: "as-of-slider-label" });
  const showSlider = () => {
    const s = allSteps[Number(slider.value)];
    fill(sliderLabel, s ? `${s.version + 1}. ${s.label} · ${chinaTime(s.recorded_at)}` : "");
  };
  showSlider();
  slider.addEventListener("input", showSlider);
  slider.addEventListener("change", () => {
    const s = allSteps[Number(slider.value)];
    const last = Number(slider.value) === allSteps.length - 1;
    location.hash = hashOf("case", id, { as_of: last ? "" : s.recorded_at });
  });
  const picker = h("input", { type: "datetime-local", id: "as-of-input", value: toLocalInput(asOf || tl.as_of), step: 60 });
  const asOfForm = h("form", { class: "card as-of-form", id: "as-of-form" },
    h("p", { class: "help" }, t("as_of_help")),
    h("div", { class: "slider-row" }, slider, sliderLabel),
    h("label", { for: "as-of-input" }, t("as_of")), picker,
    h("button", { type: "submit" }, t("show")),
    h("a", { href: hashOf("case", id), class: "button secondary" }, t("now")));
  asOfForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const at = fromLocalInput(picker.value);
    location.hash = hashOf("case", id, { as_of: at ?? "" });
  });

  // The strip.
  const ms = (iso) => (iso ? Date.parse(iso) : NaN);
  const strip = timelineStrip(t("timeline"), {
    steps: steps.map((s) => ({
      occurred: ms(s.occurred_at), recorded: ms(s.recorded_at), label: `${s.version + 1}. ${s.label}`,
      cls: proving.has(s.event_id) ? "violation" : "",
    })),
    stopped: (tl.timeline.stopped ?? []).map((p) => ({ from: ms(p.from), to: p.to ? ms(p.to) : ms(tl.as_of) })),
    deadline: limit?.deadline ? endOfChinaDay(limit.deadline) : NaN,
    asOf: asOf ? ms(asOf) : NaN,
  });

  // Steps, with a cell each for violations and verification.
  const inStopped = (iso) => (tl.timeline.stopped ?? []).some((p) => iso >= p.from && (!p.to || iso < p.to));
  const verifyCells = new Map();
  const table = h("table", { class: "data steps", id: "steps-table" },
    h("thead", null, h("tr", null,
      ["#", t("step"), t("event_type"), t("officer"), t("department"), t("occurred_at"), t("recorded_at"), t("violations"), t("verified")]
        .map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", null, steps.map((s) => {
      const cell = h("td", { class: "verify", "data-version": s.version }, h("span", { class: "pending" }, "…"));
      verifyCells.set(s.event_id, cell);
      const late = Date.parse(s.recorded_at) - Date.parse(s.occurred_at) > 86400e3;
      const vs = proving.get(s.event_id) ?? [];
      return h("tr", {
        id: `step-${s.version}`, "data-event": s.event_id,
        class: [vs.length ? "violation" : "", inStopped(s.occurred_at) ? "stopped" : ""].join(" ").trim() || null,
      },
        h("td", null, String(s.version + 1)),
        h("td", null, s.label),
        h("td", null, h("code", null, s.event_type)),
        h("td", null, s.officer ?? "—"),
        h("td", null, s.department),
        h("td", null, chinaTime(s.occurred_at)),
        h("td", { class: late ? "late" : null }, chinaTime(s.recorded_at), late ? h("span", { class: "badge" }, t("backfilled")) : null),
        h("td", null, vs.map((v) => h("span", { class: "badge violation", title: violationDetail(v) }, vocab("violation", v.kind)))),
        cell);
    })));

  const violations = h("section", { class: "card" }, h("h3", null, t("violations")),
    tl.violations.length
      ? h("ul", { id: "violations" }, tl.violations.map((v) => h("li", null,
          h("strong", null, vocab("violation", v.kind)), " — ", h("span", { class: "violation-detail", "data-kind": v.kind }, violationDetail(v)), " ",
          (v.events ?? []).map((e) => {
            const s = steps.find((x) => x.event_id === e);
            return s ? h("a", { href: `#step-${s.version}`, class: "step-ref", onclick: (ev) => { ev.preventDefault(); document.getElementById(`step-${s.version}`)?.scrollIntoView(); } }, `#${s.version + 1}`) : null;
          }).flatMap((a) => (a ? [a, " "] : [])))))
      : h("p", null, t("none")));
  const stoppedList = (tl.timeline.stopped ?? []).length
    ? h("section", { class: "card" }, h("h3", null, t("stopped")),
        h("ul", null, tl.timeline.stopped.map((p) => h("li", { class: "stopped" },
          `${stopKind(p.kind)}: ${chinaTime(p.from)} – ${p.to ? chinaTime(p.to) : t("stopped_open")}`))))
    : null;

  const verifyBox = h("section", { class: "card verification", id: "verification", "aria-live": "polite" },
    h("h3", null, t("verification")), h("p", { id: "verify-status" }, t("verify_running")));
  const complaintsBox = h("section", { class: "card", id: "case-complaints" }, h("h3", null, t("complaints_about")));
  const statusBox = h("section", { class: "card", id: "public-status" }, h("h3", null, t("public_status")));

  main.append(heading, facts, asOfForm, strip, table, verifyBox, violations, stoppedList);
  if (["admin", "inspector", "complaint_handler"].includes(me.role)) main.append(complaintsBox);
  if (["admin", "department"].includes(me.role)) main.append(statusBox);

  // Complaints about the case, and its public status link: best effort,
  // each failure shown in its own box.
  const side = [];
  if (main.contains(complaintsBox)) {
    side.push(get(`/v1/complaints${query({ case: stream })}`).then((list) => {
      complaintsBox.append(list.complaints.length
        ? h("ul", null, list.complaints.map((c) => h("li", null,
            h("a", { href: hashOf("complaint", c.complaint_id), class: "complaint-link" }, c.complaint_id),
            ` · ${chinaTime(c.filed_at)} · ${c.status_label}${c.finding ? " · " + c.finding : ""}`)))
        : h("p", null, t("no_complaints")));
    }).catch((e) => complaintsBox.append(h("p", { class: "error" }, e.message))));
  }
  if (main.contains(statusBox)) {
    side.push(get(`/v1/cases/${encodeURIComponent(id)}/query-code`).then((q) => {
      const qr = `/v1/public/cases/${encodeURIComponent(id)}/qr.svg${query({ code: q.query_code })}`;
      statusBox.append(
        h("p", null, t("public_status_help")),
        h("div", { class: "qr-row" },
          h("a", { href: q.status_url, id: "qr-link", title: t("open_status") }, h("img", { src: qr, alt: t("public_status"), class: "qr", id: "qr-img" })),
          h("dl", null,
            h("dt", null, t("query_code")), h("dd", null, h("code", { id: "query-code" }, q.query_code)),
            h("dt", null, t("open_status")), h("dd", null, h("a", { href: q.status_url, id: "status-link" }, q.status_url)))));
    }).catch((e) => statusBox.append(h("p", { class: "error" }, e.message))));
  }

  // Verification of exactly the steps shown.
  const shown = new Map(steps.map((s) => [s.event_id, {
    type: s.event_type, occurred_at: s.occurred_at, recorded_at: s.recorded_at, department: s.department, officer: s.officer,
  }]));
  const through = steps.length ? Math.max(...steps.map((s) => s.version)) : -1;
  try {
    const result = await verifyStream(stream, through, shown);
    for (const [eventId, r] of result.events) {
      const cell = verifyCells.get(eventId);
      if (!cell) continue;
      const sig = r.signature.status.startsWith("fail_") ? null : r.signature.status;
      fill(cell, mark(r.ok),
        r.ok ? null : h("span", { class: "problem" }, " ", r.problems.map((p) => t(p)).join("；")),
        sig ? h("span", { class: `sig ${sig}`, title: r.signature.key ?? "" }, t(`sig_${sig}`)) : null);
      cell.dataset.ok = String(r.ok);
      cell.dataset.sig = r.signature.status;
    }
    for (const [eventId, cell] of verifyCells) if (!result.events.has(eventId)) {
      fill(cell, mark(false), h("span", { class: "problem" }, " ", t("fail_missing")));
      cell.dataset.ok = "false";
    }
    renderChecks(verifyBox, result);
  } catch (e) {
    fill(verifyBox, h("h3", null, t("verification")), h("p", { class: "error", id: "verify-status", "data-ok": "false" }, "✗ ", e instanceof ApiError ? e.message : String(e)));
  }
  await Promise.all(side);
}

function renderChecks(box, result) {
  const detail = (c) => {
    const d = c.detail;
    switch (c.id) {
      case "key":
        return d.changed ? t("check_key_changed", d.key, d.announced) : d.firstUse ? t("check_key_pinned_now", d.key) : t("check_key_same", d.key);
      case "checkpoint":
        return `${d.origin} · ${d.size}${d.latest !== null ? " " + t("checkpoint_older", d.latest) : ""}`;
      case "cosign":
        if (!d.pinned) return t("verify_no_witnesses");
        return [
          t("n_of_m", d.valid, d.pinned),
          ...d.waiting.map((w) => t("cosign_waiting", w, d.size)),
          ...(d.newer ? [t("cosign_older", d.size, d.newer.size, d.newer.waiting.join(", "))] : []),
        ].join("；");
      case "registry":
        if (d.forbidden) return t("registry_forbidden");
        return d.broken ? t("registry_broken", d.broken.version, d.broken.reason) : t("n_of_m", d.done, d.of);
      case "signatures":
        return d.forbidden ? t("sig_forbidden") : t("sig_tally", d.valid, d.signed, d.unsigned);
      default:
        return t("n_of_m", d.done, d.of);
    }
  };
  const names = {
    key: "check_key", checkpoint: "check_checkpoint", cosign: "check_cosign", leaves: "check_leaves", chain: "check_chain",
    shown: "check_shown", registry: "check_registry", signatures: "check_signatures",
  };
  const allOk = result.checks.every((c) => c.ok !== false) && [...result.events.values()].every((r) => r.ok);
  const cosigned = result.witnesses.filter((w) => w.time !== null).length;
  const witnessText = !result.witnesses.length ? t("verify_no_witnesses")
    : result.witnesses.some((w) => w.absent) ? t("verify_witnesses_waiting", cosigned, result.witnesses.length, result.size)
    : result.newer ? t("verify_witnesses_older", cosigned, result.size, result.newer.size)
    : t("verify_witnesses", cosigned);
  const s = result.signatures;
  const signatureText = s.forbidden ? t("verify_signatures_forbidden") : s.signed ? t("verify_signatures", s.signed) : t("verify_no_signed");
  fill(box,
    h("h3", null, t("verification"), " ", mark(allOk)),
    h("p", { id: "verify-status", "data-ok": String(allOk), class: allOk ? "ok-line" : "error" }, t("verify_line", result.entries, result.size, witnessText, signatureText)),
    h("ul", { class: "checks", id: "checks" }, result.checks.map((c) =>
      h("li", {
        "data-check": c.id, "data-ok": String(c.ok),
        "data-waiting": c.id === "cosign" && c.detail.waiting?.length ? "true" : null,
        // The checkpoint verified against, and the newer one not used.
        "data-size": c.id === "checkpoint" ? String(c.detail.size) : null,
        "data-latest": c.id === "checkpoint" && c.detail.latest !== null ? String(c.detail.latest) : null,
        class: c.id === "key" && c.ok === false ? "loud" : null,
      }, c.id === "cosign" && c.detail.waiting?.length && c.ok === null ? h("span", { class: "pending" }, "…") : mark(c.ok),
        " ", h("strong", null, t(names[c.id])), " — ", detail(c)))));
}
