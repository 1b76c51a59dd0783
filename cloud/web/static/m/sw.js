// The worker app's service worker (scope /m/): the shell from the cache, pages from the
// network with the last copy kept, so a phone without signal still opens the station list
// and the code page (whose spare codes worker.js keeps in localStorage, and whose phone key
// phonekey.js keeps in IndexedDB).
"use strict";
const CACHE = "yz-m-v4";
const SHELL = [
  "/static/m/worker.css", "/static/m/worker.js", "/static/favicon.svg", "/m/manifest.webmanifest",
  "/static/m/phonekey.js", "/static/vendor/qrcode-generator/qrcode.js",  // the phone key's code
];
const PAGES = ["/m/", "/m/code"];  // kept for offline: no personal data in either

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.addAll(SHELL); }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) { return n !== CACHE; }).map(function (n) { return caches.delete(n); }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("fetch", function (event) {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== location.origin) return;
  if (SHELL.includes(url.pathname)) {
    // The cached copy at once, and a fresh one for next time: a new stylesheet or script
    // reaches phones at their next visit without a new cache name.
    const fresh = fetch(request).then(function (response) {
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    });
    event.waitUntil(fresh.catch(function () {}));
    event.respondWith(caches.match(request).then(function (hit) { return hit || fresh; }));
    return;
  }
  if (request.mode === "navigate" && PAGES.includes(url.pathname)) {
    event.respondWith(
      fetch(request).then(function (response) {
        // The last station list, wherever it was asked for; the code page as itself, not
        // with its one-off welcome line (fetched again plain, in the background).
        if (response.ok) {
          const plain = url.pathname === "/m/" || !url.search;
          const copy = plain ? Promise.resolve(response.clone()) : fetch(url.pathname, { credentials: "same-origin" });
          event.waitUntil(copy.then(function (page) {
            if (!page.ok) return undefined;
            return caches.open(CACHE).then(function (cache) { return cache.put(url.pathname, page); });
          }).catch(function () {}));
        }
        return response;
      }).catch(function () {
        return caches.match(url.pathname).then(function (hit) { return hit || Response.error(); });
      })
    );
  }
});
