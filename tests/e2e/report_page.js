// Opens a report of `pyscope report` in headless chromium, from disk as a
// user would, works every tab and control, and prints as JSON what the page
// showed at each step and every error it raised (uncaught exceptions,
// console errors, requests for anything outside the file). Used by
// test_report.py:
//   node report_page.js CHROMIUM REPORT.html [SCREENSHOT_DIR]
// With SCREENSHOT_DIR, a PNG of each tab is saved there.
"use strict";
const path = require("path");

const MODULES = path.join(__dirname, "node", "node_modules");
const { chromium } = require(path.join(MODULES, "playwright-core"));
const WAIT_MS = 20000;

const [executablePath, file, shots] = process.argv.slice(2);
if (!executablePath || !file) {
  console.error("usage: node report_page.js CHROMIUM REPORT.html [SCREENSHOT_DIR]");
  process.exit(2);
}

// What the flame graph shows now.
function flameState() {
  const t = document.getElementById("flame-total");
  const nodes = [...document.querySelectorAll("#flame .node")];
  return {
    text: t.textContent, weight: +t.dataset.weight, samples: +t.dataset.samples,
    matched: +t.dataset.matched, zoom: t.dataset.zoom, nodes: nodes.length,
    names: [...new Set(nodes.map((n) => n.dataset.name))],
    matches: nodes.filter((n) => n.classList.contains("match")).map((n) => n.dataset.name),
    top: nodes.filter((n) => n.style.top === "0px").map((n) => [n.dataset.name, +n.dataset.weight]),
  };
}

