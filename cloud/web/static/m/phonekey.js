// The code page's phone key (member code mode 2): where the browser can hold an Ed25519 key,
// it keeps one it cannot export in IndexedDB, has the union certify its public half once
// online (POST /m/phone-key, again when the certificate is due for renewal), and with no
// signal and no spare code left signs a fresh 30-second proof itself, drawn as the QR.
// The proof is protocol/membercode.py's prove(), byte for byte; worker.js calls draw().
"use strict";
(function () {
  const DB_NAME = "yz-phone-key";  // worker.js deletes it on sign-out and account deletion
  const STORE = "key";
  const ENTRY = "current";
  const PREFIX = "YZ1:";
  const MODE_PHONE_PROOF = 2;
  const PROOF_CONTEXT = new TextEncoder().encode("yizhan/phone-proof/v1\u0000");
  const PROOF_LIFETIME_S = 30;  // DEFAULT_PROOF_LIFETIME: a photo of it dies as fast as a spare
  const PROOF_NONCE_BYTES = 4;
  const PHONE_KEY_BYTES = 32;
  const SIGNATURE_BYTES = 64;
  const MAX_TEXT = 400;  // what a door reads at most (membercode.MAX_TEXT)
  // A new proof every 20 s: the one on screen always has 10 s of its 30 left.
  const REFRESH_MS = 20000;
  // After a refusal other than a stale page (too many phones, a lapsed member), ask again
  // an hour later rather than at every page load.
  const RETRY_MS = 3600 * 1000;
  // A page left open for days looks again hourly whether its certificate is due for renewal.
  const CHECK_MS = 3600 * 1000;
  const BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  const QUIET_ZONE = 4;  // modules of white around the code, as cloud/web/qr.py draws it
  const SVG_NS = "http://www.w3.org/2000/svg";

  // ---- the key store ------------------------------------------------------------

  function openDb() {
    return new Promise(function (resolve, reject) {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () { request.result.createObjectStore(STORE); };
      request.onsuccess = function () {
        const db = request.result;
        db.onversionchange = function () { db.close(); };  // never block its deletion
        resolve(db);
      };
      request.onerror = function () { reject(request.error); };
    });
  }

  async function withStore(mode, act) {
    const db = await openDb();
    try {
      return await new Promise(function (resolve, reject) {
        const tx = db.transaction(STORE, mode);
        const request = act(tx.objectStore(STORE));
        tx.oncomplete = function () { resolve(request.result); };
        tx.onerror = tx.onabort = function () { reject(tx.error); };
      });
    } finally {
      db.close();
    }
  }

  function loadEntry() { return withStore("readonly", function (s) { return s.get(ENTRY); }); }
  function keepEntry(entry) { return withStore("readwrite", function (s) { return s.put(entry, ENTRY); }); }

  // ---- bytes --------------------------------------------------------------------

  function concat() {
    const parts = Array.from(arguments);
    const out = new Uint8Array(parts.reduce(function (n, p) { return n + p.length; }, 0));
    let at = 0;
    for (const part of parts) { out.set(part, at); at += part.length; }
    return out;
  }

  function toBase64(bytes) { return btoa(String.fromCharCode.apply(null, bytes)); }

  function fromBase64(text) { return Uint8Array.from(atob(text), function (c) { return c.charCodeAt(0); }); }

  function sameBytes(a, b) { return a.length === b.length && a.every(function (v, i) { return v === b[i]; }); }

  // protocol/base45.py's b45encode (RFC 9285).
  function b45encode(data) {
    let out = "";
    for (let i = 0; i + 1 < data.length; i += 2) {
      let n = data[i] * 256 + data[i + 1];
      const c = n % 45; n = (n - c) / 45;
      const d = n % 45, e = (n - d) / 45;
      out += BASE45[c] + BASE45[d] + BASE45[e];
    }
    if (data.length % 2) {
      const last = data[data.length - 1];
      out += BASE45[last % 45] + BASE45[Math.floor(last / 45)];
    }
    return out;
  }

  // The certificate's layout (membercode._parse_phone_proof up to the issuer's signature):
  // kid | member id | u32 valid-from | u32 valid-until | phone key | groups | signature.
  function readCertificate(cert) {
    let at = 0;
    function take(n) {
      if (at + n > cert.length) throw new RangeError("certificate ends early");
      const chunk = cert.subarray(at, at + n);
      at += n;
      return chunk;
    }
    take(take(1)[0]);  // key id
    take(take(1)[0]);  // member id
    const validity = new DataView(cert.buffer, cert.byteOffset + at, 8);
    take(8);
    const found = { validFrom: validity.getUint32(0) * 1000, validUntil: validity.getUint32(4) * 1000 };
    found.phoneKey = take(PHONE_KEY_BYTES);
    for (let n = take(1)[0]; n > 0; n -= 1) take(take(1)[0]);  // groups
    take(SIGNATURE_BYTES);
    if (at !== cert.length) throw new RangeError("certificate has trailing bytes");
    return found;
  }

  // ---- the proof: membercode.prove() ---------------------------------------------

  async function prove(entry, nowMs) {
    const seconds = Math.floor(nowMs / 1000);
    if (!(seconds >= 0 && seconds < 2 ** 32)) return null;  // the u32 proof time
    // proof time u32 | lifetime u8 | nonce: what the phone signs after the certificate's hash.
    const fields = new Uint8Array(5 + PROOF_NONCE_BYTES);
    const view = new DataView(fields.buffer);
    view.setUint32(0, seconds);
    view.setUint8(4, PROOF_LIFETIME_S);
    crypto.getRandomValues(fields.subarray(5));
    const certHash = new Uint8Array(await crypto.subtle.digest("SHA-256", entry.cert));
    const message = concat(PROOF_CONTEXT, certHash, fields);
    const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, entry.privateKey, message));
    const body = concat(Uint8Array.of(MODE_PHONE_PROOF), entry.cert, fields);
    const text = PREFIX + b45encode(concat(body, signature));
    return text.length <= MAX_TEXT ? text : null;
  }

  // The QR as cloud/web/qr.py draws it: one path of horizontal runs, error correction M, in
  // alphanumeric mode (base45's alphabet is the QR alphanumeric set).
  function qrSvg(text, label) {
    const qr = qrcode(0, "M");  // global of the vendored qrcode-generator
    qr.addData(text, "Alphanumeric");
    qr.make();
    const count = qr.getModuleCount(), size = count + 2 * QUIET_ZONE;
    const runs = [];
    for (let y = 0; y < count; y++) {
      let x = 0;
      while (x < count) {
        if (!qr.isDark(y, x)) { x += 1; continue; }
        const start = x;
        while (x < count && qr.isDark(y, x)) x += 1;
        runs.push("M" + (start + QUIET_ZONE) + " " + (y + QUIET_ZONE) + "h" + (x - start));
      }
    }
    function el(name, attrs) {
      const node = document.createElementNS(SVG_NS, name);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      return node;
    }
    const svg = el("svg", { viewBox: "0 0 " + size + " " + size, "shape-rendering": "crispEdges", role: "img" });
    if (label) { const title = el("title", {}); title.textContent = label; svg.append(title); }
    svg.append(el("rect", { width: size, height: size, fill: "#fff" }));
    svg.append(el("path", { d: runs.join(""), stroke: "#000", "stroke-width": "1", transform: "translate(0 .5)" }));
    return svg;
  }

  // ---- drawing a code with no signal -----------------------------------------------

  let shown = null, shownAt = 0;

  // Draw a fresh proof into the card's [data-qr]; false when there is no usable key here
  // (no Ed25519 or IndexedDB, never certified, certificate run out). ``offsetMs`` is the
  // server's clock minus the phone's as worker.js last saw it, or null to use the one seen
  // when the key was certified.
  async function draw(card, offsetMs) {
    if (!window.indexedDB || typeof qrcode !== "function") return false;
    const qr = card.querySelector("[data-qr]");
    if (shown && qr.contains(shown) && Date.now() - shownAt < REFRESH_MS) return true;
    let entry;
    try { entry = await loadEntry(); } catch (err) { return false; }
    if (!entry || !entry.cert) return false;
    const now = Date.now() + (typeof offsetMs === "number" ? offsetMs : entry.offset || 0);
    if (now >= entry.validUntil) return false;  // the door would refuse it: say so instead
    const text = await prove(entry, now);
    if (!text) return false;
    const title = card.querySelector("h1");
    shown = qrSvg(text, title ? title.textContent : "");
    shownAt = Date.now();
    qr.replaceChildren(shown);
    card.dataset.codeSerial = String(Number(card.dataset.codeSerial || "0") + 1);
    return true;
  }

  // ---- certify the key online -----------------------------------------------------

  async function newEntry() {
    let pair;
    try {
      // Not extractable: script can sign with the private key, never read it out.
      pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    } catch (err) {
      return null;  // no Ed25519 in this browser: the spare codes remain
    }
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const entry = { privateKey: pair.privateKey, publicKey: raw, cert: null, retryAt: 0 };
    // Kept before asking: a retry registers the same key again, not one more phone.
    await keepEntry(entry);
    return entry;
  }

  async function certify(card, entry) {
    const res = await fetch(card.dataset.keyUrl, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      redirect: "manual",  // signed out: the sign-in page is no answer
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": card.dataset.csrf || "" },
      body: JSON.stringify({ public_key: toBase64(entry.publicKey) }),
    });
    if (!res.ok) {
      if (res.status !== 403 && res.status !== 0) {  // a stale page asks again at the next load
        entry.retryAt = Date.now() + RETRY_MS;
        await keepEntry(entry);
      }
      return false;
    }
    const data = await res.json();
    const cert = fromBase64(data.certificate);
    const found = readCertificate(cert);
    // Never sign with a certificate for another key: every proof would be refused.
    if (!sameBytes(found.phoneKey, entry.publicKey)) return false;
    const server = Date.parse(res.headers.get("Date") || "");
    Object.assign(entry, {
      cert: cert,
      validFrom: found.validFrom,
      validUntil: found.validUntil,
      renewAfter: Date.parse(data.renew_after),
      offset: Number.isNaN(server) ? 0 : server - Date.now(),
      retryAt: 0,
    });
    await keepEntry(entry);
    return true;
  }

  async function ensure(card) {
    if (navigator.onLine === false || !window.indexedDB || !card.dataset.keyUrl) return;
    let entry = await loadEntry();
    const now = Date.now() + ((entry && entry.offset) || 0);
    if (entry && entry.cert && now < entry.renewAfter) { card.dataset.phoneKey = "ready"; return; }
    if (entry && Date.now() < (entry.retryAt || 0)) return;
    entry = entry || await newEntry();
    if (entry && await certify(card, entry)) card.dataset.phoneKey = "ready";
  }

  function ensureOnce(card) {
    // One tab at a time: two tabs registering at once would make two phones of one browser.
    const run = function () {
      return ensure(card).catch(function () { /* no signal, or no storage: try next time */ });
    };
    if (navigator.locks) navigator.locks.request(DB_NAME, run).catch(function () {});
    else run();
  }

  window.yzPhoneKey = { draw: draw };

  document.addEventListener("DOMContentLoaded", function () {
    const card = document.querySelector("[data-code]");
    if (!card) return;
    // Only once the server has answered with codes (worker.js says "online"): a worker it
    // refuses gets no certificate either, and a page without signal asks nothing.
    let checkedAt = -Infinity;
    function check() {
      if (card.dataset.state !== "online" || Date.now() - checkedAt < CHECK_MS) return;
      checkedAt = Date.now();
      ensureOnce(card);
    }
    new MutationObserver(check).observe(card, { attributes: true, attributeFilter: ["data-state"] });
    check();
  });
})();
