// The everyday conversation, as two members in two browsers use it: Enter sends without a
// reload, a failed send is retried once, edits, deletes and replies reach the other side live,
// unread counts show in the navigation and the tab, search leads into the conversation, and
// a group's changes show as lines.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

import { startConfidant, chromiumOptions, streamOpen, befriend, openConversationWith } from "./server.mjs";

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

const shot = (page, name) => page.screenshot({ path: join(output, `conversation-${name}.png`) });
const bubble = (page, text) => page.locator("#messages .message", { hasText: text });

test("sending, editing, deleting and replying, seen live on both sides", async () => {
  const alice = await server.signUp(await browser.newContext(), "alice", "Alice");
  const bob = await server.signUp(await browser.newContext(), "bob", "Bob");
  await befriend(alice, bob, "bob");
  await openConversationWith(bob, "Alice");
  await openConversationWith(alice, "Bob");
  await alice.evaluate(() => { window.__notReloaded = true; });

  // Enter sends; Shift+Enter is a new line. The page stays, the box keeps the focus.
  const box = alice.getByRole("textbox", { name: "Message" });
  await box.click();
  await box.pressSequentially("Dinner on Friday?");
  await box.press("Shift+Enter");
  await box.pressSequentially("At the lighthouse.");
  await box.press("Enter");
  const sent = bubble(alice, "Dinner on Friday?");
  await sent.waitFor();
  assert.equal(await sent.locator(".body").textContent(), "Dinner on Friday?\nAt the lighthouse.");
  assert.equal(await alice.evaluate(() => window.__notReloaded), true, "sending does not reload");
  assert.equal(await alice.evaluate(() => document.activeElement.id), "body", "the box keeps the focus");
  assert.equal(await box.inputValue(), "");
  await alice.locator('#messages .message[data-message]:not(.pending)', { hasText: "Dinner" }).waitFor();
  await bubble(bob, "Dinner on Friday?").waitFor({ timeout: 10_000 });
  await shot(alice, "01-sent-with-enter");

  // A send that fails is shown as not sent, and a retry stores it once.
  await alice.context().setOffline(true);
  await box.fill("Are you there?");
  await box.press("Enter");
  await alice.locator("#messages .message.failed", { hasText: "Are you there?" }).waitFor();
  await shot(alice, "02-not-sent");
  await alice.context().setOffline(false);
  await alice.locator("#messages .message.failed").getByRole("button", { name: "Retry" }).click();
  await alice.locator("#messages .message:not(.pending)", { hasText: "Are you there?" }).waitFor();
  await bubble(bob, "Are you there?").waitFor({ timeout: 10_000 });
  await streamOpen(alice);

  // Bob answers the first message; both see the quote.
  const question = bubble(bob, "Dinner on Friday?");
  await question.hover();
  await question.getByRole("link", { name: "Reply to Alice" }).click();
  await bob.locator("#replying", { hasText: "Replying to Alice" }).waitFor();
  const bobsBox = bob.getByRole("textbox", { name: "Message" });
  await bobsBox.fill("Yes! Seven?");
  await bobsBox.press("Enter");
  for (const page of [bob, alice]) {
    const reply = bubble(page, "Yes! Seven?");
    await reply.locator(".quote", { hasText: "Dinner on Friday?" }).waitFor({ timeout: 10_000 });
  }
  await shot(alice, "03-reply-quoted");

  // Alice edits her message; Bob sees the new words, marked edited, and so does the quote.
  const mine = bubble(alice, "Dinner on Friday?").first();
  await mine.hover();
  await mine.getByRole("link", { name: "Edit" }).click();
  const editor = alice.getByRole("textbox", { name: "Edit your message" });
  await editor.fill("Dinner on Saturday?");
  await editor.press("Enter");
  const edited = bubble(bob, "Dinner on Saturday?").first();
  await edited.locator(".edited").waitFor({ timeout: 10_000 });
  await bob.locator("#messages .quote", { hasText: "Dinner on Saturday?" }).waitFor({ timeout: 10_000 });
  await shot(bob, "04-edited-live");

  // Alice deletes "Are you there?"; Bob sees it deleted, live.
  alice.once("dialog", (dialog) => dialog.accept());
  const extra = bubble(alice, "Are you there?");
  await extra.hover();
  await extra.getByRole("button", { name: "Delete" }).click();
  await bob.locator("#messages .message.deleted", { hasText: "message deleted" }).waitFor({ timeout: 10_000 });
  assert.equal(await bubble(bob, "Are you there?").count(), 0);
  await shot(bob, "05-deleted-live");

  // Every message appears once on both sides, whatever went through the stream.
  for (const page of [alice, bob]) {
    assert.equal(await page.locator("#messages .message").count(), 3);
  }
  // Receipts are shown on your own newest message only: the newest is Bob's, so Alice's page
  // shows none, and Bob's says Alice has seen it.
  await alice.waitForFunction(() => document.getElementById("receipt").textContent === "");
  await bob.locator("#receipt", { hasText: "Seen by Alice" }).waitFor({ timeout: 10_000 });

  // Times read at a glance, with the exact time on hover, under a day header.
  await alice.locator("#messages li.day", { hasText: "Today" }).waitFor();
  const time = alice.locator("#messages .message time").first();
  assert.match(await time.textContent(), /just now|min ago/);
  assert.ok((await time.getAttribute("title")).length > 10, "the exact time is on hover");
});