async function main() {
  const browser = await chromium.launch({ executablePath, args: ["--disable-dev-shm-usage"] });
  const out = { pageErrors: [], consoleErrors: [], requests: [], steps: {} };
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(WAIT_MS);
    page.on("pageerror", (e) => out.pageErrors.push(String(e && e.stack || e)));
    page.on("console", (m) => { if (m.type() === "error") out.consoleErrors.push(m.text()); });
    const url = "file://" + path.resolve(file);
    page.on("request", (r) => { if (!r.url().startsWith(url)) out.requests.push(r.url()); });
    await page.goto(url);
    const shot = async (name) => {
      if (shots) await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: false });
    };
    const tab = async (name) => {
      await page.click(`#tabs button[data-tab="${name}"]`);
      return page.evaluate((n) => {
        const s = document.getElementById(`tab-${n}`);
        return { visible: s.classList.contains("active") && s.offsetHeight > 0, text: s.innerText };
      }, name);
    };
    out.title = await page.title();
    out.steps.summary = await tab("summary");
    out.steps.summaryFacts = await page.evaluate(() =>
      [...document.querySelectorAll("#summary-facts dt")].map((dt) => [dt.textContent, dt.nextElementSibling.textContent]));
    await shot("summary");
    out.steps.flame = await tab("flame");
    out.steps.flameAll = await page.evaluate(flameState);
    await shot("flame");
    // the threads, one by one
    const threads = await page.evaluate(() =>
      [...document.querySelectorAll("#f-thread option")].map((o) => [o.value, o.textContent]).filter((o) => o[0]));
    out.steps.byThread = [];
    for (const [value, label] of threads) {
      await page.selectOption("#f-thread", value);
      out.steps.byThread.push({ value, label, state: await page.evaluate(flameState) });
    }
    await page.selectOption("#f-thread", "");
    // wall time, then the idle state left out
    await page.selectOption("#f-clock", "wall");
    out.steps.wall = await page.evaluate(flameState);
    await page.uncheck("#f-state-idle");
    out.steps.wallNotIdle = await page.evaluate(flameState);
    await page.check("#f-state-idle");
    await page.selectOption("#f-clock", "cpu");
    // zoom into the widest frame of the first level, then search
    const widest = out.steps.flameAll.top.sort((a, b) => b[1] - a[1])[0];
    if (widest) {
      await page.click(`#flame .node[data-name="${widest[0].replace(/"/g, '\\"')}"]`);
      out.steps.zoomed = await page.evaluate(flameState);
      await page.click("#f-reset");
      out.steps.unzoomed = await page.evaluate(flameState);
    }
    // time order, of each thread in turn, then zoomed to a frame's time
    await page.selectOption("#f-order", "time");
    out.steps.timeOrder = [];
    for (const [value, label] of threads) {
      await page.selectOption("#f-thread", value);
      const state = await page.evaluate(flameState);
      state.rootNames = await page.evaluate(() =>
        [...new Set([...document.querySelectorAll("#flame .node")].filter((n) => n.style.top === "0px").map((n) => n.dataset.name))]);
      out.steps.timeOrder.push({ value, label, state });
    }
    // the widest frame of the second level (narrow ones may lie under others)
    const deep = await page.evaluate(() => {
      const nodes = [...document.querySelectorAll("#flame .node")].filter((n) => n.style.top === "18px");
      nodes.sort((a, b) => b.offsetWidth - a.offsetWidth);
      if (nodes.length) nodes[0].click();
      return nodes.length > 0;
    });
    if (deep) {
      out.steps.timeZoomed = await page.evaluate(flameState);
      await shot("time-order");
      await page.click("#f-reset");
    }
    await page.selectOption("#f-thread", "");
    await page.selectOption("#f-order", "weight");
    await page.fill("#f-search", process.env.REPORT_SEARCH || "burn");
    out.steps.search = await page.evaluate(flameState);
    await shot("search");
    await page.fill("#f-search", "");
    out.steps.lines = await tab("lines");
    out.steps.lineRows = await page.evaluate(() =>
      [...document.querySelectorAll("#lines-table tbody tr")].slice(0, 20).map((r) =>
        ({ name: r.dataset.name, line: +r.dataset.line, self: +r.dataset.self, cells: [...r.cells].map((c) => c.textContent) })));
    await shot("lines");
    out.steps.calls = await tab("calls");
    const first = await page.$("#calls-table tbody tr");
    if (first) {
      await first.click();
      out.steps.callsDetail = await page.evaluate(() => document.getElementById("calls-detail").innerText);
      out.steps.callRows = await page.evaluate(() =>
        [...document.querySelectorAll("#calls-table tbody tr")].map((r) => [r.dataset.name, +r.dataset.ncalls]));
    }
    await shot("calls");
    out.steps.timeline = await tab("timeline");
    out.steps.timelineRows = await page.evaluate(() =>
      [...document.querySelectorAll("#timeline .tl-row")].map((r) => ({
        label: r.querySelector(".tl-label").textContent, thread: r.dataset.thread ? +r.dataset.thread : null,
        ticks: r.dataset.ticks ? +r.dataset.ticks : null, rects: r.querySelectorAll("rect").length,
        states: [...new Set([...r.querySelectorAll("rect")].map((e) => e.dataset.state).filter(Boolean))] })));
    await shot("timeline");
    out.steps.memory = await tab("memory");
    const memRows = () => [...document.querySelectorAll("#mem-table tbody tr")].slice(0, 20).map((r) =>
      ({ key: r.dataset.key, size: +r.dataset.size, sizeDiff: +r.dataset.sizeDiff }));
    const memTotal = () => {
      const t = document.getElementById("mem-total");
      return { text: t.textContent, weight: +t.dataset.weight, samples: +t.dataset.samples,
               nodes: document.querySelectorAll("#mem-flame .node").length,
               snap: document.getElementById("m-snap").value,
               snaps: [...document.querySelectorAll("#m-snap option")].map((o) => o.value),
               points: document.querySelectorAll("#mem-chart circle").length };
    };
    if (await page.$("#m-snap option")) {
      out.steps.memFlame = await page.evaluate(memTotal);
      await shot("memory");
      await page.selectOption("#m-view", "line");
      out.steps.memLine = await page.evaluate(memRows);
      const snaps = out.steps.memFlame.snaps;
      const other = snaps.find((v) => v !== out.steps.memFlame.snap);
      if (other) {
        await page.selectOption("#m-base", other);
        out.steps.memBase = other;
        out.steps.memDiff = await page.evaluate(memRows);
        await page.selectOption("#m-view", "traceback");
        out.steps.memDiffTb = await page.evaluate(memRows);
        await shot("memory-diff");
      }
    }
    out.steps.cycles = await tab("cycles");
    out.steps.cycleGroups = await page.evaluate(() =>
      [...document.querySelectorAll("#cycles-groups tbody tr")].map((r) => +r.dataset.cycles));
    out.steps.cycleGrowth = await page.evaluate(() =>
      [...document.querySelectorAll("#cycles-growth tbody tr")].map((r) => [r.dataset.grows, r.cells[1].textContent]));
    await shot("cycles");
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack || String(e));
  process.exit(1);
});
