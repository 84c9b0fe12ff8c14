// Two members sign up in two browsers, become friends, and a message Alice sends appears
// in Bob's open conversation without a reload.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

import { startConfidant, chromiumOptions, streamOpen } from "./server.mjs";

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

test("a message appears live in the recipient's open conversation", async () => {
  const alice = await server.signUp(await browser.newContext(), "alice", "Alice");
  const bob = await server.signUp(await browser.newContext(), "bob", "Bob");
  await alice.screenshot({ path: join(output, "01-alice-signed-up.png") });

  // Alice asks Bob to be friends; Bob accepts.
  await alice.getByLabel("Their handle").fill("bob");
  await alice.getByRole("button", { name: "Send request" }).click();
  await alice.getByText("Waiting for an answer").waitFor();
  await bob.reload();
  await bob.getByRole("button", { name: "Accept" }).click();
  await bob.getByRole("button", { name: "Message" }).waitFor();
  await bob.screenshot({ path: join(output, "02-bob-accepted.png") });

  // Both open their conversation.
  await bob.getByRole("button", { name: "Message" }).click();
  await bob.waitForURL(/\/c\/\d+$/);
  await alice.reload();
  await alice.getByRole("button", { name: "Message" }).click();
  await alice.waitForURL(bob.url());

  // Mark Bob's page so a reload would be noticed.
  await bob.evaluate(() => { window.__notReloaded = true; });
  await streamOpen(bob);

  await alice.getByLabel("Message").fill("Have you seen <b>Arrival</b>? 🎬");
  await alice.getByRole("button", { name: "Send" }).click();

  const arrived = bob.locator("#messages .message .body", { hasText: "Have you seen <b>Arrival</b>? 🎬" });
  await arrived.waitFor({ timeout: 10_000 });
  assert.equal(await bob.evaluate(() => window.__notReloaded), true, "Bob's page was not reloaded");
  assert.equal(await bob.locator("#messages b").count(), 0, "the message is text, not HTML");
  await bob.screenshot({ path: join(output, "03-bob-received-live.png") });
  await alice.screenshot({ path: join(output, "04-alice-sent.png") });

  // Bob's reading reaches Alice as a receipt.
  await alice.locator("#receipt", { hasText: "Seen by Bob" }).waitFor({ timeout: 10_000 });
  await alice.screenshot({ path: join(output, "05-alice-sees-receipt.png") });

  // The receipt re-rendered Alice's conversation; what Bob says next still appears live,
  // and each reading goes back as a receipt, turn after turn.
  await streamOpen(alice);
  await bob.getByLabel("Message").fill("Not yet, is it good?");
  await bob.getByRole("button", { name: "Send" }).click();
  await alice.locator("#messages .message .body", { hasText: "Not yet, is it good?" }).waitFor({ timeout: 10_000 });
  await bob.locator("#receipt", { hasText: "Seen by Alice" }).waitFor({ timeout: 10_000 });

  await alice.getByLabel("Message").fill("Very.");
  await alice.getByRole("button", { name: "Send" }).click();
  await bob.locator("#messages .message .body", { hasText: "Very." }).waitFor({ timeout: 10_000 });
  await alice.locator("#receipt", { hasText: "Seen by Bob" }).waitFor({ timeout: 10_000 });
  await bob.getByLabel("Message").fill("Then tonight.");
  await bob.getByRole("button", { name: "Send" }).click();
  await alice.locator("#messages .message .body", { hasText: "Then tonight." }).waitFor({ timeout: 10_000 });
  await alice.screenshot({ path: join(output, "06-alice-conversation-goes-on.png") });

  for (const page of [alice, bob]) {
    assert.equal(
      await page.locator("#messages .message").count(),
      4,
      "every message is shown once, none twice",
    );
  }
});
