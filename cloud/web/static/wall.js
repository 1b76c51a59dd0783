// The wall screen's own script: the clock in the corner, and a full figures refresh every
// few minutes in case an event was lost while the network was away. Everything else is
// app.js: figures change in place, the alert list re-renders alone. Nothing here allocates
// per second beyond one string; nothing grows.
"use strict";
(function () {
  const SAFETY_REFRESH_MS = 5 * 60 * 1000;
  const clock = () => document.querySelector("[data-wall-clock]");
  const format = new Intl.DateTimeFormat(document.documentElement.lang || "zh-CN",
    { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZone: "Asia/Shanghai" });

  function tick() {
    const el = clock();
    if (el) el.textContent = format.format(Date.now());
  }

  setInterval(tick, 1000);
  setInterval(() => { if (window.yz && window.yz.refreshFigures) window.yz.refreshFigures(); },
    SAFETY_REFRESH_MS);
})();
