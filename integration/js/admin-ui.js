// The official Socket.IO Admin UI (@socket.io/admin-ui 0.5, its ui/dist
// served by the Go test) in headless Chromium against an ionbus cluster:
// log in through the UI's form (a wrong password first), then wait until
// its Sockets, Rooms and Servers views list what the Go test expects, and
// save screenshots.
//
// usage: URL=<page origin> SERVER=<ionbus node url> USER=<name> PASS=<password> SHOT=<png> SHOT_ROOMS=<png> SHOT_SERVERS=<png>
//        EXPECT='{"sockets":["<id>",...],"rooms":["lobby",...],"servers":["ionbus-a",...]}' node js/admin-ui.js login
// Prints {"result": {"sockets": "<table text>", "rooms": ..., "servers": ..., "problems": [...]}}.
"use strict";
const { URL, out, ok, fail, until, sleep, run } = require("./lib");
const { open } = require("./browser");

const { SERVER, USER, PASS, SHOT, SHOT_ROOMS, SHOT_SERVERS } = process.env;
const EXPECT = JSON.parse(process.env.EXPECT || "{}");

// tableText is the text of the view's data table ("" while none).
async function tableText(page) {
  return page.evaluate(() => {
    const t = document.querySelector(".v-data-table tbody");
    return t ? t.innerText : "";
  });
}

// view opens one of the UI's views (hash routes) and waits until its
// table holds every expected text.
async function view(page, hash, texts, what) {
  await page.evaluate((h) => (window.location.hash = h), hash);
  let text = "";
  await until(`${what} listing ${JSON.stringify(texts)}`, async () => {
    text = await tableText(page);
    return texts.every((x) => text.includes(x));
  }, 20000, 200).catch((e) => {
    throw new Error(`${e.message}; the table shows: ${JSON.stringify(text)}`);
  });
  ok(`${what} view lists ${texts.length} items`);
  return text;
}

async function login(page, password) {
  await page.getByLabel("Server URL").fill(SERVER);
  await page.getByLabel("Username").fill(USER);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Connect" }).click();
}

run({
  async login() {
    if (!SERVER || !USER || !PASS || !SHOT || !SHOT_ROOMS || !SHOT_SERVERS) fail("SERVER, USER, PASS and the SHOT paths are required");
    const b = await open({ width: 1400, height: 900 });
    try {
      const { page, problems } = b;
      // The page's only foreign resources are Google Fonts and the
      // Material Design Icons stylesheet on a CDN; test machines have no
      // internet: they get empty stylesheets (the UI then uses the
      // system font and shows no icon glyphs).
      await page.route(/^https:\/\/(fonts\.googleapis\.com|cdn\.jsdelivr\.net)\//, (r) =>
        r.fulfill({ status: 200, contentType: "text/css", body: "" }));
      await page.goto(URL + "/");
      await page.getByLabel("Server URL").waitFor({ timeout: 10000 });
      ok("connection form shown");

      await login(page, PASS + "-wrong");
      await page.getByText("Invalid credentials").waitFor({ timeout: 10000 });
      ok("a wrong password is refused with the UI's message");

      await login(page, PASS);
      await page.getByLabel("Server URL").waitFor({ state: "hidden", timeout: 10000 });
      ok("logged in");

      const sockets = await view(page, "#/sockets/", EXPECT.sockets || [], "sockets");
      await sleep(500); // transitions settle
      await page.screenshot({ path: SHOT });
      const rooms = await view(page, "#/rooms/", EXPECT.rooms || [], "rooms");
      await sleep(500);
      await page.screenshot({ path: SHOT_ROOMS });
      // Each server listed and healthy (a server_stats within 10 s).
      const servers = await view(page, "#/servers/", EXPECT.servers || [], "servers");
      await until("every server healthy", async () => {
        const text = await tableText(page);
        return (text.match(/\bhealthy\b/gi) || []).length === (EXPECT.servers || []).length;
      }, 10000, 200);
      await sleep(500);
      await page.screenshot({ path: SHOT_SERVERS });
      const session = await page.evaluate(() => window.localStorage.getItem("session_id"));
      if (!session) fail("no session id saved by the UI");
      out({ result: { sockets, rooms, servers, problems } });
    } finally {
      await b.close();
    }
  },
});
