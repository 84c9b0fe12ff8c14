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
    DataView, BigInt, Math,
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

const sha256 = (...parts) => createHash("sha256").update(Buffer.concat(parts)).digest();

/** RFC 9162's tree hash of `leaves` (already leaf-hashed) and the inclusion proof of `index`. */
function treeHash(leaves) {
  if (leaves.length === 1) return leaves[0];
  const k = 2 ** Math.floor(Math.log2(leaves.length - 1));
  return sha256(Buffer.of(1), treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)));
}
function inclusionPath(index, leaves) {
  if (leaves.length === 1) return [];
  const k = 2 ** Math.floor(Math.log2(leaves.length - 1));
  return index < k
    ? [...inclusionPath(index, leaves.slice(0, k)), treeHash(leaves.slice(k))]
    : [...inclusionPath(index - k, leaves.slice(k)), treeHash(leaves.slice(0, k))];
}

test("inclusion proofs verify for every leaf of trees of 1 to 33 leaves, and wrong ones do not", async () => {
  const { verifyInclusion } = script();
  for (let size = 1; size <= 33; size++) {
    const leaves = Array.from({ length: size }, (_, i) => sha256(Buffer.of(0, i)));
    const root = treeHash(leaves);
    for (let index = 0; index < size; index++) {
      const path = inclusionPath(index, leaves).map((h) => new Uint8Array(h));
      assert.ok(await verifyInclusion(index, size, new Uint8Array(leaves[index]), path, new Uint8Array(root)), `${index}/${size}`);
      const other = new Uint8Array(leaves[(index + 1) % size]);
      if (size > 1) assert.ok(!(await verifyInclusion(index, size, other, path, new Uint8Array(root))));
      const otherRoot = new Uint8Array(root);
      otherRoot[0] ^= 1;
      assert.ok(!(await verifyInclusion(index, size, new Uint8Array(leaves[index]), path, otherRoot)));
      assert.ok(!(await verifyInclusion(size, size, new Uint8Array(leaves[index]), path, new Uint8Array(root))));
    }
  }
});

test("a witness's cosignature is found with its key and its time, and a forged one is not", async () => {
  const { cosignatureTime } = script();
  const name = "witness-one.example";
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const keyData = Buffer.concat([Buffer.of(4), publicKey.export({ format: "der", type: "spki" }).subarray(-32)]);
  const keyId = createHash("sha256").update(Buffer.concat([Buffer.from(`${name}\n`), keyData])).digest().subarray(0, 4);
  const verifier = `${name}+${keyId.toString("hex")}+${keyData.toString("base64")}`;
  const body = `chat.example.org/k3f9a61c2/access-log-heads\n5\n${Buffer.alloc(32, 3).toString("base64")}\n`;
  const cosign = (time, text) => {
    const stamp = Buffer.alloc(8);
    stamp.writeBigUInt64BE(BigInt(time));
    const signature = sign(null, Buffer.from(`cosignature/v1\ntime ${time}\n${text}`), privateKey);
    return `\u2014 ${name} ${Buffer.concat([keyId, stamp, signature]).toString("base64")}\n`;
  };
  const server = noteKey("chat.example.org/k3f9a61c2");
  const note = server.sign(body) + cosign(1_800_000_123, body);
  assert.equal(await cosignatureTime(note, verifier), 1_800_000_123);
  // Signed over other text, or claimed for another time: not a cosignature of this note.
  const other = body.replace("\n5\n", "\n6\n");
  assert.equal(await cosignatureTime(server.sign(body) + cosign(1_800_000_123, other), verifier), null);
  const retimed = note.replace(/\u2014 witness-one\.example (\S+)/, (_, b64) => {
    const bytes = Buffer.from(b64, "base64");
    bytes.writeBigUInt64BE(1_800_000_999n, 4);
    return `\u2014 ${name} ${bytes.toString("base64")}`;
  });
  assert.equal(await cosignatureTime(retimed, verifier), null);
  // The server's own key is not a witness key.
  assert.equal(await cosignatureTime(note, server.verifier), null);
});
