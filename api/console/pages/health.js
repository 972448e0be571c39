// Log health: size, the latest checkpoint (its signature checked here
// against the pinned ledger key), the age of the newest entry it covers,
// witness cosignatures (each checked against pinned witness keys; a pinned
// witness with none on this checkpoint shown as not yet cosigned, with the
// newest checkpoint that every pinned witness has cosigned, checked here
// too), and the pinned keys themselves, editable.

import { get } from "../api.js";
import { h, mark, chinaTime } from "../dom.js";
import { t } from "../i18n.js";
import {
  BUNDLE_WIDTH, bundlePath, parseBundle, parseNote, parseCheckpoint, parseVerifierKey,
  verifyNoteSignature, verifyCosignature, cosignatureTime, pins, savePins, hex,
  chooseCheckpoint, newestCosigned,
} from "../verify.js";

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 120) return t("age", t("seconds", s));
  if (s < 7200) return t("age", t("minutes", Math.round(s / 60)));
  if (s < 172800) return t("age", t("hours", Math.round(s / 3600)));
  return t("age", t("days", Math.round(s / 86400)));
}

export async function healthPage(main) {
  const log = await get("/v1/log", { auth: false });
  const note = parseNote(log.checkpoint);
  const cp = parseCheckpoint(note.text);
  const pinned = pins();
  let signed = null;
  if (pinned.ledger) {
    try {
      signed = await verifyNoteSignature(note, await parseVerifierKey(pinned.ledger));
    } catch {
      signed = false;
    }
  }
  // The newest entry the checkpoint covers: its recorded time bounds the
  // checkpoint's age from below (a checkpoint note carries no time itself).
  let newest = null;
  if (cp.size > 0) {
    const n = Math.floor((cp.size - 1) / BUNDLE_WIDTH);
    const entries = parseBundle(await get(bundlePath(n, cp.size), { as: "bytes", auth: false }));
    try {
      newest = JSON.parse(new TextDecoder().decode(entries[(cp.size - 1) % BUNDLE_WIDTH])).recorded_at;
    } catch {
      newest = null;
    }
  }
  // Cosignature lines: every signature but the ledger's own.
  const witnessKeys = [];
  for (const w of pinned.witnesses) {
    try {
      witnessKeys.push(await parseVerifierKey(w));
    } catch {
      // An unreadable pinned key verifies nothing; it is shown as pinned below.
    }
  }
  const cosigs = [];
  for (const sig of note.signatures) {
    if (sig.name === cp.origin) continue;
    const key = witnessKeys.find((k) => k.name === sig.name && hex(k.keyHash) === hex(sig.keyHash));
    const time = cosignatureTime(sig);
    const valid = key ? (await verifyCosignature({ text: note.text, signatures: [sig] }, key)) !== null : null;
    cosigs.push({ name: sig.name, keyHash: hex(sig.keyHash), time, valid });
  }
  // Pinned witnesses with no line yet: they cosign a checkpoint when they
  // next see it, so this is waiting, not a bad signature.
  for (const k of witnessKeys) {
    if (!cosigs.some((c) => c.name === k.name && c.keyHash === hex(k.keyHash))) {
      cosigs.push({ name: k.name, keyHash: hex(k.keyHash), time: null, valid: null, waiting: true });
    }
  }
  // While some pinned witness is waiting: the newest checkpoint they all
  // cosigned, its ledger signature and every cosignature checked here (the
  // one a case's timeline is then verified against).
  let older = null;
  if (cosigs.some((c) => c.waiting) && pinned.ledger) {
    const chosen = await chooseCheckpoint(log.checkpoint, pinned.ledger, pinned.witnesses, 0, newestCosigned);
    older = chosen.newer ? chosen.cp.size : null;
  }
  main.append(
    h("h2", null, t("health")),
    h("dl", { class: "facts card", id: "log-health" },
      h("dt", null, t("origin")), h("dd", null, log.origin),
      h("dt", null, t("tree_size")), h("dd", { id: "tree-size" }, String(log.size)),
      h("dt", null, t("checkpoint_size")), h("dd", { id: "checkpoint-size" }, String(cp.size), log.size > cp.size ? ` (${log.size - cp.size} …)` : ""),
      h("dt", null, t("checkpoint_root")), h("dd", null, h("code", null, hex(cp.root))),
      h("dt", null, t("check_checkpoint")), h("dd", { id: "checkpoint-signature" }, mark(signed), " ", pinned.ledger ? "" : t("not_pinned")),
      h("dt", null, t("checkpoint_age")), h("dd", { id: "checkpoint-age" }, newest ? `${chinaTime(newest)} (${ago(Date.parse(newest))})` : "—"),
      h("dt", null, t("verifier_key")), h("dd", null, h("code", null, log.verifier_key))),
    h("section", { class: "card", id: "cosignatures" },
      h("h3", null, t("cosignatures")),
      cosigs.length
        ? h("table", { class: "data" },
            h("thead", null, h("tr", null, ["", t("label"), t("key_hash"), t("cosigned_at")].map((x) => h("th", { scope: "col" }, x)))),
            h("tbody", null, cosigs.map((c) => h("tr", { "data-waiting": c.waiting ? "true" : null },
              h("td", null, c.waiting ? h("span", { class: "pending" }, "…") : mark(c.valid)), h("td", null, c.name), h("td", null, h("code", null, c.keyHash)),
              h("td", null, c.waiting ? t("cosign_waiting", c.name, cp.size)
                : c.time !== null ? `${chinaTime(new Date(c.time * 1000).toISOString())} (${ago(c.time * 1000)})` : "—")))))
        : h("p", null, t("no_cosignatures")),
      older !== null ? h("p", { id: "newest-cosigned", "data-size": String(older) }, mark(true), " ", t("newest_cosigned", older)) : null),
    pinForm(),
    h("p", null, h("a", { href: "/status", id: "status-page-link" }, t("status_link"))),
  );
}

function pinForm() {
  const p = pins();
  const ledger = h("input", { id: "pin-ledger", value: p.ledger ?? "", size: 90, autocomplete: "off", placeholder: t("not_pinned") });
  const witnesses = h("textarea", { id: "pin-witnesses", rows: 3, cols: 90 }, p.witnesses.join("\n"));
  const message = h("p", { role: "status" });
  const form = h("form", { class: "card", id: "pins" },
    h("h3", null, t("pinned_keys")),
    h("label", { for: "pin-ledger" }, t("pinned_ledger_key")), ledger,
    h("label", { for: "pin-witnesses" }, t("pinned_witness_keys")), witnesses,
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("save")),
      h("button", { type: "button", class: "secondary", onclick: () => { savePins({ ledger: null, witnesses: [] }); ledger.value = ""; witnesses.value = ""; message.textContent = t("saved"); } }, t("forget_pin"))),
    message);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ws = witnesses.value.split("\n").map((x) => x.trim()).filter(Boolean);
    try {
      for (const k of [ledger.value.trim(), ...ws].filter(Boolean)) await parseVerifierKey(k);
      savePins({ ledger: ledger.value.trim() || null, witnesses: ws });
      message.textContent = t("saved");
      message.className = "";
    } catch (e) {
      message.textContent = e.message;
      message.className = "error";
    }
  });
  return form;
}
