// What operators and readers of the documentation see: the API docs on a phone, the app and
// member administration pages, and a report opened inside the app under its strict CSP.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

import { startConfidant, chromiumOptions } from "./server.mjs";

const output = join(import.meta.dirname, "output");
let server;
let browser;

before(async () => {
  mkdirSync(output, { recursive: true });
  server = await startConfidant();
  browser = await chromium.launch(chromiumOptions);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the API docs read on a phone, grouped by tag, with schemas as tables", async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const page = await context.newPage();
  await page.goto(`${server.url}/docs`);
  await page.getByRole("navigation", { name: "Contents" }).getByRole("link", { name: "oauth" }).click();
  await page.locator("#tag-oauth").getByText("/oauth/token").first().waitFor();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling on a phone (${width}px)`);
  // A request body links to its schema, which is a table of fields.
  await page.locator("#schema-NewMessageIn table.fields").getByText("body").first().waitFor();
  assert.equal(await page.locator(".docs .prose strong, .docs .prose code").count() > 0, true, "Markdown is rendered");
  await page.screenshot({ path: join(output, "docs-phone.png") });
  await context.close();
});

test("operators change an app and suspend a member, and read a report under the CSP", async () => {
  server.cliWithInput("a long operator password\n", "users", "create", "--handle", "root", "--password-stdin", "--admin");
  const app = JSON.parse(server.cli(
    "apps", "create", "--name", "Streamflix", "--redirect-uri", "https://streamflix.example/cb",
    "--surfaces", "title_page",
  ));
  server.cli("apps", "approve", app.client_id);
  const context = await browser.newContext();
  const bob = await server.signUp(context, "bob", "Bob");
  await bob.close();

  const page = await context.newPage();
  await page.goto(`${server.url}/logout`).catch(() => {});
  await context.clearCookies();
  await page.goto(`${server.url}/login`);
  await page.getByLabel("Handle").fill("root");
  await page.getByLabel("Password").fill("a long operator password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));

  // The app's page: rename it and rotate its secret with a grace period.
  await page.goto(`${server.url}/admin/apps`);
  await page.getByRole("link", { name: "Streamflix" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Streamflix Plus");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByText("Saved.").waitFor();
  await page.getByLabel("The current secret keeps working for").selectOption("24");
  await page.getByRole("button", { name: "Make a new secret" }).click();
  await page.getByText(/^New client_secret:/).waitFor();
  await page.getByText(/The previous secret keeps working until/).waitFor();
  await page.screenshot({ path: join(output, "admin-app.png"), fullPage: true });

  // Members: bob is suspended, and says so.
  await page.goto(`${server.url}/admin/members`);
  const row = page.locator("tr", { hasText: "@bob" });
  await row.getByRole("button", { name: "Suspend" }).click();
  await page.locator("tr", { hasText: "@bob" }).getByText(/^suspended/).waitFor();
  await page.screenshot({ path: join(output, "admin-members.png"), fullPage: true });

  // A self-test report of today, opened from /admin/reports: its own stylesheet applies
  // although the app's policy allows no inline style but this one.
  const today = new Date().toISOString().slice(0, 10);
  server.cli("report", "--app", app.client_id, "--from", today, "--days", "1", "--self-test", "--format", "json");
  await page.goto(`${server.url}/admin/reports`);
  const blocked = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
  });
  await page.getByRole("link", { name: "view" }).first().click();
  const selfTest = page.locator(".self-test");
  await selfTest.waitFor();
  const border = await selfTest.evaluate((box) => getComputedStyle(box).borderTopStyle);
  assert.equal(border, "solid", "the SELF-TEST box keeps its frame");
  assert.deepEqual(blocked, []);
  await page.screenshot({ path: join(output, "report-in-app.png"), fullPage: true });
  await context.close();
});
