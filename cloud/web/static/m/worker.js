// The worker app's small helpers: install the offline shell, find me, keep the station
// list's counts fresh, and keep a door code on screen with or without signal.
"use strict";
(function () {
  const STORE = "yz-codes";  // the last codes fetched online: spares for a phone without signal
  const KEY_DB = "yz-phone-key";  // phonekey.js's key store (IndexedDB)
  const LIST_REFRESH_MS = 30000;
  const RETRY_MS = [5000, 10000, 20000, 60000];

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(function () {});
  }

  function offlineBanner() {
    const banner = document.querySelector("[data-offline]");
    if (banner) banner.hidden = navigator.onLine !== false;
  }
  window.addEventListener("online", offlineBanner);
  window.addEventListener("offline", offlineBanner);

  // ---- find a station -----------------------------------------------------------

  function locate(button) {
    const status = document.querySelector("[data-locate-status]");
    const say = function (text) { if (status) status.textContent = text || ""; };
    if (!("geolocation" in navigator)) { say(button.dataset.unsupported); return; }
    navigator.geolocation.getCurrentPosition(
      function (pos) {
        // About 100 m: enough to sort stations, not a person's doorstep in a server's log.
        const lat = pos.coords.latitude.toFixed(3), lon = pos.coords.longitude.toFixed(3);
        location.href = "/m/?lat=" + lat + "&lon=" + lon;
      },
      function () { say(button.dataset.denied); },
      { enableHighAccuracy: false, timeout: 15000, maximumAge: 60000 }
    );
  }

  async function refreshList(list) {
    if (document.hidden || navigator.onLine === false) return;
    try {
      const res = await fetch(location.pathname + location.search, { credentials: "same-origin", cache: "no-store" });
      if (!res.ok) return;
      const html = new DOMParser().parseFromString(await res.text(), "text/html");
      const fresh = html.querySelector("[data-stations]");
      if (fresh) list.innerHTML = fresh.innerHTML;
    } catch (err) { /* no signal: keep what is shown */ }
  }

  // ---- my code ------------------------------------------------------------------

  // The spares and the phone key: what a shared phone must not keep after its worker leaves.
  function forgetCodes() {
    localStorage.removeItem(STORE);
    if (window.indexedDB) indexedDB.deleteDatabase(KEY_DB);
    // The service worker's copies of the pages (the last station list, the code page).
    if (window.caches) caches.keys().then(function (names) { names.forEach(function (n) { caches.delete(n); }); });
  }

  function saved() {
    try { return JSON.parse(localStorage.getItem(STORE) || "null"); } catch (err) { return null; }
  }

  function codeNow(set, offset) {
    if (!set || !Array.isArray(set.codes)) return null;
    const now = Date.now() + offset;
    for (const c of set.codes) {
      if (now < Date.parse(c.until)) return c;  // the door takes one issued a little ahead
    }
    return null;
  }

  function startCode(card) {
    const qr = card.querySelector("[data-qr]");
    const countdown = card.querySelector("[data-countdown]");
    const error = card.querySelector("[data-code-error]");
    let offset = 0, nextAt = 0, failures = 0, timer = null, shown = "", epoch = 0, signing = false;

    function say(el, text) { el.textContent = text || ""; el.hidden = !text; }

    function draw(set, online) {
      const c = codeNow(set, offset);
      if (!c) {
        qr.innerHTML = "";
        say(countdown, "");
        say(error, online ? "" : card.dataset.textNone);
        return false;
      }
      if (shown !== c.until) {
        qr.innerHTML = c.svg;  // made by the server's QR code: paths only, no text
        shown = c.until;
        card.dataset.codeSerial = String(Number(card.dataset.codeSerial || "0") + 1);
      }
      const now = Date.now() + offset;
      if (online) {
        say(countdown, card.dataset.textRenews.replace("{s}", String(Math.max(0, Math.ceil((nextAt - Date.now()) / 1000)))));
        say(error, "");
      } else {
        const last = Date.parse(set.codes[set.codes.length - 1].until);
        say(countdown, card.dataset.textOffline.replace("{m}", String(Math.max(0, Math.ceil((last - now) / 60000)))));
      }
      return true;
    }

    // With no signal: the spares while one is current, then a proof signed by the phone key
    // (phonekey.js, where this browser holds one).
    async function drawOffline() {
      const spare = saved();
      if (spare) offset = spare.offset || 0;
      if (codeNow(spare, offset) || !window.yzPhoneKey) {
        card.dataset.state = draw(spare, false) ? "offline" : "offline-empty";
        return;
      }
      if (signing) return;
      signing = true;
      const since = epoch;
      let drew = false;
      try { drew = await window.yzPhoneKey.draw(card, spare ? offset : null); } catch (err) { drew = false; }
      signing = false;
      if (since !== epoch) {  // the server answered meanwhile: the next tick draws its word
        shown = "";
        if (card.dataset.state === "refused") qr.innerHTML = "";
        return;
      }
      if (drew) {
        shown = "";
        say(countdown, "");
        say(error, "");
        card.dataset.state = "offline-key";
      } else {
        card.dataset.state = draw(spare, false) ? "offline" : "offline-empty";
      }
    }

    async function load() {
      clearTimeout(timer);
      if (document.hidden) return;
      let res = null, data = null;
      try {
        res = await fetch(card.dataset.codeUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } });
        data = await res.json();
      } catch (err) { res = null; }
      if (res && res.ok && data && data.codes) {
        const server = Date.parse(res.headers.get("Date") || "");
        offset = Number.isNaN(server) ? 0 : server - Date.now();
        data.offset = offset;
        try { localStorage.setItem(STORE, JSON.stringify(data)); } catch (err) { /* private mode */ }
        failures = 0;
        epoch += 1;
        nextAt = Date.now() + data.refresh_in_s * 1000;
        card.dataset.state = "online";
        draw(data, true);
        timer = setTimeout(load, data.refresh_in_s * 1000);
        return;
      }
      if (res && [401, 403, 404, 409].includes(res.status)) {
        // No code will come: say why, and drop spares that the door would refuse anyway.
        epoch += 1;
        forgetCodes();
        qr.innerHTML = "";
        say(countdown, "");
        say(error, data && data.message ? data.message : card.dataset.textFailed);
        card.dataset.state = "refused";
        return;
      }
      // No signal (or the server is busy): show the spares fetched while online.
      await drawOffline();
      const wait = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)];
      failures += 1;
      timer = setTimeout(load, wait);
    }

    setInterval(function () {
      if (card.dataset.state === "online") draw(saved(), true);
      else if (card.dataset.state === "offline" || card.dataset.state === "offline-key") drawOffline();
    }, 1000);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) load(); });
    window.addEventListener("online", load);
    load();
  }

  document.addEventListener("DOMContentLoaded", function () {
    offlineBanner();
    const button = document.querySelector("[data-locate]");
    if (button) button.addEventListener("click", function () { locate(button); });
    const list = document.querySelector("[data-stations]");
    if (list) setInterval(function () { refreshList(list); }, LIST_REFRESH_MS);
    const card = document.querySelector("[data-code]");
    if (card) startCode(card);
    // Signing out or deleting the account leaves no codes on a shared phone.
    for (const form of document.querySelectorAll('form[action="/m/signout"], form[action="/m/me/delete"]')) {
      form.addEventListener("submit", forgetCodes);
    }
  });
})();
