// The whole story with the reference partner app, in two real browsers: Alice connects
// Streamflix to Confidant and shares a film with Bob, who sees it arrive live and clicks it;
// Alice's access log holds the send and verifies; a self-test report counts one send and one
// click in the right cell; Alice disconnects Streamflix, which must ask to reconnect.
// Screenshots of each step are saved in tests/browser/output/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

import { startConfidant, chromiumOptions, streamOpen } from "./server.mjs";

const output = join(import.meta.dirname, "output");
const repoRoot = resolve(import.meta.dirname, "../..");
const film = "the-long-night";
let server;
let browser;
let streamflix;
let app;

async function freePort() {
  const probe = createServer();
  await new Promise((done) => probe.listen(0, "127.0.0.1", done));
  const { port } = probe.address();
  await new Promise((done) => probe.close(done));
  return port;
}

async function startStreamflix(port, confidantUrl, credentials) {
  const bin = process.env.STREAMFLIX_BIN ?? join(repoRoot, "target/debug/streamflix");
  const dataDir = mkdtempSync(join(tmpdir(), "streamflix-browser-"));
  const child = spawn(
    bin,
    ["--listen", `127.0.0.1:${port}`, "--confidant-url", confidantUrl, "--data-dir", dataDir],
    {
      stdio: ["ignore", "pipe", "inherit"],
      env: {
        ...process.env,
        RUST_LOG: "warn",
        STREAMFLIX_CLIENT_ID: credentials.client_id,
        STREAMFLIX_CLIENT_SECRET: credentials.client_secret,
        STREAMFLIX_WEBHOOK_SECRET: credentials.webhook_secret,
      },
    },
  );
  const url = await new Promise((resolveUrl, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const match = line.match(/running at (\S+)/);
      if (match) resolveUrl(match[1]);
    });
    child.on("exit", (code) => reject(new Error(`streamflix exited with ${code}`)));
  });
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((done) => child.once("exit", done));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

before(async () => {
  mkdirSync(output, { recursive: true });
  // A self-test deployment: reports are exact and labelled; webhooks go out every second.
  server = await startConfidant({
    CONFIDANT_REPORTS__NOISE: "self_test",
    CONFIDANT_SERVER__WEBHOOK_POLL_SECS: "1",
  });
  const port = await freePort();
  const site = `http://127.0.0.1:${port}`;
  app = JSON.parse(
    server.cli(
      "apps", "create", "--name", "Streamflix", "--owner", "Streamflix Inc.",
      "--redirect-uri", `${site}/callback`, "--redirect-uri", `${site}/shared`,
      "--scopes", "profile friends:read messages:send", "--homepage", site,
      "--report-webhook", `${site}/webhooks/confidant`,
      "--surfaces", "title_page player_end", "--variations", "control big_button",
      "--item-url-template", `${site}/title/{item_id}?via=confidant`,
    ),
  );
  server.cli("apps", "approve", app.client_id);
  streamflix = await startStreamflix(port, server.url, app);
  browser = await chromium.launch(chromiumOptions);
});

after(async () => {
  await browser?.close();
  await streamflix?.stop();
  await server?.stop();
});

/** Signs in to Streamflix in the member's browser and connects Confidant. */
async function connectStreamflix(context, name, shot) {
  const page = await context.newPage();
  await page.goto(`${streamflix.url}/login?next=/title/${film}`);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Password").fill("popcorn-and-films");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "The Long Night" }).waitFor();
  await page.getByRole("button", { name: "Connect Confidant" }).first().click();
  await page.getByRole("heading", { name: "Connect Streamflix to your account?" }).waitFor();
  await page.getByText("Streamflix cannot read your messages").waitFor();
  if (shot) await page.screenshot({ path: join(output, shot), fullPage: true });
  await page.getByRole("button", { name: "Allow" }).click();
  await page.getByText(/Connected to Confidant as/).waitFor();
  return page;
}

