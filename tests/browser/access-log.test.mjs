// The access-log page checks, in the browser, that the member's log was only ever appended
// to: the signed checkpoint is verified with WebCrypto's Ed25519 against the server's key, the
// last one seen is kept in the browser, and a consistency proof links it to the next. A log
// that changed or shrank since is called out loudly.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

import { startConfidant, chromiumOptions } from "./server.mjs";

const output = join(import.meta.dirname, "output");
const redirectUri = "https://streamflix.example/callback";
let server;
let browser;
let app;

before(async () => {
  mkdirSync(output, { recursive: true });
  server = await startConfidant();
  browser = await chromium.launch(chromiumOptions);
  app = JSON.parse(
    server.cli("apps", "create", "--name", "Streamflix", "--redirect-uri", redirectUri),
  );
  server.cli("apps", "approve", app.client_id);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const base64url = (bytes) => Buffer.from(bytes).toString("base64url");

/** Connects Streamflix for the member signed in on `page`; returns an access token. */
async function connect(page) {
  await page.route("https://streamflix.example/**", (route) =>
    route.fulfill({ contentType: "text/html", body: "<h1>Back at Streamflix</h1>" }),
  );
  const verifier = base64url(randomBytes(32));
  const authorize = new URL(`${server.url}/oauth/authorize`);
  authorize.search = new URLSearchParams({
    response_type: "code",
    client_id: app.client_id,
    redirect_uri: redirectUri,
    scope: "profile",
    state: "s",
    code_challenge: base64url(createHash("sha256").update(verifier).digest()),
    code_challenge_method: "S256",
  }).toString();
  await page.goto(authorize.toString());
  await page.getByRole("button", { name: "Allow" }).click();
  await page.waitForURL(/^https:\/\/streamflix\.example\/callback\?/);
  const code = new URL(page.url()).searchParams.get("code");
  const response = await fetch(`${server.url}/oauth/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({
      grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: verifier,
    }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).access_token;
}

async function readName(token) {
  const response = await fetch(`${server.url}/partner/v1/me`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200);
}

test("the page proves the log only grew, and calls out a rewritten one", async () => {
  const context = await browser.newContext();
  const page = await server.signUp(context, "alice", "Alice");
  const token = await connect(page);
  const check = page.locator("#log-consistency");

  // First visit: the signature is checked and the checkpoint kept.
  await page.goto(`${server.url}/settings/access-log`);
  await page.waitForFunction(() => document.getElementById("log-consistency").dataset.state !== "pending");
  assert.equal(await check.getAttribute("data-state"), "ok", await check.textContent());
  assert.match(await check.textContent(), /Signed checkpoint checked: 2 entries/);

  // The app reads alice's name three times: the page groups them, the details fold away,
  // and the next visit proves the log only grew.
  for (let i = 0; i < 3; i++) await readName(token);
  await page.reload();
  await page.waitForFunction(() => document.getElementById("log-consistency").dataset.state !== "pending");
  assert.match(await check.textContent(), /only grew since your last visit \(2 → 5 entries\)/);
  await page.getByText("Streamflix read your name · 3 times today").waitFor();
  const details = page.locator(".log-entry").first().locator("details");
  assert.equal(await details.getAttribute("open"), null, "request ids are behind a toggle");
  await details.locator("summary").click();
  await details.getByText("action profile.read").waitFor();
  await page.screenshot({ path: join(output, "access-log-checked.png"), fullPage: true });

  // What the browser kept no longer matches: the same size with another root, then a log
  // that lost entries. Both are called out, with the kept checkpoint as evidence.
  const key = await check.getAttribute("data-origin");
  await page.evaluate((origin) => {
    const storageKey = `confidant.access-log.${origin}`;
    const saved = JSON.parse(localStorage.getItem(storageKey));
    saved.root = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
    localStorage.setItem(storageKey, JSON.stringify(saved));
  }, key);
  await page.reload();
  await page.waitForFunction(() => document.getElementById("log-consistency").dataset.state !== "pending");
  assert.equal(await check.getAttribute("data-state"), "rewritten");
  assert.match(await check.textContent(), /WARNING: your log was rewritten.*an entry was changed/);
  assert.equal(await check.getAttribute("role"), "alert");
  await page.screenshot({ path: join(output, "access-log-rewritten.png"), fullPage: true });

  await page.evaluate((origin) => {
    const storageKey = `confidant.access-log.${origin}`;
    const saved = JSON.parse(localStorage.getItem(storageKey));
    saved.size = 50;
    localStorage.setItem(storageKey, JSON.stringify(saved));
  }, key);
  await page.reload();
  await page.waitForFunction(() => document.getElementById("log-consistency").dataset.state !== "pending");
  assert.match(await check.textContent(), /saw 50 entries.*now shows 5.*Entries were removed/);

  // A proof from an honest earlier checkpoint of a smaller log still verifies.
  await page.evaluate((origin) => localStorage.removeItem(`confidant.access-log.${origin}`), key);
  await page.reload();
  await page.waitForFunction(() => document.getElementById("log-consistency").dataset.state !== "pending");
  for (let i = 0; i < 4; i++) await readName(token);
  await page.reload();
  await page.waitForFunction(() => document.getElementById("log-consistency").dataset.state !== "pending");
  assert.match(await check.textContent(), /only grew since your last visit \(5 → 9 entries\)/);
  await context.close();
});
