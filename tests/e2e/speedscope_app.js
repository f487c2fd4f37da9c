// Opens speedscope files in the speedscope app itself, in headless chromium,
// and prints as JSON what the app showed for each: the page title, the
// profile named in the toolbar and the sandwich view's table, for every
// profile of the file (moving on with the "n" key), and every error the page
// raised on the way (uncaught exceptions, console errors, alert dialogs,
// failed requests, the app's own error screen). Used by
// test_speedscope_app.py:
//   node speedscope_app.js CHROMIUM FILE.json [FILE.json...]
// The app and playwright-core come from node/node_modules (npm ci in
// tests/e2e/node); the app and the files are served over http from
// 127.0.0.1 on a free port, since the app fetches a profile given in its
// URL (index.html#profileURL=...) only over http(s).
"use strict";
const fs = require("fs");
const http = require("http");
const path = require("path");

const MODULES = path.join(__dirname, "node", "node_modules");
const { chromium } = require(path.join(MODULES, "playwright-core"));
const APP = path.join(MODULES, "speedscope", "dist", "release");

// A bound on each wait, so that a hang fails the test instead of stalling it.
const WAIT_MS = 20000;

const [executablePath, ...files] = process.argv.slice(2);
if (!executablePath || !files.length) {
  console.error("usage: node speedscope_app.js CHROMIUM FILE.json [FILE.json...]");
  process.exit(2);
}

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

// /app/... is the app's release directory, /profile/N.json the N-th file.
function serve(req, res) {
  const url = new URL(req.url, "http://127.0.0.1");
  let file = null;
  const m = url.pathname.match(/^\/profile\/(\d+)\.json$/);
  if (m && +m[1] < files.length) {
    file = files[+m[1]];
  } else if (url.pathname.startsWith("/app/")) {
    const rel = path.normalize(decodeURIComponent(url.pathname.slice("/app/".length)));
    if (!rel.startsWith("..") && !path.isAbsolute(rel)) file = path.join(APP, rel);
  }
  fs.readFile(file || "", (err, data) => {
    if (err || req.method !== "GET") {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("not found\n");
      return;
    }
    res.writeHead(200, {
      "Content-Type": TYPES[path.extname(file)] || "application/octet-stream",
      "Cache-Control": "no-store",
    });
    res.end(data);
  });
}

// What the page shows now: the app's error screen; the profile named in the
// toolbar ("NAME (i/n)": the span holding "(i/n)", and its parent); the
// toolbar's profile selector (a table of index, name, duration, kept in the
// page while hidden); and the rows of the sandwich view's table: total, self,
// name, and the file, which the app gives as the name cell's title.
function pageState() {
  const text = (e) => e.textContent.replace(/\s+/g, " ").trim();
  const state = { failed: document.body.innerText.includes("Something went wrong"),
                  index: null, profile: null, selector: [], rows: [] };
  const index = [...document.querySelectorAll("span")].find((s) => /^\(\d+\/\d+\)$/.test(text(s)));
  const selector = index && index.parentElement.parentElement;
  if (index) {
    state.index = text(index);
    state.profile = text(index.parentElement);
  }
  for (const tr of document.querySelectorAll("tr")) {
    const cells = [...tr.children];
    if (cells.length !== 3 || cells.some((c) => c.tagName !== "TD")) continue;
    if (selector && selector.contains(tr)) {
      state.selector.push(cells.map(text));
    } else {
      state.rows.push({ total: text(cells[0]), self: text(cells[1]), name: cells[2].textContent,
                        file: cells[2].getAttribute("title") });
    }
  }
  return state;
}

// Polls the page until ok(state) holds for two polls in a row with the same
// state (no half-done rendering), the app reported a failure, or WAIT_MS
// passed (noted in driverErrors).
async function waitFor(page, report, what, ok) {
  const deadline = Date.now() + WAIT_MS;
  let last = null;
  for (;;) {
    const state = await page.evaluate(pageState);
    if (state.failed || report.dialogs.length || report.pageErrors.length) return state;
    const seen = JSON.stringify(state);
    if (ok(state) && seen === last) return state;
    if (Date.now() > deadline) {
      report.driverErrors.push(`${what}: not within ${WAIT_MS} ms; the page showed ${seen}`);
      return state;
    }
    last = seen;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function open(browser, base, i) {
  const report = { file: files[i], title: null, profiles: [], pageErrors: [], consoleErrors: [],
                   dialogs: [], failedRequests: [], driverErrors: [], failed: false };
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(WAIT_MS);
  page.on("pageerror", (e) => report.pageErrors.push(String(e && e.stack || e)));
  page.on("console", (m) => { if (m.type() === "error") report.consoleErrors.push(m.text()); });
  page.on("dialog", (d) => { report.dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on("requestfailed", (r) => report.failedRequests.push(`${r.url()}: ${r.failure().errorText}`));
  page.on("response", (r) => {
    if (r.status() >= 400) report.failedRequests.push(`${r.url()}: HTTP ${r.status()}`);
  });

  const profileURL = `${base}/profile/${i}.json`;
  let state = null;
  try {
    await page.goto(`${base}/app/index.html#profileURL=${encodeURIComponent(profileURL)}`);
    state = await waitFor(page, report, "the profile in the toolbar", (s) => s.index);
    if (state.index) {
      report.title = await page.title();
      // The toolbar's tab: an emoji, then "Sandwich".
      await page.locator("div").filter({ hasText: /^\S*Sandwich$/ }).last().click();
      const [, first, count] = state.index.match(/\((\d+)\/(\d+)\)/).map(Number);
      // The app opens the file's activeProfileIndex (pyscope's: the
      // heaviest thread): step back to the first profile, then through all.
      for (let n = first; n > 1; n--) await page.keyboard.press("p");
      for (let n = 1; n <= count; n++) {
        if (n > 1) await page.keyboard.press("n");
        state = await waitFor(page, report, `profile ${n} in the sandwich view`,
                              (s) => s.index === `(${n}/${count})` && s.rows.length);
        if (state.index !== `(${n}/${count})`) break;
        report.profiles.push({ name: state.profile, selector: state.selector, rows: state.rows });
      }
    }
    state = await page.evaluate(pageState);
  } catch (e) {
    report.driverErrors.push(String(e && e.stack || e));
  }
  report.failed = !!(state && state.failed);
  await page.close();
  return report;
}

async function main() {
  const server = http.createServer(serve);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  // Headless chromium has no GPU: WebGL, which the app draws with, runs on
  // SwiftShader, which chromium only allows when asked.
  const browser = await chromium.launch({
    executablePath,
    args: ["--enable-unsafe-swiftshader", "--disable-dev-shm-usage"],
  });
  const reports = [];
  try {
    for (let i = 0; i < files.length; i++) reports.push(await open(browser, base, i));
  } finally {
    await browser.close();
    server.close();
  }
  console.log(JSON.stringify(reports));
}

main().catch((e) => {
  console.error(e && e.stack || String(e));
  process.exit(1);
});
