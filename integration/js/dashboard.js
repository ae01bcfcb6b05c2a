// The built-in dashboard (GET /dashboard on api.listen) in headless
// Chromium: sign in with the API key through the page's form, wait until
// the page shows what the Go test expects, save a screenshot.
//
// usage: URL=http://127.0.0.1:<api port> KEY=<api.key> SHOT=<png path>
//        EXPECT='{"a":{"sockets":3,"websocket":2,"polling":1},"b":{...}}' node js/dashboard.js dashboard
// Prints {"result": {"nodes": {<id>: {<column>: <text>}}, "cards": {...}, "problems": [...]}}.
"use strict";
const { URL, out, ok, fail, until, sleep, run } = require("./lib");
const { open } = require("./browser");

const KEY = process.env.KEY;
const SHOT = process.env.SHOT;
const EXPECT = JSON.parse(process.env.EXPECT || "{}");
const POLLS = Number(process.env.POLLS || 3); // polls watched after the table matched

// table reads the nodes table: node id -> {column header: cell text}.
async function table(page) {
  return page.evaluate(() => {
    const t = document.getElementById("t-nodes");
    const heads = [...t.tHead.rows[0].cells].map((c) => c.textContent.trim());
    const rows = {};
    for (const tr of t.tBodies[0].rows) {
      const cells = [...tr.cells].map((c) => c.textContent.trim());
      const row = {};
      heads.forEach((h, i) => (row[h] = cells[i]));
      rows[cells[0]] = row;
    }
    return rows;
  });
}

async function cards(page) {
  return page.evaluate(() => {
    const o = {};
    for (const c of document.querySelectorAll(".card")) {
      o[c.querySelector(".label").textContent.trim()] = c.querySelector(".value").textContent.trim();
    }
    o.status = document.getElementById("status").textContent.trim();
    o.polls = Number(document.body.dataset.polls || 0);
    return o;
  });
}

function matches(rows) {
  for (const [node, want] of Object.entries(EXPECT)) {
    const got = rows[node];
    if (!got) return false;
    if (got.Sockets !== String(want.sockets) || got.WebSocket !== String(want.websocket) || got.Polling !== String(want.polling)) return false;
  }
  return Object.keys(rows).length === Object.keys(EXPECT).length;
}

run({
  async dashboard() {
    if (!KEY || !SHOT) fail("KEY and SHOT are required");
    const b = await open({ width: 1400, height: 800 });
    try {
      const { page, problems } = b;
      // Signed out: the sign-in form, then the key through it.
      await page.goto(URL + "/dashboard");
      await page.waitForSelector("input[name=key]", { timeout: 5000 });
      ok("sign-in form shown without the cookie");
      await page.fill("input[name=key]", KEY);
      await Promise.all([page.waitForURL(URL + "/dashboard", { timeout: 5000 }), page.click("button[type=submit]")]);
      await page.waitForSelector("#t-nodes tbody tr", { timeout: 10000 });
      ok("signed in");
      const cookies = await b.browser.contexts()[0].cookies();
      if (cookies.some((c) => c.value.includes(KEY))) fail("the cookie carries the key itself");

      let rows = {};
      await until("the page showing the expected sockets " + JSON.stringify(EXPECT), async () => {
        rows = await table(page);
        return matches(rows);
      }, 20000, 250);
      ok("nodes table matches");
      // A few more polls, so the charts have lines and rates are computed.
      const start = (await cards(page)).polls;
      await until(`${POLLS} more polls`, async () => (await cards(page)).polls >= start + POLLS, 60000, 200);
      rows = await table(page);
      const c = await cards(page);
      const namespaces = await page.evaluate(() =>
        [...document.querySelectorAll("#t-namespaces tbody tr")].map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
      const chartPaths = await page.evaluate(() => document.querySelectorAll("#g-sockets path.series").length);
      await sleep(300);
      await page.screenshot({ path: SHOT, fullPage: true });
      out({ result: { nodes: rows, cards: c, namespaces, chartPaths, problems } });
    } finally {
      await b.close();
    }
  },
});
