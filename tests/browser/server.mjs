// Starts a `confidant serve` on a free loopback port with a fresh data directory.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

const repoRoot = resolve(import.meta.dirname, "../..");

/** `env` adds settings (`CONFIDANT_…` variables) for the server and its CLI. */
export async function startConfidant(env = {}) {
  const bin = process.env.CONFIDANT_BIN ?? join(repoRoot, "target/debug/confidant");
  const dataDir = mkdtempSync(join(tmpdir(), "confidant-browser-"));
  const settings = { ...process.env, CONFIDANT_LOG__FILTER: "warn", ...env };
  const child = spawn(bin, ["--data-dir", dataDir, "serve", "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: settings,
  });
  const url = await new Promise((resolveUrl, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      const match = line.match(/running at (\S+)/);
      if (match) resolveUrl(match[1]);
    });
    child.on("exit", (code) => reject(new Error(`confidant exited with ${code}`)));
  });
  return {
    url,
    /** Signs a member up through the web form in `context`; returns their page. */
    async signUp(context, handle, name) {
      const page = await context.newPage();
      await page.goto(`${url}/signup`);
      await page.getByLabel("Handle").fill(handle);
      await page.getByLabel("Display name").fill(name);
      await page.getByLabel("Password").fill("correct horse battery");
      await page.getByRole("button", { name: "Sign up" }).click();
      await page.waitForURL(`${url}/friends`);
      return page;
    },
    /** Runs a `confidant` command against the same data directory; returns its stdout. */
    cli(...args) {
      return execFileSync(bin, ["--data-dir", dataDir, ...args], {
        env: settings,
        encoding: "utf8",
      });
    },
    /** Like `cli`, with `input` on the command's standard input. */
    cliWithInput(input, ...args) {
      return execFileSync(bin, ["--data-dir", dataDir, ...args], {
        env: settings,
        encoding: "utf8",
        input,
      });
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((done) => child.once("exit", done));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const chromiumOptions = {
  executablePath: "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

/** Waits until the live event stream of `page` is connected (the page marks `#main`). */
export async function streamOpen(page) {
  await page.locator('#main[data-stream="open"]').waitFor({ timeout: 10_000 });
}

/** Makes `a` and `b` (pages of signed-up members) friends, through the friends page. */
export async function befriend(a, b, bHandle) {
  await a.goto(new URL("/friends", a.url()).toString());
  await a.getByLabel("Their handle").fill(bHandle);
  await a.getByRole("button", { name: "Send request" }).click();
  await a.getByText("Waiting for an answer").waitFor();
  await b.goto(new URL("/friends", b.url()).toString());
  await b.getByRole("button", { name: "Accept" }).click();
  await b.getByRole("button", { name: "Message" }).first().waitFor();
}

/** Opens the 1:1 conversation with the friend named `name` from the friends page. */
export async function openConversationWith(page, name) {
  await page.goto(new URL("/friends", page.url()).toString());
  await page.locator("li", { hasText: name }).getByRole("button", { name: "Message" }).click();
  await page.waitForURL(/\/c\/\d+$/);
  await streamOpen(page);
}
