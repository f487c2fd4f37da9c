// Times a pyscope report page in headless chromium: from the start of the
// load to the flame graph drawn, and a filter change (the thread selector)
// until it is drawn again. Prints JSON. Used by bench/report_speed.py:
//   node report_load.js CHROMIUM REPORT.html
"use strict";
const path = require("path");
const { chromium } = require(path.join(__dirname, "..", "tests", "e2e", "node", "node_modules",
                                        "playwright-core"));

async function main() {
  const [executablePath, file] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath, args: ["--disable-dev-shm-usage"] });
  const out = { errors: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(60000);
    page.on("pageerror", (e) => out.errors.push(String(e)));
    const t0 = Date.now();
    await page.goto("file://" + path.resolve(file), { waitUntil: "load" });
    out.loadMs = Date.now() - t0;
    await page.click('#tabs button[data-tab="flame"]');
    await page.waitForSelector("#flame .node");
    out.flameMs = Date.now() - t0;
    const threads = await page.evaluate(() =>
      [...document.querySelectorAll("#f-thread option")].map((o) => o.value).filter(Boolean));
    const before = await page.evaluate(() => document.getElementById("flame-total").textContent);
    const t1 = Date.now();
    await page.selectOption("#f-thread", threads[threads.length - 1]);
    await page.waitForFunction((b) => document.getElementById("flame-total").textContent !== b, before);
    out.filterMs = Date.now() - t1;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
