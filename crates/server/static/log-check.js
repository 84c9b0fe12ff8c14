// The access-log page's own check that the server never rewrote the member's log.
//
// This browser keeps the last signed checkpoint it saw for the member (size and root). On
// each visit it fetches the current checkpoint, checks the server's Ed25519 signature on it
// with WebCrypto against the key printed on the page, and asks for an RFC 9162 consistency
// proof from the kept checkpoint to the new one, which it verifies itself (SHA-256 through
// WebCrypto). A log that shrank, or whose proof fails, is a rewritten log: the page says so
// loudly and keeps the old checkpoint, so every later visit says so too.
"use strict";

(function () {
  const box = document.getElementById("log-consistency");
  if (!box) return;
  check(box).catch((error) => {
    show(box, "unknown", `The check could not run: ${error.message}`);
  });
})();

async function check(box) {
  if (!window.crypto?.subtle) {
    show(box, "unknown", "This browser cannot check signatures (no WebCrypto); use `confidant log verify` instead.");
    return;
  }
  const key = box.dataset.publicKey;
  const storageKey = `confidant.access-log.${box.dataset.origin}`;
  const text = await fetchText("/api/v1/me/access-log/checkpoint");
  const current = await openCheckpoint(text, key);
  if (current.origin !== box.dataset.origin) {
    throw new Error(`the checkpoint names another log (${current.origin})`);
  }
  const saved = JSON.parse(localStorage.getItem(storageKey) || "null");
  const remember = () =>
    localStorage.setItem(storageKey, JSON.stringify({ size: current.size, root: current.root, text }));

  if (!saved || saved.size === 0) {
    remember();
    show(box, "ok", `Signed checkpoint checked: ${current.size} entries. This browser will check on each visit that the log only grows from here.`);
    return;
  }
  if (current.size < saved.size) {
    show(box, "rewritten", `WARNING: your log was rewritten. This browser saw ${saved.size} entries signed by the server; it now shows ${current.size}. Entries were removed. Keep the checkpoint below as evidence.`, saved.text);
    return;
  }
  if (current.size === saved.size) {
    if (current.root === saved.root) {
      show(box, "ok", `Unchanged since your last visit: ${current.size} entries, signature checked.`);
    } else {
      show(box, "rewritten", `WARNING: your log was rewritten. It has the same ${current.size} entries as on your last visit, but their hash differs: an entry was changed. Keep the checkpoint below as evidence.`, saved.text);
    }
    return;
  }
  const proof = await fetchJson(`/api/v1/me/access-log/consistency?first=${saved.size}&second=${current.size}`);
  const consistent = await verifyConsistency(
    saved.size, current.size, fromBase64(saved.root), fromBase64(current.root), proof.proof.map(fromBase64),
  );
  if (!consistent) {
    show(box, "rewritten", `WARNING: your log was rewritten. The ${saved.size} entries this browser saw are not the first ${saved.size} of today's log. Keep the checkpoint below as evidence.`, saved.text);
    return;
  }
  remember();
  show(box, "ok", `Checked: your log only grew since your last visit (${saved.size} → ${current.size} entries); nothing was changed or removed.`);
}

function show(box, state, message, evidence) {
  box.dataset.state = state;
  box.textContent = message;
  if (state === "rewritten") box.setAttribute("role", "alert");
  if (evidence) {
    const pre = document.createElement("pre");
    pre.className = "wrap";
    pre.textContent = evidence;
    box.append(pre);
  }
}

async function fetchText(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.text();
}

async function fetchJson(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// A C2SP signed note: the text, a blank line, then "— <name> <base64(key id ‖ signature)>"
// lines. The checkpoint text is "<origin>\n<size>\n<base64 root>\n".
async function openCheckpoint(note, publicKey) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new Error("the checkpoint is not a signed note");
  const body = note.slice(0, split + 1);
  // `<name>+<key id, 8 hex>+<base64>`: the base64 may itself hold '+', so split twice only.
  const first = publicKey.indexOf("+");
  const second = publicKey.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new Error("the server's key is not a note verifier key");
  const name = publicKey.slice(0, first);
  const keyIdHex = publicKey.slice(first + 1, second);
  const keyBase64 = publicKey.slice(second + 1);
  const keyBytes = fromBase64(keyBase64);
  if (keyBytes[0] !== 1 || keyBytes.length !== 33) throw new Error("the key is not an Ed25519 note key");
  const keyId = hexBytes(keyIdHex);
  const key = await crypto.subtle.importKey("raw", keyBytes.slice(1), { name: "Ed25519" }, false, ["verify"]);
  const encoder = new TextEncoder();
  let verified = false;
  for (const line of note.slice(split + 2).split("\n")) {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const signature = fromBase64(match[2]);
    if (!equal(signature.slice(0, 4), keyId)) continue;
    verified = await crypto.subtle.verify({ name: "Ed25519" }, key, signature.slice(4), encoder.encode(body));
    if (verified) break;
  }
  if (!verified) throw new Error("the checkpoint's signature does not verify with the server's key");
  const [origin, size, root] = body.split("\n");
  return { origin, size: Number(size), root };
}

// RFC 9162, 2.1.4.2: verifying a consistency proof between trees of `first` and `second`
// leaves with roots `firstRoot` and `secondRoot`.
async function verifyConsistency(first, second, firstRoot, secondRoot, path) {
  if (first > second) return false;
  if (first === second) return path.length === 0 && equal(firstRoot, secondRoot);
  if (path.length === 0) return false;
  if (isPowerOfTwo(first)) path = [firstRoot, ...path];
  let fn = first - 1;
  let sn = second - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn & 1 || fn === sn) {
      fr = await node(c, fr);
      sr = await node(c, sr);
      if (!(fn & 1)) {
        do {
          fn >>= 1;
          sn >>= 1;
        } while (!(fn & 1) && fn !== 0);
      }
    } else {
      sr = await node(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && equal(fr, firstRoot) && equal(sr, secondRoot);
}

async function node(left, right) {
  const data = new Uint8Array(1 + left.length + right.length);
  data[0] = 1;
  data.set(left, 1);
  data.set(right, 1 + left.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

function isPowerOfTwo(n) {
  return n > 0 && (n & (n - 1)) === 0;
}

function equal(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function hexBytes(hex) {
  return Uint8Array.from(hex.match(/../g) || [], (pair) => parseInt(pair, 16));
}
