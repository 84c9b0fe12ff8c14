// Notifications, as a member turns them on and receives them: Settings registers the service
// worker and subscribes this browser with the server's VAPID key; a message sent while the
// browser has no Confidant page open reaches its push service encrypted to it (this test
// holds the browser's keys, and decrypts it with an RFC 8291 decryptor of its own); and the
// service worker shows what the push says.
//
// Headless Chromium has no push service to subscribe with (it would be Google's), so the
// browser's PushManager is stood in for by one whose endpoint is the test's own push service
// on loopback. Everything else is the real page, the real service worker and the real server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createECDH, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

import { startConfidant, chromiumOptions, befriend, openConversationWith } from "./server.mjs";

const output = join(import.meta.dirname, "output");
let server;
let browser;
let pushService;
const received = [];

before(async () => {
  mkdirSync(output, { recursive: true });
  pushService = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(201).end();
    });
  });
  await new Promise((listening) => pushService.listen(0, "127.0.0.1", listening));
  server = await startConfidant({ CONFIDANT_PUSH__ALLOWED_NETWORKS: '["127.0.0.0/8"]' });
  browser = await chromium.launch(chromiumOptions);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  pushService?.close();
});

// RFC 8291: what the browser holding `ecdh` and `auth` reads from a push body.
function decrypt(body, ecdh, auth) {
  const salt = body.subarray(0, 16);
  const idlen = body[20];
  const serverKey = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  const shared = ecdh.computeSecret(serverKey);
  const info = Buffer.concat([Buffer.from("WebPush: info\0"), ecdh.getPublicKey(), serverKey]);
  const ikm = Buffer.from(hkdfSync("sha256", shared, auth, info, 32));
  const key = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
  const nonce = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));
  const decipher = createDecipheriv("aes-128-gcm", key, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  // The last record ends with a 0x02 delimiter, then zero padding.
  return JSON.parse(padded.subarray(0, padded.lastIndexOf(2)).toString("utf8"));
}

async function waitForPush(count) {
  for (let i = 0; i < 200 && received.length < count; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(received.length, count, `${count} push(es) arrived`);
  return received[count - 1];
}

test("turned on in Settings, a message reaches the browser as a notification", async () => {
  const alice = await server.signUp(await browser.newContext(), "alice", "Alice");
  const bobContext = await browser.newContext();
  await bobContext.grantPermissions(["notifications"], { origin: server.url });
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const auth = randomBytes(16);
  const endpoint = `http://127.0.0.1:${pushService.address().port}/push/bobs-browser`;
  await bobContext.addInitScript(({ endpoint, p256dh, auth }) => {
    const subscription = {
      endpoint,
      toJSON: () => ({ endpoint, expirationTime: null, keys: { p256dh, auth } }),
      unsubscribe: async () => { sessionStorage.removeItem("subscribed"); return true; },
    };
    PushManager.prototype.getSubscription = async () => (sessionStorage.getItem("subscribed") ? subscription : null);
    PushManager.prototype.subscribe = async (options) => {
      const key = new Uint8Array(options.applicationServerKey);
      sessionStorage.setItem("applicationServerKey", btoa(String.fromCharCode(...key)));
      sessionStorage.setItem("subscribed", "yes");
      return subscription;
    };
  }, { endpoint, p256dh: ecdh.getPublicKey().toString("base64url"), auth: auth.toString("base64url") });
  const bob = await server.signUp(bobContext, "bob", "Bob");
  await befriend(alice, bob, "bob");

  // Settings: off at first; turned on, with the text.
  await bob.goto(`${server.url}/settings`);
  const status = bob.locator("#push-status");
  await status.filter({ hasText: "Notifications are off in this browser." }).waitFor();
  await bob.getByLabel("Show the message's text in notifications").check();
  await bob.getByRole("button", { name: "Turn on in this browser" }).click();
  await status.filter({ hasText: "Notifications are on in this browser." }).waitFor();
  assert.equal(await bob.getByRole("button", { name: "Turn on in this browser" }).isVisible(), false);
  await bob.screenshot({ path: join(output, "push-01-settings.png") });
  const key = await bob.evaluate(() => sessionStorage.getItem("applicationServerKey"));
  const served = await (await bob.request.get(`${server.url}/api/v1/push/key`)).json();
  assert.equal(Buffer.from(key, "base64").toString("base64url"), served.public_key, "subscribed with the server's VAPID key");
  const worker = await bob.evaluate(async () => (await navigator.serviceWorker.ready).active?.scriptURL);
  assert.equal(worker, `${server.url}/sw.js`);

  // Bob's browser has no Confidant page open any more: Alice's message is pushed to it.
  const settingsUrl = bob.url();
  await bob.goto("about:blank");
  await openConversationWith(alice, "Bob");
  const box = alice.getByRole("textbox", { name: "Message" });
  await box.fill("The lighthouse, at eight?");
  await box.press("Enter");
  const push = await waitForPush(1);
  assert.equal(push.headers["content-encoding"], "aes128gcm");
  assert.match(push.headers.authorization, new RegExp(`^vapid t=[^,]+, k=${served.public_key}$`));
  const payload = decrypt(push.body, ecdh, auth);
  assert.equal(payload.title, "Alice");
  assert.equal(payload.body, "The lighthouse, at eight?");
  assert.match(payload.url, /^\/c\/\d+#m\d+$/);

  // The service worker shows it: the push handed to it as the browser would.
  await bob.goto(settingsUrl);
  const cdp = await bobContext.newCDPSession(bob);
  const registrations = new Promise((resolve) => cdp.on("ServiceWorker.workerRegistrationUpdated", resolve));
  await cdp.send("ServiceWorker.enable");
  const { registrations: [registration] } = await registrations;
  await cdp.send("ServiceWorker.deliverPushMessage", {
    origin: server.url,
    registrationId: registration.registrationId,
    data: JSON.stringify(payload),
  });
  const shown = await bob.waitForFunction(async () => {
    const notifications = await (await navigator.serviceWorker.ready).getNotifications();
    return notifications.length ? { title: notifications[0].title, body: notifications[0].body } : null;
  });
  assert.deepEqual(await shown.jsonValue(), { title: "Alice", body: "The lighthouse, at eight?" });

  // Turned off: the next message is not pushed.
  await bob.getByRole("button", { name: "Turn off in this browser" }).click();
  await status.filter({ hasText: "Notifications are off in this browser." }).waitFor();
  await bob.goto("about:blank");
  await box.fill("Never mind.");
  await box.press("Enter");
  await alice.locator("#messages .message[data-message]:not(.pending)", { hasText: "Never mind." }).waitFor();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(received.length, 1);
});
