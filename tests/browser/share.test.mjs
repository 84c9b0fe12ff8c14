// A partner app opens Confidant's send dialog: the member picks a friend and shares; the app
// learns only "shared". The friend, with the conversation open, sees the recommendation
// arrive live, labelled "via Streamflix", with its card.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

import { startConfidant, chromiumOptions, streamOpen } from "./server.mjs";

const output = join(import.meta.dirname, "output");
const redirectUri = "https://streamflix.example/shared";
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
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a recommendation shared through the dialog arrives labelled via the app", async () => {
  const alice = await server.signUp(await browser.newContext(), "alice", "Alice");
  const bob = await server.signUp(await browser.newContext(), "bob", "Bob");
  await alice.getByLabel("Their handle").fill("bob");
  await alice.getByRole("button", { name: "Send request" }).click();
  await alice.getByText("Waiting for an answer").waitFor();
  await bob.reload();
  await bob.getByRole("button", { name: "Accept" }).click();
  await bob.getByRole("button", { name: "Message" }).click();
  await bob.waitForURL(/\/c\/\d+$/);
  await streamOpen(bob);

  const params = new URLSearchParams({
    client_id: app.client_id,
    redirect_uri: redirectUri,
    item_id: "7",
    title: "Seven Seas",
    description: "Pirates, mostly",
    surface: "title_page",
    state: "s-1",
  });
  // The partner's site, which the dialog returns to.
  await alice.route("https://streamflix.example/**", (route) =>
    route.fulfill({ contentType: "text/html", body: "<h1>Back at Streamflix</h1>" }),
  );
  await alice.goto(`${server.url}/share?${params}`);
  await alice.getByRole("heading", { name: "Share from Streamflix" }).waitFor();
  await alice.getByText("Seven Seas").waitFor();
  await alice.getByLabel("Bob").check();
  await alice.getByLabel("Add a note (optional)").fill("Thought of you");
  await alice.screenshot({ path: join(output, "share-01-dialog.png"), fullPage: true });
  await alice.getByRole("button", { name: "Share" }).click();
  await alice.waitForURL(/^https:\/\/streamflix\.example\/shared\?/);
  const back = new URL(alice.url());
  assert.deepEqual([...back.searchParams.keys()].sort(), ["result", "state"]);
  assert.equal(back.searchParams.get("result"), "shared");
  assert.equal(back.searchParams.get("state"), "s-1");

  // Bob's open conversation shows it without a reload, labelled, with the tracked card.
  const message = bob.locator(".message", { hasText: "Thought of you" });
  await message.waitFor();
  await message.getByText("via Streamflix").waitFor();
  const card = message.locator("a.rec-card");
  assert.match(await card.getAttribute("href"), /^\/r\/[A-Za-z0-9_-]+\?i=web$/);
  await card.getByText("Seven Seas").waitFor();
  await bob.screenshot({ path: join(output, "share-02-received-live.png"), fullPage: true });

  // After a reload, the server-rendered page says the same.
  await bob.reload();
  await bob.locator(".message", { hasText: "Thought of you" }).getByText("via Streamflix").waitFor();
});
