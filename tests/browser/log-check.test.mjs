// The access-log page's script on its own, in Node's WebCrypto: it opens checkpoints signed
// with keys of every shape (a verifier key's base64 often holds '+'), and refuses a forged one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import vm from "node:vm";

const source = readFileSync(join(import.meta.dirname, "../../crates/server/static/log-check.js"), "utf8");

/** The script's functions, loaded as the browser loads it (its page element absent). */
function script() {
  const context = vm.createContext({
    crypto: globalThis.crypto, TextEncoder, atob, btoa, Uint8Array, Number, JSON, Error,
    document: { getElementById: () => null },
  });
  vm.runInContext(source, context);
  return context;
}

/** A C2SP note verifier key and a signer for it, like the server's. */
function noteKey(name) {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const keyData = Buffer.concat([Buffer.from([1]), raw]);
  const keyId = createHash("sha256")
    .update(Buffer.concat([Buffer.from(`${name}\n`), keyData]))
    .digest()
    .subarray(0, 4);
  return {
    verifier: `${name}+${keyId.toString("hex")}+${keyData.toString("base64")}`,
    sign(body) {
      const signature = sign(null, Buffer.from(body), privateKey);
      return `${body}\n\u2014 ${name} ${Buffer.concat([keyId, signature]).toString("base64")}\n`;
    },
  };
}

test("checkpoints open with keys whose base64 holds '+', and a forged one does not", async () => {
  const { openCheckpoint } = script();
  const name = "chat.example.org/k3f9a61c2";
  // Keys until one's base64 has a '+' in it, and one without, so both shapes are covered.
  let plus;
  let plain;
  while (!plus || !plain) {
    const key = noteKey(name);
    if (key.verifier.split("+").length > 3) plus ??= key;
    else plain ??= key;
  }
  const root = Buffer.alloc(32, 9).toString("base64");
  const body = `${name}/access-log/7\n12\n${root}\n`;
  for (const key of [plus, plain]) {
    const opened = await openCheckpoint(key.sign(body), key.verifier);
    assert.equal(opened.origin, `${name}/access-log/7`);
    assert.equal(opened.size, 12);
    assert.equal(opened.root, root);
  }
  const forged = plain.sign(body.replace("\n12\n", "\n13\n"));
  await assert.rejects(openCheckpoint(forged, plus.verifier), /does not verify/);
});