test("a film shared from Streamflix is received, clicked, logged, reported and revocable", async () => {
  const aliceContext = await browser.newContext();
  const bobContext = await browser.newContext();
  const alice = await server.signUp(aliceContext, "alice", "Alice");
  const bob = await server.signUp(bobContext, "bob", "Bob");
  await alice.getByLabel("Their handle").fill("bob");
  await alice.getByRole("button", { name: "Send request" }).click();
  await alice.getByText("Waiting for an answer").waitFor();
  await bob.reload();
  await bob.getByRole("button", { name: "Accept" }).click();
  await bob.getByRole("button", { name: "Message" }).click();
  await bob.waitForURL(/\/c\/\d+$/);

  // Both connect Streamflix (Streamflix lists only friends who use it too).
  const aliceSite = await connectStreamflix(aliceContext, "alice", "streamflix-01-consent.png");
  await connectStreamflix(bobContext, "bob");
  await bob.bringToFront();
  await streamOpen(bob);

  // Alice shares the film with Bob from the title page.
  await aliceSite.reload();
  const sharing = aliceSite.locator('section[data-surface="title_page"]');
  await sharing.getByLabel("Bob").check();
  await aliceSite.screenshot({ path: join(output, "streamflix-02-share.png"), fullPage: true });
  await sharing.getByRole("button", { name: "Send to friends" }).click();
  await aliceSite.getByText("Sent to 1 friend(s) through Confidant.").waitFor();
  // The send answered with a redirect: reloading shows the page again and sends nothing
  // (the report below counts exactly one send).
  await aliceSite.reload();
  await aliceSite.getByText("Sent to 1 friend(s) through Confidant.").waitFor();

  // Bob sees it arrive live, labelled, and follows the card to Streamflix.
  const message = bob.locator(".message", { hasText: "The Long Night" });
  await message.waitFor();
  await message.getByText("via Streamflix").waitFor();
  await bob.screenshot({ path: join(output, "streamflix-03-received-live.png"), fullPage: true });
  await message.locator("a.rec-card").click();
  await bob.waitForURL(`${streamflix.url}/title/${film}?via=confidant`);
  await bob.getByText("A friend recommended this to you through Confidant.").waitFor();
  await bob.screenshot({ path: join(output, "streamflix-04-landed.png"), fullPage: true });

  // Alice's access log shows the send, and the downloaded log verifies offline.
  await alice.goto(`${server.url}/settings/access-log`);
  await alice.getByText("Streamflix sent a recommendation to Bob").waitFor();
  await alice.screenshot({ path: join(output, "streamflix-05-access-log.png"), fullPage: true });
  const [download] = await Promise.all([
    alice.waitForEvent("download"),
    alice.getByRole("link", { name: "Download the whole log" }).click(),
  ]);
  const exported = join(output, "streamflix-access-log.json");
  await download.saveAs(exported);
  const key = (await (await fetch(`${server.url}/.well-known/confidant-log-key`)).text()).trim();
  const verified = server.cli("log", "verify", exported, "--public-key", key);
  assert.match(verified, /^verified \d+ entries/);

  // A self-test report of today: one send and one click, in the web · title page cell.
  const today = new Date().toISOString().slice(0, 10);
  const report = JSON.parse(
    server.cli("report", "--app", app.client_id, "--from", today, "--days", "1",
      "--self-test", "--format", "json"),
  );
  assert.equal(report.self_test, true);
  const active = report.rows.filter((row) => row.sends || row.clicks);
  assert.equal(active.length, 1, JSON.stringify(active));
  assert.equal(active[0].interface, "web");
  assert.equal(active[0].initiation_surface, "title_page");
  assert.equal(active[0].channel, "confidant");
  assert.equal(active[0].sends, 1);
  assert.equal(active[0].clicks, 1);
  // Streamflix shows the report Confidant released to it.
  await aliceSite.goto(`${streamflix.url}/reports`);
  await aliceSite.getByText(/SELF-TEST REPORT/).waitFor();
  await aliceSite.getByRole("heading", { name: "Every report" }).waitFor();
  await aliceSite.locator("table.cells tbody tr").first().getByText("title_page").waitFor();
  await aliceSite.screenshot({ path: join(output, "streamflix-06-report.png"), fullPage: true });

  // Alice lets Streamflix read one conversation she picks, to discuss the film there: the
  // consent page offers her conversations, and the title page then shows that one only.
  await aliceSite.goto(`${streamflix.url}/title/${film}`);
  await aliceSite.getByRole("button", { name: "Discuss this film in a group you pick" }).click();
  await aliceSite.getByText("except in the conversations you pick below").waitFor();
  await aliceSite.locator("fieldset.threads").getByLabel("Bob").check();
  await aliceSite.getByLabel(/what was said before today/).check();
  await aliceSite.getByRole("button", { name: "Allow" }).click();
  await aliceSite.getByRole("heading", { name: "In “Bob”" }).waitFor();
  assert.ok((await aliceSite.locator("ul.discussion li").count()) >= 1);
  await aliceSite.screenshot({ path: join(output, "streamflix-06b-discussion.png"), fullPage: true });

  // Alice disconnects Streamflix in Confidant; Streamflix's next call fails and it offers
  // to reconnect. Told by webhook, it deletes what it held about her and logs it.
  await alice.goto(`${server.url}/settings/apps`);
  await alice.getByText("Disconnect Streamflix…").click();
  await alice.getByRole("button", { name: "Yes, disconnect Streamflix" }).click();
  await alice.getByText("You have not connected any apps.").waitFor();
  await aliceSite.goto(`${streamflix.url}/title/${film}`);
  await aliceSite.getByRole("button", { name: "Reconnect Confidant" }).first().waitFor();
  await aliceSite.getByText("Confidant no longer lets Streamflix share for you.").first().waitFor();
  await aliceSite.screenshot({ path: join(output, "streamflix-07-reconnect.png"), fullPage: true });
  for (let attempt = 0; ; attempt++) {
    await aliceSite.goto(`${streamflix.url}/account`);
    if ((await aliceSite.getByText(/deleted the Confidant connection and \d+ share records/).count()) > 0) break;
    assert.ok(attempt < 20, "Streamflix logged the deletion webhook");
    await aliceSite.waitForTimeout(500);
  }
  await aliceSite.screenshot({ path: join(output, "streamflix-08-deleted.png"), fullPage: true });
  // Each user sees only their own records: Bob's account page says nothing about Alice.
  const bobSite = await bobContext.newPage();
  await bobSite.goto(`${streamflix.url}/account`);
  await bobSite.getByRole("heading", { name: "bob", exact: true }).waitFor();
  assert.equal(await bobSite.getByText(/for alice/).count(), 0);
});
