// Browser check of the ecoinfer dashboard.
//   node dashboard.mjs URL REQUEST_ID SCREENSHOT.png
// Loads URL (a /dashboard page) in headless chromium and checks that:
//   - the page loads with no console errors;
//   - the charts render with data (uPlot canvases, data points > 0);
//   - the request REQUEST_ID appears in the decision table with its receipt;
// then saves a screenshot. Exit 0 = pass, 1 = fail, 77 = no browser (skip).
import { chromium } from "playwright-core";
import { existsSync } from "node:fs";

const [url, reqId, shot] = process.argv.slice(2);
if (!url || !reqId || !shot) { console.error("usage: dashboard.mjs URL REQUEST_ID OUT.png"); process.exit(2); }
const exe = process.env.CHROMIUM || ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);
if (!exe) { console.log("SKIP: chromium not installed (scripts/install-deps.sh installs it)"); process.exit(77); }

const browser = await chromium.launch({
  executablePath: exe, headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const errors = [];
let ok = true;
const fail = (m) => { console.error("FAIL: " + m); ok = false; };
try {
  for (const scheme of ["light", "dark"]) {
    const page = await browser.newPage({ viewport: scheme === "light" ? { width: 1280, height: 900 } : { width: 390, height: 844 }, colorScheme: scheme });
    page.on("console", (m) => { if (m.type() === "error") errors.push(`${scheme}: ${m.text()}`); });
    page.on("pageerror", (e) => errors.push(`${scheme}: ${e.message}`));
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => document.querySelector("#status")?.textContent === "live", null, { timeout: 10000 })
      .catch(() => fail(`${scheme}: page never went live`));
    // The request must show up in the decision table, with its receipt.
    const row = page.locator(`#decisions tbody tr`, { hasText: reqId });
    await row.first().waitFor({ timeout: 10000 }).catch(() => fail(`${scheme}: ${reqId} not in the decision table`));
    if (await row.count()) {
      const cells = await row.first().locator("td").allTextContents();
      if (!/\d/.test(cells[6] || "") || !/\d/.test(cells[8] || "")) fail(`${scheme}: receipt cells empty: ${cells.join(" | ")}`);
    }
    for (const id of ["chart-load", "chart-carbon", "chart-saved"]) {
      const pts = await page.locator(`#${id}`).getAttribute("data-points");
      const canvases = await page.locator(`#${id} canvas`).count();
      if (!canvases || !(Number(pts) > 0)) fail(`${scheme}: chart ${id} has no data (canvases=${canvases}, points=${pts})`);
      // one 5 s bucket of data still gets a real time axis (at least a minute)
      const span = Number(await page.locator(`#${id}`).getAttribute("data-xspan"));
      if (!(span >= 5)) fail(`${scheme}: chart ${id} x range spans ${span} s`);
    }
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    if (overflow) fail(`${scheme}: page wider than the viewport`);
    await page.screenshot({ path: scheme === "light" ? shot : shot.replace(/\.png$/, "-dark-phone.png"), fullPage: true });
    await page.close();
  }
} finally {
  await browser.close();
}
if (errors.length) fail("console errors:\n  " + errors.join("\n  "));
console.log(ok ? "dashboard browser test: passed" : "dashboard browser test: FAILED");
process.exit(ok ? 0 : 1);
