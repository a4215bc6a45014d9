// doorman audit page: the browser's own check of the transparency log, no
// dependencies. It fetches the signed-in user's bundle (/app/audit/bundle,
// what `doorman audit export` writes) and checks it here with WebCrypto:
// - the log's key: the vkey from /log/key, its key ID recomputed, its
//   fingerprint shown; the user may pin it (localStorage), and a pinned key
//   is the only one trusted on later visits;
// - the checkpoint: a C2SP signed note, the log key's Ed25519 signature over
//   the note's text;
// - every entry: its RFC 6962 inclusion proof (RFC 9162 2.1.3.2) from
//   SHA-256(0x00 || entry) to the checkpoint's root;
// - the checkpoint kept (localStorage) from the last successful check: the
//   new one must extend it (RFC 9162 2.1.4.2 consistency proof).
// Nothing the server says about itself is used as a result.
(function () {
  "use strict";
  var box = document.getElementById("browser-check");
  if (!box) return;
  var PIN = "doorman.audit.pinned-key";
  var KEPT = "doorman.audit.kept-checkpoint";
  var enc = new TextEncoder();

  function el(id) { return document.getElementById(id); }
  function say(state, headline) {
    box.setAttribute("data-result", state);
    el("browser-headline").textContent = headline;
  }
  function finding(text, ok) {
    var li = document.createElement("li");
    li.className = ok ? "ok" : "bad";
    li.textContent = (ok ? "✓ " : "✗ ") + text.charAt(0).toUpperCase() + text.slice(1);
    el("browser-findings").appendChild(li);
  }
  function store(name, value) {
    try { if (value === null) window.localStorage.removeItem(name); else window.localStorage.setItem(name, value); }
    catch (e) { /* storage refused: nothing kept */ }
  }
  function load(name) { try { return window.localStorage.getItem(name); } catch (e) { return null; } }

  // --- bytes ---------------------------------------------------------------------
  function b64(text) {
    var s = String(text).replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
    if (!/^[A-Za-z0-9+/]*$/.test(s) || s.length % 4 === 1) throw new Error("not base64");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function concat(parts) {
    var n = 0, i;
    for (i = 0; i < parts.length; i++) n += parts[i].length;
    var out = new Uint8Array(n), at = 0;
    for (i = 0; i < parts.length; i++) { out.set(parts[i], at); at += parts[i].length; }
    return out;
  }
  function equal(a, b) {
    if (a.length !== b.length) return false;
    var d = 0;
    for (var i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }
  function hex(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return s;
  }
  function sha256(bytes) {
    return crypto.subtle.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); });
  }

  // --- RFC 6962 hashing and proofs (RFC 9162 2.1.3.2, 2.1.4.2) --------------------
  function leafHash(entry) { return sha256(concat([new Uint8Array([0]), entry])); }
  function nodeHash(l, r) { return sha256(concat([new Uint8Array([1]), l, r])); }
  var ZERO = BigInt(0), ONE = BigInt(1);
  function lsb(n) { return (n & ONE) === ONE; }

  async function inclusionHolds(index, size, leaf, path, root) {
    if (index >= size) return false;
    var fn = index, sn = size - ONE, r = leaf;
    for (var i = 0; i < path.length; i++) {
      var p = path[i];
      if (sn === ZERO) return false;
      if (lsb(fn) || fn === sn) {
        r = await nodeHash(p, r);
        if (!lsb(fn)) { while (!lsb(fn) && fn !== ZERO) { fn >>= ONE; sn >>= ONE; } }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= ONE; sn >>= ONE;
    }
    return sn === ZERO && equal(r, root);
  }

  async function consistencyHolds(first, second, firstRoot, secondRoot, path) {
    if (first > second) return false;
    if (first === second) return path.length === 0 && equal(firstRoot, secondRoot);
    if (first === ZERO) return path.length === 0;
    if ((first & (first - ONE)) === ZERO) path = [firstRoot].concat(path);
    if (path.length === 0) return false;
    var fn = first - ONE, sn = second - ONE;
    while (lsb(fn)) { fn >>= ONE; sn >>= ONE; }
    var fr = path[0], sr = path[0];
    for (var i = 1; i < path.length; i++) {
      var c = path[i];
      if (sn === ZERO) return false;
      if (lsb(fn) || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        if (!lsb(fn)) { while (!lsb(fn) && fn !== ZERO) { fn >>= ONE; sn >>= ONE; } }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn >>= ONE; sn >>= ONE;
    }
    return sn === ZERO && equal(fr, firstRoot) && equal(sr, secondRoot);
  }

  // The proof algorithms, for anyone's console and the tests that compare
  // them with the Rust implementation's vectors.
  window.doormanLogProofs = { b64: b64, leafHash: leafHash, inclusionHolds: inclusionHolds,
                              consistencyHolds: consistencyHolds };

  // --- keys and signed notes (C2SP signed-note, tlog-checkpoint) ------------------
  // A vkey `name+hex key ID+base64(0x01 || Ed25519 public key)`, its key ID
  // recomputed: SHA-256(name || "\n" || 0x01 || key)[0..4].
  async function parseKey(vkey) {
    // The base64 key may hold '+' itself: split at the first two only.
    var m = /^([^+\s]+)\+([0-9a-fA-F]{8})\+(\S+)$/.exec(String(vkey).trim());
    if (!m) throw new Error("the log's key is not name+id+key");
    var parts = [m[1], m[2], m[3]];
    var material = b64(parts[2]);
    if (material.length !== 33 || material[0] !== 1) throw new Error("the log's key is not an Ed25519 note key");
    var raw = material.slice(1);
    var digest = await sha256(concat([enc.encode(parts[0] + "\n"), new Uint8Array([1]), raw]));
    var id = digest.slice(0, 4);
    if (hex(id) !== parts[1].toLowerCase()) throw new Error("the log key's ID does not match its name and key");
    var key = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    var print = await sha256(raw);
    return { vkey: String(vkey).trim(), name: parts[0], id: id, key: key,
             fingerprint: hex(print).slice(0, 32).replace(/(.{4})(?!$)/g, "$1 ") };
  }

  // The checkpoint's size and root, after the log key's signature over the
  // note's text is checked. Trailing whitespace is read as one newline.
  async function openCheckpoint(note, key) {
    note = String(note).replace(/\s+$/, "") + "\n";
    var sep = note.lastIndexOf("\n\n");
    if (sep < 0) throw new Error("the checkpoint is not a signed note");
    var text = note.slice(0, sep + 1);
    var lines = note.slice(sep + 2, -1).split("\n");
    var signed = false;
    for (var i = 0; i < lines.length; i++) {
      var m = /^\u2014 (\S+) (\S+)$/.exec(lines[i]);
      if (!m || m[1] !== key.name) continue;
      var sig;
      try { sig = b64(m[2]); } catch (e) { continue; }
      if (sig.length !== 68 || !equal(sig.slice(0, 4), key.id)) continue;
      if (!(await crypto.subtle.verify({ name: "Ed25519" }, key.key, sig.slice(4), enc.encode(text)))) {
        throw new Error("the checkpoint's signature by the log's key is not valid");
      }
      signed = true;
    }
    if (!signed) throw new Error("the checkpoint carries no signature of the log's key");
    var body = text.split("\n");
    if (body.length < 4 || !/^(0|[1-9][0-9]*)$/.test(body[1])) throw new Error("the signed note is not a checkpoint");
    var root = b64(body[2]);
    if (root.length !== 32) throw new Error("the checkpoint's root is not a SHA-256 hash");
    return { note: note, origin: body[0], size: BigInt(body[1]), root: root };
  }

  // --- the check ------------------------------------------------------------------
  async function check() {
    if (!window.crypto || !crypto.subtle || typeof BigInt === "undefined") {
      say("unsupported", "This browser cannot check the log here (WebCrypto needs https). Download the bundle and run doorman audit verify.");
      return;
    }
    say("running", "Your browser is checking the log…");
    var keyResponse = await fetch("/log/key", { credentials: "same-origin" });
    if (!keyResponse.ok) throw new Error("the log's key could not be fetched (HTTP " + keyResponse.status + ")");
    var served = await parseKey(await keyResponse.text());
    var pinned = load(PIN);
    var key = served;
    el("key-fingerprint").textContent = served.fingerprint;
    el("key-vkey").textContent = served.vkey;
    if (pinned && pinned !== served.vkey) {
      el("key-status").textContent = "The server now gives a different key from the one you pinned.";
      el("key-status").setAttribute("data-pin", "mismatch");
      finding("The log's key differs from the one you pinned: the server's key is not trusted.", false);
      key = await parseKey(pinned);
    } else if (pinned) {
      el("key-status").textContent = "This is the key you pinned in this browser.";
      el("key-status").setAttribute("data-pin", "pinned");
    } else {
      el("key-status").textContent = "Not pinned: compare this fingerprint with the one your building publishes, then pin it.";
      el("key-status").setAttribute("data-pin", "unpinned");
      el("pin-key").hidden = false;
    }

    var kept = load(KEPT);
    var url = "/app/audit/bundle" + (kept ? "?since=" + encodeURIComponent(kept) : "");
    var response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } });
    if (!response.ok) throw new Error("the bundle could not be fetched (HTTP " + response.status + ")");
    var text = await response.text();
    var download = el("download-bundle");
    download.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    var bundle = JSON.parse(text);
    if (bundle.format !== "doorman-audit-bundle/v1") throw new Error("not a doorman-audit-bundle/v1 bundle");

    var failed = false;
    var checkpoint;
    try {
      checkpoint = await openCheckpoint(bundle.checkpoint, key);
      finding("The checkpoint of " + checkpoint.size + " entries is signed by the log's key (" + key.fingerprint + ").", true);
    } catch (e) {
      finding(e.message, false);
      say("failed", "Your browser's check FAILED: the checkpoint cannot be trusted.");
      markRows(null);
      return;
    }

    var results = {}, good = 0, bad = [];
    var entries = bundle.entries || [];
    for (var i = 0; i < entries.length; i++) {
      var e = entries[i], ok = false;
      try {
        var path = (e.inclusion || []).map(b64);
        ok = await inclusionHolds(BigInt(e.index), checkpoint.size, await leafHash(b64(e.entry)), path, checkpoint.root);
      } catch (err) { ok = false; }
      results[e.index] = ok;
      if (ok) good++; else bad.push(e.index);
    }
    if (bad.length) {
      failed = true;
      finding("Entries not in the signed log (their proof does not lead to its root): #" + bad.join(", #") + ".", false);
    }
    finding(good + " of " + entries.length + " of your entries are proven to be in the signed checkpoint.", bad.length === 0);
    markRows(results);

    if (kept) {
      try {
        var old = await openCheckpoint(kept, key);
        var c = bundle.consistency;
        var path2 = c && BigInt(c.old_size) === old.size && BigInt(c.new_size) === checkpoint.size ? c.proof.map(b64) : null;
        if (old.size > checkpoint.size) {
          throw new Error("the log shrank: it had " + old.size + " entries at your last check, now " + checkpoint.size + " (a rollback).");
        } else if (old.size === checkpoint.size ? !equal(old.root, checkpoint.root)
                   : !(path2 && await consistencyHolds(old.size, checkpoint.size, old.root, checkpoint.root, path2))) {
          throw new Error("the log does not extend the checkpoint of " + old.size + " entries this browser verified before: its history was rewritten (a fork).");
        }
        finding("The log extends the checkpoint of " + old.size + " entries this browser verified before.", true);
      } catch (err) {
        failed = true;
        finding(err.message, false);
      }
    } else {
      finding("First check in this browser: its checkpoint is kept, and later visits check the log still extends it.", true);
    }

    if (failed || key !== served) {
      say("failed", "Your browser's check FAILED: see below.");
    } else {
      store(KEPT, checkpoint.note);
      say("ok", "Your browser verified the log itself: " + good + " entries, checkpoint of " + checkpoint.size + ".");
    }
  }

  function markRows(results) {
    var cells = document.querySelectorAll("#audit td[data-browser]");
    for (var i = 0; i < cells.length; i++) {
      var index = cells[i].getAttribute("data-browser");
      var ok = results && results[index] === true;
      cells[i].textContent = ok ? "✓ proven here" : "✗ failed";
      cells[i].className = ok ? "verified" : "unverified";
    }
  }

  el("pin-key").addEventListener("click", function () {
    var vkey = el("key-vkey").textContent;
    if (vkey) {
      store(PIN, vkey);
      el("pin-key").hidden = true;
      el("key-status").textContent = "Pinned: later visits trust only this key.";
      el("key-status").setAttribute("data-pin", "pinned");
    }
  });
  el("forget-checks").addEventListener("click", function () {
    store(PIN, null);
    store(KEPT, null);
    window.location.reload();
  });

  check().catch(function (e) {
    finding(e && e.message ? e.message : String(e), false);
    say("failed", "Your browser's check FAILED: see below.");
  });
})();
