// Every page a member or an operator uses, on a phone (390×844) and checked by axe-core: no
// page scrolls sideways, the header fits, and axe reports no serious or critical violation.
// The conversation is also used by keyboard alone.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

import { startConfidant, chromiumOptions, befriend, openConversationWith, streamOpen } from "./server.mjs";

const output = join(import.meta.dirname, "output");
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true };
const redirectUri = "https://streamflix.example/back";
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
      "--redirect-uri", redirectUri, "--surfaces", "title_page",
      "--item-url-template", "https://streamflix.example/title/{item_id}",
    ),
  );
  server.cli("apps", "approve", app.client_id);
  server.cliWithInput("correct horse battery\n", "users", "create", "--handle", "root",
    "--display-name", "Operator", "--password-stdin", "--admin");
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A context that lets axe's script run beside the pages' strict Content-Security-Policy. */
const phoneContext = () => browser.newContext({ ...phone, bypassCSP: true });

async function check(page, name) {
  await page.waitForLoadState("load");
  const widths = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    header: document.querySelector("header.top").scrollWidth,
    headerBox: document.querySelector("header.top").clientWidth,
  }));
  assert.ok(widths.page <= widths.viewport, `${name} scrolls sideways: ${JSON.stringify(widths)}`);
  assert.ok(widths.header <= widths.headerBox, `${name}: the header does not fit: ${JSON.stringify(widths)}`);
  await page.screenshot({ path: join(output, `phone-${name}.png`), fullPage: true });
  await page.addScriptTag({ content: axeSource });
  const violations = await page.evaluate(async () => {
    const results = await window.axe.run(document, { resultTypes: ["violations"] });
    return results.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
  assert.deepEqual(violations, [], `${name}: axe found serious violations`);
}

test("every page fits a phone and passes axe-core", async () => {
  const alice = await server.signUp(await phoneContext(), "alice", "Alice Wonderland-Longname");
  const bob = await server.signUp(await phoneContext(), "bob", "Bob");
  await befriend(alice, bob, "bob");
  await openConversationWith(alice, "Bob");
  const box = alice.getByRole("textbox", { name: "Message" });
  await box.fill("A very long word: " + "supercalifragilistic".repeat(8) + " and https://example.com/" + "x".repeat(120));
  await box.press("Enter");
  await alice.locator("#messages .message:not(.pending)").first().waitFor();
  const conversation = alice.url();

  // A recommendation through the share dialog, so the conversation shows a card.
  const params = new URLSearchParams({
    client_id: app.client_id, redirect_uri: redirectUri, item_id: "7", title: "Seven Seas",
    description: "Pirates, mostly, and a long voyage across every one of the seven seas",
    image_url: "https://streamflix.example/seven.jpg", surface: "title_page", state: "s-1",
  });
  await alice.route("https://streamflix.example/**", (route) =>
    route.fulfill({ contentType: "text/html", body: "<h1>Back</h1>" }),
  );
  await alice.goto(`${server.url}/share?${params}`);
  await check(alice, "share");
  await alice.getByRole("checkbox", { name: /Bob/ }).check();
  await alice.getByRole("button", { name: "Share" }).click();
  await alice.waitForURL(/^https:\/\/streamflix\.example\/back/);

  const consent = new URL(`${server.url}/oauth/authorize`);
  consent.search = new URLSearchParams({
    response_type: "code", client_id: app.client_id, redirect_uri: redirectUri,
    scope: "profile friends:read messages:send", state: "xyz",
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256",
  }).toString();

  const pages = [
    ["inbox", `${server.url}/`],
    ["conversation", conversation],
    ["friends", `${server.url}/friends`],
    ["settings", `${server.url}/settings`],
    ["connected-apps", `${server.url}/settings/apps`],
    ["access-log", `${server.url}/settings/access-log`],
    ["search", `${server.url}/search?q=supercal`],
    ["apps", `${server.url}/apps`],
    ["consent", consent.toString()],
  ];
  for (const [name, url] of pages) {
    await alice.goto(url);
    await check(alice, name);
  }
  // Bob sees the card as a link preview: the app, the title, the description, no bare host.
  await bob.goto(conversation);
  const card = bob.locator(".rec-card");
  await card.waitFor();
  assert.match(await card.textContent(), /Streamflix[\s\S]*Seven Seas[\s\S]*Pirates, mostly/);
  assert.doesNotMatch(await card.textContent(), /streamflix\.example|127\.0\.0\.1/);
  assert.equal(await card.locator(".rec-image").count(), 1, "the image's place is held");
  await check(bob, "conversation-with-card");

  // A recipient can remove the recommendation from their own view.
  await bob.locator(".message", { has: card }).getByRole("button", { name: "Remove from my view" }).click();
  await card.waitFor({ state: "detached" });
  await bob.reload();
  assert.equal(await bob.locator(".rec-card").count(), 0);

  const signedOut = await phoneContext();
  const visitor = await signedOut.newPage();
  for (const [name, path] of [["login", "/login"], ["signup", "/signup"], ["welcome", "/"], ["docs", "/docs"]]) {
    await visitor.goto(`${server.url}${path}`);
    await check(visitor, name);
  }

  const operator = await (await phoneContext()).newPage();
  await operator.goto(`${server.url}/login`);
  await operator.getByLabel("Handle").fill("root");
  await operator.getByLabel("Password").fill("correct horse battery");
  await operator.getByRole("button", { name: "Log in" }).click();
  await operator.waitForURL(`${server.url}/`);
  for (const [name, path] of [
    ["admin-apps", "/admin/apps"],
    ["admin-app", `/admin/apps/${app.client_id}`],
    ["admin-members", "/admin/members"],
    ["admin-reports", "/admin/reports"],
  ]) {
    await operator.goto(`${server.url}${path}`);
    await check(operator, name);
  }
});

test("the conversation can be used by keyboard alone", async () => {
  const carol = await server.signUp(await browser.newContext(), "carol", "Carol");
  const dave = await server.signUp(await browser.newContext(), "dave", "Dave");
  await befriend(carol, dave, "dave");
  // The first Tab reaches the skip link, which leads to the page's content.
  await carol.goto(`${server.url}/friends`);
  await carol.keyboard.press("Tab");
  assert.equal(await carol.evaluate(() => document.activeElement.className), "skip");
  await carol.keyboard.press("Enter");
  assert.equal(await carol.evaluate(() => document.activeElement.id), "main");
  await openConversationWith(carol, "Dave");
  // The message box has the focus on arrival; Enter sends.
  await carol.getByRole("textbox", { name: "Message" }).focus();
  await carol.keyboard.type("Typed without a mouse");
  await carol.keyboard.press("Enter");
  const sent = carol.locator("#messages .message:not(.pending)", { hasText: "Typed without a mouse" });
  await sent.waitFor();
  // Tabbing into the message reaches its actions, which show while focused.
  await sent.getByRole("link", { name: /Reply to/ }).focus();
  await carol.keyboard.press("Tab");
  assert.equal(await carol.evaluate(() => document.activeElement.textContent), "Edit");
  assert.equal(await sent.locator(".message-actions").evaluate((e) => getComputedStyle(e).opacity), "1");
  // New messages from others are announced to screen readers.
  await openConversationWith(dave, "Carol");
  await dave.getByRole("textbox", { name: "Message" }).fill("Heard you");
  await dave.getByRole("textbox", { name: "Message" }).press("Enter");
  await carol.locator("#announcer", { hasText: "Dave: Heard you" }).waitFor({ timeout: 10_000 });
});
