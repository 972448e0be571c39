// End-to-end test of the web console in a real headless browser against a
// running `ledger serve --demo`: Debian's Chromium (playwright-core) or
// Debian's Firefox ESR (puppeteer-core over WebDriver BiDi), through the
// small page interface of driver.mjs, so both run this one scenario. Run by
// tools/tests/console.rs:
//
//   node e2e.mjs <base-url> <token> <screenshot-dir> --case <id> [--browser chromium|firefox]
//                [--tampered <version>] [--signed <version>]
//                [--witness-key <vkey>] [--department-token <token> --department <id>]
//
// Without --tampered: sign in, find the case, open its timeline, see every
// step verified in the browser (✓), replay it as of an earlier moment,
// follow its complaint (with --witness-key, first pinned on the health
// page, the checkpoint's cosignature is checked too), open the public
// status page from its QR link, and visit dashboards, work logs (also as
// printed) and log health; a changed pinned key must show a loud ✗; a
// department's token sees its own cases and pages only. Every step of a
// demo case carries its department's signature (the demo loader signs
// them), each checked ✓ in the browser; with --signed S, step S is a note
// the test signed with a key it registered itself; and with --witness-key, once the log grows past
// the cosigned checkpoint, the case is verified against that older
// checkpoint, the newest the witness cosigned (its size shown), and the log
// health page shows the witness as not yet cosigned on the latest, not ✗.
// A department's token reads the registry stream too, so its case's authors'
// signatures are checked as well.
// With --tampered V: the store was altered at version V of the case (and at
// S, the signed step), and the browser must show ✗ on that step (and on S,
// for its signature too).
//
// Exit 0 and a last line "E2E PASS" when all held; exit 1 naming the first
// failure. Any request to another origin, page error or CSP violation fails.

import fs from "node:fs";
import path from "node:path";
import { BROWSERS, launch } from "./driver.mjs";

const [base, token, shots, ...rest] = process.argv.slice(2);
const opt = (name) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : undefined;
};
const caseId = opt("--case");
const tampered = opt("--tampered");
const signedStep = opt("--signed");
const browserName = opt("--browser") ?? "chromium";
if (!base || !token || !shots || !caseId || !BROWSERS[browserName]) {
  console.error("usage: node e2e.mjs <base-url> <token> <screenshot-dir> --case <id> [--browser chromium|firefox] [--tampered <version>]");
  process.exit(2);
}
const executablePath = BROWSERS[browserName].executable;
if (!fs.existsSync(executablePath)) {
  console.error(`FAIL: no ${browserName} at ${executablePath} (${BROWSERS[browserName].install})`);
  process.exit(1);
}
fs.mkdirSync(shots, { recursive: true });

const origin = new URL(base).origin;
const problems = [];
const step = (text) => console.log(`ok - ${text}`);
function expect(cond, text) {
  if (!cond) throw new Error(text);
}

const page = await launch(browserName, executablePath);
step(`${browserName} ${await page.version()}`);
page.on("request", (url) => {
  const u = new URL(url);
  if (u.protocol !== "data:" && u.origin !== origin) problems.push(`request to another origin: ${url}`);
});
page.on("pageerror", (message) => problems.push(`page error: ${message}`));
// Chromium reports a failed fetch (an expected 401/403/404) as a console error.
page.on("console-error", (text) => {
  if (!/status of (404|401|403)/.test(text)) problems.push(`console error: ${text}`);
});
/** Run in the page: is the element, or one holding it, hidden by an
 *  `@media print` rule of the page's style sheets? */