test("unread counts, the friend request badge and search", async () => {
  const carol = await server.signUp(await browser.newContext(), "carol", "Carol");
  const dave = await server.signUp(await browser.newContext(), "dave", "Dave");
  // Dave asks Carol; the badge says so on Carol's pages.
  await dave.goto(`${server.url}/friends`);
  await dave.getByLabel("Their handle").fill("carol");
  await dave.getByRole("button", { name: "Send request" }).click();
  await carol.goto(`${server.url}/`);
  await carol.locator("#nav-requests:not([hidden])", { hasText: "1" }).waitFor();
  await carol.goto(`${server.url}/friends`);
  await carol.getByRole("button", { name: "Accept" }).click();
  await carol.getByRole("button", { name: "Message" }).waitFor();
  assert.equal(await carol.locator("#nav-requests").isHidden(), true);

  // Carol waits in her inbox; Dave writes twice.
  await openConversationWith(dave, "Carol");
  await carol.goto(`${server.url}/`);
  await streamOpen(carol);
  const box = dave.getByRole("textbox", { name: "Message" });
  for (const text of ["The lighthouse keeper's diary", "is a wonderful book"]) {
    await box.fill(text);
    await box.press("Enter");
    await dave.locator("#messages .message:not(.pending)", { hasText: text }).waitFor();
  }
  await carol.locator("#nav-unread:not([hidden])", { hasText: "2" }).waitFor({ timeout: 10_000 });
  await carol.waitForFunction(() => document.title.startsWith("(2) "));
  await shot(carol, "06-unread-in-nav-and-title");

  // Carol searches; the result leads to the message in its conversation.
  await carol.getByRole("searchbox", { name: "Search conversations" }).fill("lightho");
  await carol.getByRole("searchbox", { name: "Search conversations" }).press("Enter");
  await carol.waitForURL(/\/search\?q=lightho/);
  const result = carol.locator(".results a", { hasText: "The lighthouse keeper" });
  await result.waitFor();
  assert.equal(await carol.locator(".results li").count(), 1);
  await shot(carol, "07-search-results");
  await result.click();
  await carol.waitForURL(/\/c\/\d+\?before=\d+#m\d+$/);
  await carol.locator("#messages .message.highlight", { hasText: "The lighthouse keeper" }).waitFor();
  // Reading the conversation clears the count.
  await carol.goto(`${server.url}/`);
  await carol.locator("#conversations a", { hasText: "Dave" }).click();
  await carol.waitForURL(/\/c\/\d+$/);
  assert.equal(await carol.locator("#nav-unread").isHidden(), true);
  assert.doesNotMatch(await carol.title(), /^\(/);

  // Dave's words are not Alice's to find.
  const eve = await server.signUp(await browser.newContext(), "eve", "Eve");
  await eve.goto(`${server.url}/search?q=lighthouse`);
  await eve.getByText("Nothing found.").waitFor();
});

test("a group shows who was added, who renamed it and who left", async () => {
  const frank = await server.signUp(await browser.newContext(), "frank", "Frank");
  const grace = await server.signUp(await browser.newContext(), "grace", "Grace");
  const heidi = await server.signUp(await browser.newContext(), "heidi", "Heidi");
  await befriend(frank, grace, "grace");
  await befriend(frank, heidi, "heidi");
  await frank.goto(`${server.url}/`);
  await frank.getByLabel("Group name").fill("Film club");
  await frank.getByRole("checkbox", { name: "Grace" }).check();
  await frank.getByRole("button", { name: "Create group" }).click();
  await frank.waitForURL(/\/c\/\d+$/);
  const group = frank.url();
  await grace.goto(group);
  await streamOpen(grace);

  await frank.getByRole("checkbox", { name: "Heidi" }).check();
  await frank.getByRole("button", { name: "Add" }).click();
  await frank.getByLabel("Group name").fill("Book club");
  await frank.getByRole("button", { name: "Rename" }).click();
  await heidi.goto(group);
  heidi.once("dialog", (dialog) => dialog.accept());
  await heidi.getByRole("button", { name: "Leave group" }).click();
  await heidi.waitForURL(`${server.url}/`);

  for (const line of ["Frank added Heidi", "Frank renamed the group to “Book club”", "Heidi left"]) {
    await grace.locator("#messages .system", { hasText: line }).waitFor({ timeout: 10_000 });
  }
  await grace.getByRole("heading", { name: "Book club" }).waitFor({ timeout: 10_000 });
  await shot(grace, "08-group-lines");
});

test("without JavaScript, every action still works through forms", async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const ivan = await server.signUp(context, "ivan", "Ivan");
  const judy = await server.signUp(await browser.newContext(), "judy", "Judy");
  await befriend(ivan, judy, "judy");
  await ivan.goto(`${server.url}/friends`);
  await ivan.getByRole("button", { name: "Message" }).click();
  await ivan.waitForURL(/\/c\/\d+$/);
  const box = ivan.getByRole("textbox", { name: "Message" });
  await box.fill("first words");
  await ivan.getByRole("button", { name: "Send" }).click();
  await bubble(ivan, "first words").waitFor();
  // Reply, edit and delete are links and forms.
  await bubble(ivan, "first words").getByRole("link", { name: "Reply to Ivan" }).click();
  await ivan.locator("#replying", { hasText: "Replying to Ivan" }).waitFor();
  await box.fill("second words");
  await ivan.getByRole("button", { name: "Send" }).click();
  await bubble(ivan, "second words").locator(".quote", { hasText: "first words" }).waitFor();
  await bubble(ivan, "first words").first().getByRole("link", { name: "Edit" }).click();
  await ivan.getByRole("textbox", { name: "Edit your message" }).fill("first words, edited");
  await ivan.getByRole("button", { name: "Save" }).click();
  await bubble(ivan, "first words, edited").locator(".edited").waitFor();
  await bubble(ivan, "second words").getByRole("button", { name: "Delete" }).click();
  await ivan.locator("#messages .message.deleted").waitFor();
  await shot(ivan, "09-without-javascript");
});
