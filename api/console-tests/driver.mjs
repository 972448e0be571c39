// One small page interface over two automation libraries, so that
// e2e.mjs runs unchanged in both browsers:
//
// - Chromium (Debian's /usr/bin/chromium) through playwright-core over the
//   DevTools protocol;
// - Firefox (Debian's /usr/bin/firefox-esr) through puppeteer-core over
//   WebDriver BiDi, which Firefox speaks natively (playwright-core drives
//   only its own patched Firefox builds, not a distribution's).
//
// The adapters differ only where the libraries do: launching, clicking,
// waiting on a function, and print rendering. Navigation, key presses,
// screenshots and the page's events are called the same way in both
// libraries, and everything that reads or waits on the page is DOM code run
// in the page: all of that is shared (`Page` below), so both browsers are
// asked exactly the same questions.

import fs from "node:fs";

/** The browsers this driver knows, with their Debian executables. */
export const BROWSERS = {
  chromium: { executable: "/usr/bin/chromium", install: "apt-get install -y chromium" },
  firefox: { executable: "/usr/bin/firefox-esr", install: "apt-get install -y firefox-esr" },
};

const VIEWPORT = { width: 1366, height: 900 };
const POLL_MS = 100;

/** Is the element shown (laid out, not `visibility: hidden`)? Run in the page. */
function shownInPage(selector) {
  const el = document.querySelector(selector);
  return !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
}

/** What both adapters share: the calls both libraries spell alike, and
 *  questions asked in the page with DOM code. */
class Page {
  constructor(name, browser, page) {
    this.name = name;
    this.browser = browser;
    this.page = page;
  }

  version() {
    return this.browser.version();
  }

  on(kind, f) {
    if (kind === "request") this.page.on("request", (r) => f(r.url()));
    else if (kind === "pageerror") this.page.on("pageerror", (e) => f(e.message));
    else if (kind === "console-error") this.page.on("console", (m) => m.type() === "error" && f(m.text()));
  }

  goto(url) {
    return this.page.goto(url);
  }

  url() {
    return this.page.url();
  }

  press(key) {
    return this.page.keyboard.press(key);
  }

  evaluate(f, arg) {
    return this.page.evaluate(f, arg);
  }

  screenshot(file) {
    return this.page.screenshot({ path: file, fullPage: true });
  }

  close() {
    return this.browser.close();
  }

  /** Waits until `selector` matches an element that is shown. */
  async waitFor(selector, timeout = 30_000) {
    await this.waitForFunction(shownInPage, selector, timeout);
  }

  /** Waits until `selector` matches any element, shown or not. */
  async waitForAttached(selector, timeout = 30_000) {
    await this.waitForFunction((s) => !!document.querySelector(s), selector, timeout);
  }

  /** Polls the URL until it matches `re`. */
  async waitForURL(re, timeout = 30_000) {
    const end = Date.now() + timeout;
    while (!re.test(this.url())) {
      if (Date.now() > end) throw new Error(`the URL did not come to match ${re}: ${this.url()}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** The text of the first match, or null. */
  text(selector) {
    return this.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector);
  }

  /** An attribute of the first match, or null. */
  attr(selector, name) {
    return this.evaluate(([s, n]) => document.querySelector(s)?.getAttribute(n) ?? null, [selector, name]);
  }

  count(selector) {
    return this.evaluate((s) => document.querySelectorAll(s).length, selector);
  }

  /** The texts of every match. */
  texts(selector) {
    return this.evaluate((s) => [...document.querySelectorAll(s)].map((e) => e.textContent), selector);
  }

  /** The value of a form control. */
  value(selector) {
    return this.evaluate((s) => document.querySelector(s)?.value ?? null, selector);
  }

  visible(selector) {
    return this.evaluate(shownInPage, selector);
  }

  /** Sets a form control's value as typing would end (`input`, then
   *  `change`): text fields, text areas and range sliders alike. */
  async fill(selector, text) {
    await this.waitFor(selector);
    await this.evaluate(([s, v]) => {
      const el = document.querySelector(s);
      el.focus();
      const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
      Object.getOwnPropertyDescriptor(proto, "value").set.call(el, v);
      el.dispatchEvent(new Event("input", { bubbles: true }));
      el.dispatchEvent(new Event("change", { bubbles: true }));
    }, [selector, text]);
  }

  scrollIntoView(selector) {
    return this.evaluate((s) => document.querySelector(s)?.scrollIntoView({ block: "center" }), selector);
  }
}

/** playwright-core over the DevTools protocol. */
class ChromiumPage extends Page {
  static async launch(executablePath) {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
    const context = await browser.newContext({ viewport: VIEWPORT, locale: "zh-CN" });
    return new ChromiumPage("chromium", browser, await context.newPage());
  }

  async click(selector) {
    await this.page.click(selector);
  }

  async waitForFunction(f, arg, timeout = 30_000) {
    await this.page.waitForFunction(f, arg, { timeout, polling: POLL_MS });
  }

  /** Renders the page for print (`media: print`); true when it can. */
  async printMedia(on) {
    await this.page.emulateMedia({ media: on ? "print" : "screen" });
    return true;
  }
}

/** puppeteer-core over WebDriver BiDi. */
class FirefoxPage extends Page {
  static async launch(executablePath) {
    const { default: puppeteer } = await import("puppeteer-core");
    const browser = await puppeteer.launch({
      browser: "firefox",
      executablePath,
      headless: true,
      defaultViewport: VIEWPORT,
      extraPrefsFirefox: { "intl.accept_languages": "zh-CN" },
    });
    return new FirefoxPage("firefox", browser, await browser.newPage());
  }

  async click(selector) {
    await this.waitFor(selector);
    await this.page.click(selector);
  }

  async waitForFunction(f, arg, timeout = 30_000) {
    await this.page.waitForFunction(f, { timeout, polling: POLL_MS }, arg);
  }

  /** WebDriver BiDi has no media emulation: false, and `pdf` prints instead. */
  async printMedia() {
    return false;
  }

  /** Firefox's own print to PDF (its print stylesheet applies). */
  async pdf(file) {
    const bytes = await this.page.pdf({ format: "A4", printBackground: false });
    fs.writeFileSync(file, bytes);
    return bytes;
  }
}

/** Starts `name` (a key of BROWSERS) headless, one page open. */
export async function launch(name, executablePath = BROWSERS[name]?.executable) {
  if (name === "chromium") return ChromiumPage.launch(executablePath);
  if (name === "firefox") return FirefoxPage.launch(executablePath);
  throw new Error(`unknown browser ${name}: one of ${Object.keys(BROWSERS).join(", ")}`);
}