function hiddenInPrint(selector) {
  const hiding = [];
  for (const sheet of document.styleSheets) {
    for (const rule of sheet.cssRules) {
      if (!(rule instanceof CSSMediaRule) || ![...rule.media].includes("print")) continue;
      for (const r of rule.cssRules) if (r.style?.display === "none") hiding.push(r.selectorText);
    }
  }
  for (let el = document.querySelector(selector); el; el = el.parentElement) {
    if (hiding.some((s) => el.matches(s))) return true;
  }
  return false;
}
/** Words of every English violation detail (`vd_*` in i18n.js). */
const ENGLISH_DETAIL = /was requested|published list|reviewed at|working days|recorded \d+ hours|post-check was due/;
const shot = (name) => page.screenshot(path.join(shots, `${name}.png`));
/** A new ULID (Crockford base32: 48 bits of milliseconds, 80 random). */
function ulid() {
  const A = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  let time = "";
  for (let t = Date.now(), i = 0; i < 10; i++, t = Math.floor(t / 32)) time = A[t % 32] + time;
  return time + Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => A[b % 32]).join("");
}

/** Appends one event as the admin to a stream of its own, and waits until
 *  the log's checkpoint covers it: a checkpoint no witness has seen yet. */
async function growTheLog() {
  const event = { id: ulid(), type: "e2e.marker", occurred_at: new Date().toISOString(), actor: { department: "ledger-admin" }, payload: {} };
  const res = await fetch(`${base}/v1/streams/e2e-marker/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ events: [event] }),
  });
  const answer = await res.text();
  expect(res.ok, `append: ${res.status} ${answer}`);
  const index = JSON.parse(answer).receipts[0].log_index;
  for (let i = 0; i < 200; i++) {
    const log = await (await fetch(`${base}/v1/log`)).json();
    if (log.checkpoint_size > index) return log.checkpoint_size;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("no checkpoint covers the appended event");
}
const timeline = (extra = "") => `${base}/console/#/case/${encodeURIComponent(caseId)}${extra}`;
const verification = async () => {
  await page.waitForAttached("#verify-status[data-ok]", 60_000);
  return page.attr("#verify-status", "data-ok");
};

try {
  // Sign in: `/` leads to the console, which asks for a token.
  await page.goto(`${base}/`);
  expect(page.url() === `${base}/console/`, `/ did not lead to /console/ but ${page.url()}`);
  await page.waitFor("#signin");
  expect((await page.text("#signin h2")) === "登录", "the console is not in Chinese by default");
  await page.fill("#token", "ledger_wrong");
  await page.click("#signin button[type=submit]");
  await page.waitFor("#signin-message.error");
  step("a wrong token is refused with a message");
  await shot("01-signin");
  await page.fill("#token", token);
  await page.click("#signin button[type=submit]");
  await page.waitFor("#whoami");
  expect((await page.text("#whoami")).includes("管理员"), "the admin's role is not shown");
  step("signed in; the role is shown");

  if (tampered !== undefined) {
    await page.goto(timeline());
    const ok = await verification();
    expect(ok === "false", "the tampered store verified");
    const cell = `td.verify[data-version="${tampered}"]`;
    await page.waitFor(`${cell}[data-ok]`);
    expect((await page.attr(cell, "data-ok")) === "false", `step version ${tampered} is not marked ✗`);
    expect((await page.text(cell)).includes("✗"), "no ✗ on the tampered step");
    for (let v = 0; v < Number(tampered); v++) {
      expect((await page.attr(`td.verify[data-version="${v}"]`, "data-ok")) === "true", `untouched step ${v} not ✓`);
    }
    const leaves = await page.attr('li[data-check="leaves"]', "data-ok");
    expect(leaves === "false", "the inclusion check did not fail");
    if (signedStep !== undefined) {
      const signedCell = `td.verify[data-version="${signedStep}"]`;
      expect((await page.attr(signedCell, "data-ok")) === "false", `the altered signed step ${signedStep} is not ✗`);
      expect((await page.attr(signedCell, "data-sig")) === "fail_sig_invalid", `signed step ${signedStep}: ${await page.attr(signedCell, "data-sig")}`);
      expect((await page.text(signedCell)).includes("作者签名无效"), "the bad signature is not named on the step");
      expect((await page.attr('li[data-check="signatures"]', "data-ok")) === "false", "the signatures check did not fail");
      expect((await page.attr('li[data-check="registry"]', "data-ok")) === "true", "the untouched registry did not verify");
      step(`author signature of step ${signedStep}: ✗ (${(await page.text(signedCell)).trim()})`);
    }
    await page.scrollIntoView(cell);
    await shot("20-timeline-tampered");
    step(`tampered step ${tampered}: ✗ (${(await page.text(cell)).trim()})`);
  } else {
    // Pin the witness's key, as an inspector would, on the health page.
    const witnessKey = opt("--witness-key");
    await page.waitFor("#cases-table");
    if (witnessKey) {
      await page.goto(`${base}/console/#/health`);
      await page.waitFor("#pins");
      await page.fill("#pin-witnesses", witnessKey);
      await page.click("#pins button[type=submit]");
      await page.waitForFunction(() => document.querySelector("#pins [role=status]").textContent === "已保存。");
      step("witness key pinned");
      await page.goto(`${base}/console/#/cases`);
    }
    // Find the case with the search form.
    await page.waitFor("#cases-table");
    await shot("02-cases");
    await page.fill("#f-case", caseId);
    await page.click("#case-search button[type=submit]");
    await page.waitForFunction((id) => {
      const links = [...document.querySelectorAll("#cases-table a.case-link")];
      return links.length === 1 && links[0].textContent === id;
    }, caseId);
    step("the search finds the case");
    await page.click("#cases-table a.case-link");

    // Its timeline, verified in the browser.
    await page.waitFor("#steps-table");
    const ok = await verification();
    const steps = await page.count("#steps-table tbody tr");
    const good = await page.count('td.verify[data-ok="true"]');
    expect(ok === "true", `verification did not pass: ${await page.text("#verification")}`);
    expect(steps > 0 && good === steps, `${good} of ${steps} steps verified`);
    const expected = ["key", "checkpoint", "leaves", "chain", "shown", "registry", "signatures", ...(witnessKey ? ["cosign"] : [])];
    for (const c of expected) {
      expect((await page.attr(`li[data-check="${c}"]`, "data-ok")) === "true", `check ${c} not ✓: ${await page.text(`li[data-check="${c}"]`)}`);
    }
    expect((await page.text("#verify-status")).includes("SHA-256"), "no line saying what was checked");
    await shot("03-timeline");
    step(`timeline: ${steps} steps, all ✓ in the browser`);
    // Violation details in the console's language, not the service's English.
    const details = await page.evaluate(() => [...document.querySelectorAll("#violations .violation-detail")].map((e) => e.textContent));
    for (const d of details) {
      expect(/[\u4e00-\u9fff]/.test(d) && !ENGLISH_DETAIL.test(d), `a violation detail not in Chinese: ${d}`);
    }
    step(`violations worded in Chinese: ${details.length}`);
    // Every step is signed: the demo's by their departments' keys, step S
    // by the key the test registered.
    const sigs = await page.evaluate(() => [...document.querySelectorAll("td.verify")].map((c) => [c.dataset.version, c.dataset.sig]));
    for (const [v, s] of sigs) {
      expect(s === "valid", `step ${v}: signature ${s}`);
    }
    expect((await page.text("#verify-status")).includes(`${steps} 个已签名步骤的 Ed25519 作者签名`), `the line does not say ${steps} signatures were checked: ${await page.text("#verify-status")}`);
    step(`authors' signatures: ${steps} of ${steps} steps ✓`);
    if (signedStep !== undefined) {
      const key = await page.attr(`td.verify[data-version="${signedStep}"] .sig`, "title");
      step(`author signature of step ${signedStep}: ✓ (${key}, from the registry stream as of that step)`);
    }

    // As it stood after its second recorded step.
    if (steps > 2) {
      await page.fill("#as-of-slider", "1");
      // Steps recorded in one batch share a recorded time: at least two show.
      await page.waitForFunction((n) => {
        const rows = document.querySelectorAll("#steps-table tbody tr").length;
        return location.hash.includes("as_of=") && rows >= 2 && rows < n;
      }, steps);
      expect((await verification()) === "true", "the as-of view did not verify");
      expect(page.url().includes("as_of="), "as_of is not in the URL");
      await shot("04-timeline-as-of");
      step(`as-of replay: ${await page.count("#steps-table tbody tr")} of ${steps} steps, verified`);
      await page.click("#as-of-form a.button");
      await page.waitForFunction((n) => document.querySelectorAll("#steps-table tbody tr").length === n, steps);
      await verification();
    }

    // Its complaint, interleaved.
    await page.waitFor("#case-complaints ul, #case-complaints p");
    if (await page.count("#case-complaints a.complaint-link")) {
      await page.click("#case-complaints a.complaint-link");
      await page.waitFor("#interleaved tbody tr");
      const sources = await page.count("#interleaved tbody tr.source-complaint");
      expect(sources > 0, "no complaint steps in the interleaved timeline");
      await shot("05-complaint");
      step("complaint timeline interleaved with the case's");
      await page.goto(timeline());
      await page.waitFor("#steps-table");
      await verification();
    } else {
      step("the case has no complaint (not followed)");
    }

    // The public status page from its QR link.
    await page.waitFor("#qr-img");
    await page.waitForFunction(() => document.getElementById("qr-img").naturalWidth > 0);
    const href = await page.attr("#qr-link", "href");
    expect(href === (await page.attr("#status-link", "href")), "the QR link and the status link differ");
    await page.click("#qr-link");
    await page.waitForURL(/\/status\?case=/);
    await page.waitFor("#result:not([hidden]) #steps li");
    const publicSteps = await page.count("#steps li");
    expect(publicSteps > 0, "the public status page shows no steps");
    const publicText = await page.text("body");
    expect(!publicText.includes(token), "the token leaked into the public page");
    await shot("06-public-status");
    step(`public status page from the QR link: ${publicSteps} steps`);

    // Dashboards: charts drawn.
    await page.goto(`${base}/console/#/dashboards`);
    await page.waitFor("#scorecards-table");
    await page.waitFor("#fairness");
    const charts = await page.count("svg.chart");
    expect(charts >= 4, `only ${charts} charts on the dashboards`);
    await shot("07-dashboards");
    step(`dashboards: ${charts} SVG charts`);

    // Work log of the case's department on the day of its first step.
    await page.goto(timeline());
    await page.waitFor("#steps-table tbody tr");
    const dept = (await page.text("#steps-table tbody tr:first-child td:nth-child(5)")).trim();
    const day = (await page.text("#steps-table tbody tr:first-child td:nth-child(6)")).trim().slice(0, 10);
    await page.goto(`${base}/console/#/worklogs?department=${dept}&day=${day}`);
    await page.waitFor("#worklog-table tbody tr");
    await shot("08-worklog");
    // Printed: the print stylesheet (as the browser parsed it) hides the
    // navigation and not the work log; Chromium then renders the page with
    // print media, and Firefox, which has no media emulation over WebDriver
    // BiDi, prints it to PDF itself.
    expect(await page.evaluate(hiddenInPrint, "header.top"), "the print stylesheet does not hide the navigation");
    expect(!(await page.evaluate(hiddenInPrint, "#worklog-table")), "the print stylesheet hides the work log");
    if (await page.printMedia(true)) {
      expect(!(await page.visible("header.top")), "the navigation is printed");
      expect(await page.visible("#worklog-table"), "the work log is not printed");
      await shot("09-worklog-print");
      await page.printMedia(false);
    } else {
      const pdf = await page.pdf(path.join(shots, "09-worklog-print.pdf"));
      expect(pdf.length > 1000 && Buffer.from(pdf.subarray(0, 5)).toString() === "%PDF-", "printing gave no PDF");
    }
    step(`work log of ${dept} on ${day}, printable`);

    // Log health.
    await page.goto(`${base}/console/#/health`);
    await page.waitFor("#log-health");
    expect(Number(await page.text("#tree-size")) > 0, "empty tree size");
    expect((await page.text("#checkpoint-signature")).includes("✓"), "checkpoint signature not ✓ on the health page");
    if (witnessKey) {
      const row = await page.text("#cosignatures tbody tr");
      expect(row.includes("✓") && row.includes(witnessKey.split("+")[0]), `the witness cosignature is not ✓: ${row}`);
    }
    await shot("10-health");
    step("log health: size, checkpoint signature ✓");

    // Complaints list; English.
    await page.goto(`${base}/console/#/complaints`);
    await page.waitFor("#complaints-table");
    await shot("11-complaints");
    await page.click("#lang");
    await page.waitFor("#complaints-table");
    expect((await page.text("header.top nav")).includes("Cases"), "no English navigation");
    await page.goto(timeline());
    expect((await verification()) === "true", "verification in English did not pass");
    const detailsEn = await page.evaluate(() => [...document.querySelectorAll("#violations .violation-detail")].map((e) => e.textContent));
    for (const d of detailsEn) expect(ENGLISH_DETAIL.test(d), `a violation detail not in English: ${d}`);
    step(`violations worded in English: ${detailsEn.length}`);
    await shot("12-timeline-en");
    await page.click("#lang");
    step("English switch");

    // Keyboard: the first Tab stop is a link of the header.
    await page.goto(`${base}/console/#/cases`);
    await page.waitFor("#cases-table");
    await page.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.tagName === "A"), "Tab does not reach a link first");
    step("keyboard reaches the navigation");

    // A checkpoint the witness has not seen: the case is verified against
    // the newest checkpoint it did cosign, and the latest shows it waiting.
    if (witnessKey) {
      const witnessName = witnessKey.split("+")[0];
      const cosignedList = await (await fetch(`${base}/v1/checkpoints?cosigned_by=${encodeURIComponent(witnessName)}&limit=1`)).json();
      const cosignedSize = cosignedList.checkpoints?.[0]?.size;
      expect(Number.isInteger(cosignedSize) && cosignedList.checkpoints[0].cosigned_by.includes(witnessName), `GET /v1/checkpoints: ${JSON.stringify(cosignedList)}`);
      const size = await growTheLog();
      expect(size > cosignedSize, `the log did not grow past ${cosignedSize}`);
      await page.goto(timeline());
      expect((await verification()) === "true", `a checkpoint not yet cosigned failed verification: ${await page.text("#verification")}`);
      const cosign = 'li[data-check="cosign"]';
      const checkpoint = 'li[data-check="checkpoint"]';
      expect((await page.attr(cosign, "data-ok")) === "true", `the cosignature check: ${await page.text(cosign)}`);
      expect((await page.attr(checkpoint, "data-size")) === String(cosignedSize) && (await page.attr(checkpoint, "data-latest")) === String(size),
        `the checkpoint check: ${await page.text(checkpoint)}`);
      expect((await page.text(cosign)).includes(`按全部已固定见证人都已联署的最新检查点（树大小 ${cosignedSize}）验证`), `the cosignature check: ${await page.text(cosign)}`);
      expect((await page.text(cosign)).includes(`${witnessName} 尚未联署最新检查点（树大小 ${size}）`), `the cosignature check: ${await page.text(cosign)}`);
      expect((await page.text("#verify-status")).includes(`树大小 ${cosignedSize}`), `the line: ${await page.text("#verify-status")}`);
      expect((await page.count('td.verify[data-ok="true"]')) === steps, "not every step verified against the older checkpoint");
      await page.scrollIntoView("#verification");
      await shot("13-older-cosigned-checkpoint");
      step(`the witness has not yet cosigned the checkpoint of size ${size}: the case verified against size ${cosignedSize}, which it cosigned`);
      await page.goto(`${base}/console/#/health`);
      await page.waitFor("#cosignatures");
      const waitingRow = await page.text('#cosignatures tr[data-waiting="true"]');
      expect(waitingRow?.includes(witnessName) && waitingRow.includes(String(size)), `the health page: ${await page.text("#cosignatures")}`);
      await page.waitFor("#newest-cosigned");
      expect((await page.attr("#newest-cosigned", "data-size")) === String(cosignedSize), `the health page: ${await page.text("#cosignatures")}`);
      step(`log health: not yet cosigned (size ${size}), not ✗; the newest checkpoint cosigned by all pinned witnesses is size ${cosignedSize}`);
      await page.goto(`${base}/console/#/cases`);
      await page.waitFor("#cases-table");
    }

    // A changed pinned key: loud ✗.
    const pinsBefore = await page.evaluate(() => {
      const before = localStorage.getItem("ledger.console.pins");
      const p = JSON.parse(before);
      localStorage.setItem("ledger.console.pins", JSON.stringify({ ...p, ledger: "other.example/log+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }));
      return before;
    });
    await page.goto(timeline());
    expect((await verification()) === "false", "a changed key verified");
    expect((await page.attr('li[data-check="key"]', "data-ok")) === "false", "the key check is not ✗");
    expect((await page.attr('li[data-check="checkpoint"]', "data-ok")) === "false", "the checkpoint verified under another key");
    expect(await page.visible('li[data-check="key"].loud'), "the changed key is not loud");
    await shot("14-key-changed");
    step("a changed ledger key is a loud ✗");
    await page.evaluate((p) => localStorage.setItem("ledger.console.pins", p), pinsBefore);

    // A department's token: its own pages and cases only.
    const deptToken = opt("--department-token");
    const deptName = opt("--department");
    if (deptToken) {
      await page.click("#signout");
      await page.waitFor("#signin");
      await page.fill("#token", deptToken);
      await page.click("#signin button[type=submit]");
      await page.waitFor("#cases-table tbody tr");
      const nav = await page.text("header.top nav");
      expect(nav.includes("案件查询") && nav.includes("工作日志"), `department navigation: ${nav}`);
      expect(!nav.includes("投诉"), `a department sees complaints: ${nav}`);
      expect((await page.text("#whoami")).includes("部门"), "the department role is not shown");
      const depts = await page.texts("#cases-table tbody tr td:nth-child(3)");
      expect(depts.length > 0 && depts.every((d) => d === deptName), `a department sees other cases: ${[...new Set(depts)]}`);
      await shot("15-department-cases");
      await page.goto(`${base}/console/#/worklogs`);
      await page.waitFor("#f-department");
      expect((await page.value("#f-department")) === deptName, "the work log is not the department's own");
      expect(await page.attr("#f-department", "readonly") !== null, "a department may pick another's work log");
      await page.goto(`${base}/console/#/complaints`);
      await page.waitFor("main p.error");
      step(`department ${deptName}: own cases (${depts.length}) and work log only`);
      // Its own case verifies, authors' signatures included: the registry
      // stream (public in the tiles) is every role's to read.
      await page.goto(timeline());
      expect((await verification()) === "true", `the department's own case did not verify: ${await page.text("#verification")}`);
      for (const c of ["registry", "signatures"]) {
        expect((await page.attr(`li[data-check="${c}"]`, "data-ok")) === "true", `${c} for a department: ${await page.text(`li[data-check="${c}"]`)}`);
      }
      if (signedStep !== undefined) {
        expect((await page.attr(`td.verify[data-version="${signedStep}"]`, "data-sig")) === "valid", "the signed step is not ✓ for its department");
        expect(/\d+ 个已签名步骤的 Ed25519 作者签名/.test(await page.text("#verify-status")), "the line does not say the signatures were checked");
      }
      await shot("16-department-timeline");
      step("department: its case verified, authors' signatures too (the registry stream is readable by every role)");
    }
  }
  expect(problems.length === 0, problems.join("\n"));
  console.log("E2E PASS");
  await page.close();
} catch (e) {
  try {
    await shot("failure");
  } catch {
    // The screenshot is a convenience; the failure below is what counts.
  }
  console.error(`FAIL: ${e.message}`);
  if (problems.length) console.error(problems.join("\n"));
  await page.close();
  process.exit(1);
}
