// Files in a conversation, as two members use them: a photo picked from disk shows as a
// thumbnail on the other side, live; a file dropped on the conversation and a picture pasted
// into the box are sent too; nothing uploaded runs as a page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

import { startConfidant, chromiumOptions, befriend, openConversationWith } from "./server.mjs";

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

const shot = (page, name) => page.screenshot({ path: join(output, `attachments-${name}.png`) });

// A PNG drawn in the page, as bytes.
async function drawnPng(page, width, height) {
  const base64 = await page.evaluate(async ([w, h]) => {
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const context = canvas.getContext("2d");
    context.fillStyle = "#3b5bdb";
    context.fillRect(0, 0, w, h);
    context.fillStyle = "#ffd43b";
    context.fillRect(w / 4, h / 4, w / 2, h / 2);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    const bytes = new Uint8Array(await blob.arrayBuffer());
    return btoa(String.fromCharCode(...bytes));
  }, [width, height]);
  return Buffer.from(base64, "base64");
}

test("a photo, a dropped file and a pasted picture reach the other side", async () => {
  const alice = await server.signUp(await browser.newContext(), "alice", "Alice");
  const bob = await server.signUp(await browser.newContext(), "bob", "Bob");
  await befriend(alice, bob, "bob");
  await openConversationWith(bob, "Alice");
  await openConversationWith(alice, "Bob");

  // Picked with the Attach button: uploaded at once, shown ready with its thumbnail.
  const photo = await drawnPng(alice, 1200, 800);
  await alice.locator("#attach-input").setInputFiles({ name: "lighthouse.png", mimeType: "image/png", buffer: photo });
  const chip = alice.locator("#pending-files li", { hasText: "lighthouse.png" });
  await chip.locator("img").waitFor();
  await shot(alice, "01-ready-to-send");
  // No words needed: Enter sends the file.
  const box = alice.getByRole("textbox", { name: "Message" });
  await box.press("Enter");
  await alice.locator("#messages .message[data-message]:not(.pending) .files img").waitFor();
  assert.equal(await alice.locator("#pending-files li").count(), 0, "the draft's files went with it");

  // Bob sees the thumbnail live, served from this origin, and it opens the full picture.
  const thumbnail = bob.locator("#messages .message .files img[alt='lighthouse.png']");
  await thumbnail.waitFor({ timeout: 10_000 });
  await bob.waitForFunction(
    () => document.querySelector("#messages .files img")?.naturalWidth > 0,
  );
  const size = await thumbnail.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
  assert.deepEqual(size, [320, 213], "a thumbnail at most 320 pixels a side");
  const href = await thumbnail.locator("xpath=..").getAttribute("href");
  assert.match(href, /^\/api\/v1\/attachments\/\d+$/);
  const full = await bob.request.get(`${server.url}${href}`);
  assert.equal(full.status(), 200);
  assert.equal(full.headers()["content-type"], "image/png");
  await shot(bob, "02-thumbnail-on-the-other-side");

  // After a reload the server renders the same thing.
  await bob.reload();
  await bob.locator("#messages .files img[alt='lighthouse.png']").waitFor();

  // A file dropped on the conversation: an HTML page, which is only ever a download.
  await alice.evaluate(() => {
    const transfer = new DataTransfer();
    transfer.items.add(new File(["<script>alert(1)</script>"], "page.html", { type: "text/html" }));
    const zone = document.querySelector(".conversation");
    zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
  });
  await alice.locator("#pending-files li", { hasText: "page.html" }).locator(".file-size", { hasText: "bytes" }).waitFor();
  await box.fill("the page");
  await box.press("Enter");
  const download = bob.locator("#messages .files a.file", { hasText: "page.html" });
  await download.waitFor({ timeout: 10_000 });
  assert.equal(await download.getAttribute("download"), "page.html");
  const served = await bob.request.get(`${server.url}${await download.getAttribute("href")}`);
  assert.equal(served.headers()["content-type"], "application/octet-stream");
  assert.match(served.headers()["content-disposition"], /^attachment;/);

  // A picture pasted into the box.
  const pasted = await drawnPng(alice, 60, 40);
  await alice.evaluate((base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], "image.png", { type: "image/png" }));
    const box = document.getElementById("body");
    box.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true }));
  }, pasted.toString("base64"));
  await alice.locator("#pending-files li", { hasText: "image.png" }).locator("img").waitFor();
  await box.press("Enter");
  await bob.locator("#messages .files img[alt='image.png']").waitFor({ timeout: 10_000 });
  await shot(bob, "03-all-three");
});
