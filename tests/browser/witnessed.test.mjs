// The access-log page's witness check, end to end: a server with two `confidant witness
// serve` processes as its witnesses publishes the member's log head; the page verifies the
// head's inclusion in the log of heads, the witnesses' cosignatures and, on a later visit,
// that the log of heads only grew — and calls out a log of heads that does not extend the
// one this browser saw.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

import { startConfidant, chromiumOptions } from "./server.mjs";

const output = join(import.meta.dirname, "output");
const bin = process.env.CONFIDANT_BIN ?? join(resolve(import.meta.dirname, "../.."), "target/debug/confidant");
const redirectUri = "https://streamflix.example/callback";
const scratch = mkdtempSync(join(tmpdir(), "confidant-witnesses-"));
let server;
let browser;
let app;
const witnesses = [];

async function freePort() {
  const probe = createServer();
  await new Promise((done) => probe.listen(0, "127.0.0.1", done));
  const { port } = probe.address();
  await new Promise((done) => probe.close(done));
  return port;
}

/** A witness's data directory, name, port and verifier key, before it runs. */
async function witness(name) {
  const dataDir = join(scratch, name);
  const key = execFileSync(bin, ["witness", "key", "--name", name, "--data-dir", dataDir], { encoding: "utf8" }).trim();
  return { name, dataDir, key, port: await freePort() };
}

async function serveWitness(w, logKey) {
  w.child = spawn(bin, ["witness", "serve", "--listen", `127.0.0.1:${w.port}`, "--data-dir", w.dataDir, "--log-key", logKey], {
    stdio: "ignore",
  });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${w.port}/healthz`)).ok) return;
    } catch {
      await new Promise((done) => setTimeout(done, 25));
    }
  }
  throw new Error(`witness ${w.name} did not start`);
}

before(async () => {
  mkdirSync(output, { recursive: true });
  witnesses.push(await witness("witness-one.example"), await witness("witness-two.example"));
  const config = join(scratch, "confidant.toml");
  writeFileSync(
    config,
    [
      "[accesslog]",
      "publish_interval_secs = 1",
      "quorum = 2",
      "witnesses = [",
      ...witnesses.map((w) => `  { url = "http://127.0.0.1:${w.port}/", key = "${w.key}" },`),
      "]",
      "",
    ].join("\n"),
  );
  server = await startConfidant({ CONFIDANT_CONFIG: config });
  const logKey = (await (await fetch(`${server.url}/.well-known/confidant-log-key`)).text()).trim();
  for (const w of witnesses) await serveWitness(w, logKey);
  browser = await chromium.launch(chromiumOptions);
  app = JSON.parse(server.cli("apps", "create", "--name", "Streamflix", "--redirect-uri", redirectUri));
  server.cli("apps", "approve", app.client_id);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  for (const w of witnesses) w.child?.kill();
  rmSync(scratch, { recursive: true, force: true });
});

const base64url = (bytes) => Buffer.from(bytes).toString("base64url");

/** Connects Streamflix for the member on `page`: the consent is the log's first entry. */
async function connect(page) {
  await page.route("https://streamflix.example/**", (route) =>
    route.fulfill({ contentType: "text/html", body: "<h1>Back at Streamflix</h1>" }),
  );
  const authorize = new URL(`${server.url}/oauth/authorize`);
  authorize.search = new URLSearchParams({
    response_type: "code",
    client_id: app.client_id,
    redirect_uri: redirectUri,
    scope: "profile",
    state: "s",
    code_challenge: base64url(createHash("sha256").update(base64url(randomBytes(32))).digest()),
    code_challenge_method: "S256",
  }).toString();
  await page.goto(authorize.toString());
  await page.getByRole("button", { name: "Allow" }).click();
  await page.waitForURL(/^https:\/\/streamflix\.example\/callback\?/);
}

/** Opens the access log until the witness check has settled on something but "not yet". */
async function witnessCheck(page) {
  const check = page.locator("#log-witnessed");
  for (let i = 0; i < 60; i++) {
    await page.goto(`${server.url}/settings/access-log`);
    await page.waitForFunction(() => document.getElementById("log-witnessed").dataset.state !== "pending");
    if (!/Not witnessed yet/.test(await check.textContent())) return check;
    await new Promise((done) => setTimeout(done, 500));
  }
  throw new Error("the log was never witnessed");
}

test("the page checks the witnesses vouch for the log, and calls out a split view", async () => {
  const context = await browser.newContext();
  const page = await server.signUp(context, "alice", "Alice");
  await connect(page);

  const check = await witnessCheck(page);
  assert.equal(await check.getAttribute("data-state"), "ok", await check.textContent());
  assert.match(
    await check.textContent(),
    /Witnessed: the first 1 entries of your log are in the server's public log of heads, cosigned by witness-one\.example, witness-two\.example/,
  );
  await page.screenshot({ path: join(output, "access-log-witnessed.png"), fullPage: true });

  // The public registry names the witnesses to pin.
  await page.goto(`${server.url}/apps`);
  await page.getByRole("heading", { name: "Witnesses" }).waitFor();
  for (const w of witnesses) await page.getByText(w.key).waitFor();
  await page.goto(`${server.url}/settings/access-log`);
  await page.waitForFunction(() => document.getElementById("log-witnessed").dataset.state !== "pending");

  // This browser kept the log of heads' checkpoint; one of the same size with another root
  // is another view of the log.
  await page.evaluate(() => {
    const key = Object.keys(localStorage).find((k) => k.startsWith("confidant.access-log-heads."));
    const saved = JSON.parse(localStorage.getItem(key));
    saved.root = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
    localStorage.setItem(key, JSON.stringify(saved));
  });
  await page.reload();
  await page.waitForFunction(() => document.getElementById("log-witnessed").dataset.state !== "pending");
  assert.equal(await check.getAttribute("data-state"), "rewritten");
  assert.match(await check.textContent(), /shows different logs to different people/);
  assert.equal(await check.getAttribute("role"), "alert");
  await context.close();
});
