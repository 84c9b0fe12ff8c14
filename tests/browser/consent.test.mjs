// A partner app sends a member to Confidant's consent page: the scopes read in plain words,
// the member unticks an optional one, and the browser comes back to the app with `code`,
// `state` and `iss`; the token then carries only what was granted.
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
    server.cli(
      "apps", "create", "--name", "Streamflix", "--owner", "Streamflix Inc.",
      "--redirect-uri", redirectUri, "--homepage", "https://streamflix.example",
    ),
  );
  server.cli("apps", "approve", app.client_id);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const base64url = (bytes) => Buffer.from(bytes).toString("base64url");

test("the consent page explains scopes, lets one be unticked, and returns to the app", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // The partner's site is not reachable here; answer its callback in the browser.
  await page.route("https://streamflix.example/**", (route) =>
    route.fulfill({ contentType: "text/html", body: "<h1>Back at Streamflix</h1>" }),
  );

  await page.goto(`${server.url}/signup`);
  await page.getByLabel("Handle").fill("alice");
  await page.getByLabel("Display name").fill("Alice");
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.waitForURL(`${server.url}/friends`);

  const verifier = base64url(randomBytes(32));
  const challenge = base64url(createHash("sha256").update(verifier).digest());
  const state = base64url(randomBytes(12));
  const authorize = new URL(`${server.url}/oauth/authorize`);
  authorize.search = new URLSearchParams({
    response_type: "code",
    client_id: app.client_id,
    redirect_uri: redirectUri,
    scope: "profile friends:read messages:send",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  await page.goto(authorize.toString());

  await page.getByRole("heading", { name: "Connect Streamflix to your account?" }).waitFor();
  await page.getByText("See the list of your friends (their display names)").waitFor();
  await page.getByText("Send a recommendation to a friend you choose").waitFor();
  await page.getByText("read your messages or your inbox", { exact: false }).first().waitFor();
  const profile = page.getByLabel(/See your display name/);
  assert.equal(await profile.isDisabled(), true, "the profile is needed to connect");
  await page.getByLabel(/See the list of your friends/).uncheck();
  await page.screenshot({ path: join(output, "03-consent.png"), fullPage: true });

  await page.getByRole("button", { name: "Allow" }).click();
  await page.waitForURL(/^https:\/\/streamflix\.example\/callback\?/);
  const back = new URL(page.url());
  assert.match(back.searchParams.get("code"), /^cfd_code_/);
  assert.equal(back.searchParams.get("state"), state);
  assert.equal(back.searchParams.get("iss"), server.url);
  await page.screenshot({ path: join(output, "04-back-at-partner.png") });

  // The partner's backend redeems the code; the token says what was granted.
  const response = await fetch(`${server.url}/oauth/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: back.searchParams.get("code"),
      redirect_uri: redirectUri,
      code_verifier: verifier,
    }),
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("cache-control"), "no-store");
  const tokens = await response.json();
  assert.equal(tokens.scope, "profile messages:send");

  // And the member sees the app among their connected apps.
  await page.goto(`${server.url}/settings/apps`);
  await page.getByRole("heading", { name: "Streamflix" }).waitFor();
  await page.getByText("Disconnect Streamflix…").click();
  await page.getByRole("button", { name: "Yes, disconnect Streamflix" }).click();
  await page.getByText("Streamflix is disconnected").waitFor();
  await page.getByText("You have not connected any apps.").waitFor();
  const me = await fetch(`${server.url}/partner/v1/me`, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
  });
  assert.equal(me.status, 401);

  // Everything is in the member's access log, the refused call included.
  await page.goto(`${server.url}/settings/access-log`);
  await page.getByText("You connected Streamflix (profile messages:send)").waitFor();
  await page.getByText("Streamflix received an access token").waitFor();
  await page.getByText("You disconnected Streamflix").waitFor();
  await page.getByText("Streamflix was refused your name: you had disconnected it").waitFor();
  assert.equal(await page.locator(".log-entry.denied").count(), 1);
  await page.screenshot({ path: join(output, "05-access-log.png"), fullPage: true });
  await context.close();
});
