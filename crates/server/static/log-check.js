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
  const witnessedBox = document.getElementById("log-witnessed");
  if (!witnessedBox) return;
  checkWitnessed(witnessedBox, box.dataset.origin, box.dataset.publicKey).catch((error) => {
    show(witnessedBox, "unknown", `The witness check could not run: ${error.message}`);
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

// The witnesses' side: the server publishes each member log's head in one deployment-wide
// log of heads, whose checkpoints independent witnesses cosign only if it extends what they
// saw before. This checks that the head of this member's log is in that log (inclusion proof
// against the signed checkpoint), that it is a prefix of the log shown above (consistency
// proof), that enough of the witnesses named on the page cosigned the checkpoint, and — with
// the last checkpoint of the log of heads kept in this browser — that the log of heads too
// only grew. A server showing this member a log nobody else sees would fail one of these.
async function checkWitnessed(box, origin, publicKey) {
  const witnesses = box.dataset.witnesses.split(" ").filter(Boolean);
  const quorum = Number(box.dataset.quorum);
  const response = await fetch("/api/v1/me/access-log/witnessed", { credentials: "same-origin" });
  if (response.status === 404) {
    show(box, "unknown", "Not witnessed yet: the server publishes your log for its witnesses every few seconds. Check again later.");
    return;
  }
  if (!response.ok) throw new Error(`/api/v1/me/access-log/witnessed: ${response.status}`);
  const witnessed = await response.json();
  const heads = await openCheckpoint(witnessed.checkpoint, publicKey);
  const keyName = publicKey.slice(0, publicKey.indexOf("+"));
  if (heads.origin !== `${keyName}/access-log-heads`) {
    throw new Error(`the witnessed checkpoint names another log (${heads.origin})`);
  }
  const encoder = new TextEncoder();
  const label = await sha256(concat(encoder.encode("confidant/head-label\n"), fromBase64(witnessed.salt), encoder.encode(origin)));
  const leaf = concat(Uint8Array.of(1), label, u64(witnessed.size), fromBase64(witnessed.root));
  const leafHash = await sha256(concat(Uint8Array.of(0), leaf));
  const included = await verifyInclusion(
    witnessed.leaf_index, heads.size, leafHash, witnessed.inclusion_proof.map(fromBase64), fromBase64(heads.root),
  );
  if (!included) {
    show(box, "rewritten", "WARNING: the head of your log the server says it published is not in its log of heads. Keep the checkpoint below as evidence.", witnessed.checkpoint);
    return;
  }
  const member = await openCheckpoint(await fetchText("/api/v1/me/access-log/checkpoint"), publicKey);
  let prefix = witnessed.size === member.size ? witnessed.root === member.root : witnessed.size < member.size;
  if (prefix && witnessed.size > 0 && witnessed.size < member.size) {
    const proof = await fetchJson(`/api/v1/me/access-log/consistency?first=${witnessed.size}&second=${member.size}`);
    prefix = await verifyConsistency(
      witnessed.size, member.size, fromBase64(witnessed.root), fromBase64(member.root), proof.proof.map(fromBase64),
    );
  }
  if (!prefix) {
    show(box, "rewritten", `WARNING: the witnesses saw your log with ${witnessed.size} entries, and the log shown to you now does not extend it: it was rolled back or rewritten. Keep the checkpoint below as evidence.`, witnessed.checkpoint);
    return;
  }

  const storageKey = `confidant.access-log-heads.${heads.origin}`;
  const saved = JSON.parse(localStorage.getItem(storageKey) || "null");
  if (saved && saved.size > 0) {
    let grew = heads.size === saved.size ? heads.root === saved.root : heads.size > saved.size;
    if (grew && heads.size > saved.size) {
      const proof = await fetchJson(`/transparency/heads/consistency?first=${saved.size}&second=${heads.size}`);
      grew = await verifyConsistency(saved.size, heads.size, fromBase64(saved.root), fromBase64(heads.root), proof.proof.map(fromBase64));
    }
    if (!grew) {
      show(box, "rewritten", `WARNING: the server's log of heads does not extend the one this browser saw (${saved.size} heads): it shows different logs to different people. Keep the checkpoint below as evidence.`, saved.text);
      return;
    }
  }
  localStorage.setItem(storageKey, JSON.stringify({ size: heads.size, root: heads.root, text: witnessed.checkpoint }));

  const cosigned = [];
  for (const witness of witnesses) {
    const at = await cosignatureTime(witnessed.checkpoint, witness);
    if (at !== null) cosigned.push({ name: witness.slice(0, witness.indexOf("+")), at });
  }
  const newest = Math.max(...cosigned.map((c) => c.at));
  const names = cosigned.map((c) => c.name).join(", ");
  if (cosigned.length < quorum) {
    show(box, "unwitnessed", `Only ${cosigned.length} of the ${quorum} witnesses needed vouch for the published log${names ? ` (${names})` : ""}: this browser cannot tell whether others are shown the same one.`);
    return;
  }
  show(box, "ok", `Witnessed: the first ${witnessed.size} entries of your log are in the server's public log of heads, cosigned by ${names}, ${ago(Date.now() / 1000 - newest)} ago. Everyone is shown the same log.`);
}

// The time of the C2SP tlog-cosignature/v1 by `witnessKey` (`<name>+<key id>+<base64(0x04 ‖
// key)>`) on the note, or null if it has none that verifies.
async function cosignatureTime(note, witnessKey) {
  const { name, keyId, key } = await noteKey(witnessKey, 4).catch(() => ({}));
  if (!key) return null;
  const { body, signatures } = splitNote(note);
  for (const bytes of signatures(name, keyId)) {
    if (bytes.length !== 4 + 8 + 64) continue;
    const time = Number(new DataView(bytes.buffer, bytes.byteOffset + 4, 8).getBigUint64(0));
    const message = new TextEncoder().encode(`cosignature/v1\ntime ${time}\n${body}`);
    if (await crypto.subtle.verify({ name: "Ed25519" }, key, bytes.slice(12), message)) return time;
  }
  return null;
}

// RFC 9162, 2.1.3.2: verifying that `leafHash` is leaf `index` of the tree of `size` leaves
// with root `root`. Arithmetic rather than bit operators, so sizes past 2³¹ work too.
async function verifyInclusion(index, size, leafHash, path, root) {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await node(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(r, root);
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// A big-endian u64 of a safe integer.
function u64(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

function ago(secs) {
  if (secs < 120) return `${Math.max(0, Math.round(secs))} s`;
  if (secs < 7200) return `${Math.round(secs / 60)} min`;
  if (secs < 172800) return `${Math.round(secs / 3600)} h`;
  return `${Math.round(secs / 86400)} days`;
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
  if (note.lastIndexOf("\n\n") < 0) throw new Error("the checkpoint is not a signed note");
  const { name, keyId, key } = await noteKey(publicKey, 1);
  const { body, signatures } = splitNote(note);
  const encoder = new TextEncoder();
  let verified = false;
  for (const signature of signatures(name, keyId)) {
    verified = await crypto.subtle.verify({ name: "Ed25519" }, key, signature.slice(4), encoder.encode(body));
    if (verified) break;
  }
  if (!verified) throw new Error("the checkpoint's signature does not verify with the server's key");
  const [origin, size, root] = body.split("\n");
  return { origin, size: Number(size), root };
}

// A C2SP note verifier key, `<name>+<key id, 8 hex>+<base64(algorithm ‖ Ed25519 key)>`, for
// `algorithm` 1 (a note signer) or 4 (a witness's cosignatures), ready to verify with.
async function noteKey(text, algorithm) {
  // The base64 may itself hold '+', so split twice only.
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new Error("the key is not a note verifier key");
  const keyBytes = fromBase64(text.slice(second + 1));
  if (keyBytes[0] !== algorithm || keyBytes.length !== 33) throw new Error("the key is not an Ed25519 note key");
  return {
    name: text.slice(0, first),
    keyId: hexBytes(text.slice(first + 1, second)),
    key: await crypto.subtle.importKey("raw", keyBytes.slice(1), { name: "Ed25519" }, false, ["verify"]),
  };
}

// A signed note's body (up to its blank line) and, by key name and id, its signatures:
// each line's bytes after "— <name> ", key id first.
function splitNote(note) {
  const split = note.lastIndexOf("\n\n");
  const lines = note.slice(split + 2).split("\n");
  return {
    body: note.slice(0, split + 1),
    signatures: (name, keyId) =>
      lines
        .map((line) => /^\u2014 (\S+) (\S+)$/.exec(line))
        .filter((match) => match && match[1] === name)
        .map((match) => fromBase64(match[2]))
        .filter((bytes) => equal(bytes.slice(0, 4), keyId)),
  };
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
