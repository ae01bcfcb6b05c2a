// Headless Chromium for the tests of pages a person looks at (the Admin
// UI, the dashboard): Debian's chromium driven by playwright-core. Every
// console error, uncaught page error and failed request of the page is
// collected; a test fails when any was seen.
"use strict";
const fs = require("fs");
const { chromium } = require("playwright-core");

// The browser binary: $CHROMIUM, else the first of the usual paths.
function executable() {
  const candidates = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
  for (const p of candidates) if (p && fs.existsSync(p)) return p;
  throw new Error("chromium not found: install Debian's chromium (make deps does) or set CHROMIUM");
}

// open launches the browser and one page at a fixed size. The returned
// problems array fills with every console error, page error and failed
// request; close() ends the browser.
async function open({ width = 1400, height = 900 } = {}) {
  const browser = await chromium.launch({
    executablePath: executable(),
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage({ viewport: { width, height } });
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // A page that closes its own connection on navigation is not an error.
    const why = r.failure() ? r.failure().errorText : "";
    if (why !== "net::ERR_ABORTED") problems.push(`request failed: ${r.url()} ${why}`);
  });
  return { browser, page, problems, close: () => browser.close() };
}

module.exports = { open, executable };
