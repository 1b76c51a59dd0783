// The phone header's menu: a <details> opens and closes it without this script; this only
// says its state on the button (aria-expanded) and closes it on Escape or a tap elsewhere.
"use strict";
(function () {
  function menu() { return document.querySelector("details[data-menu]"); }

  function sync(details) {
    details.querySelector("summary").setAttribute("aria-expanded", String(details.open));
  }

  function close(details, refocus) {
    if (!details.open) return;
    details.open = false;
    if (refocus) details.querySelector("summary").focus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const details = menu();
    if (!details) return;
    sync(details);
    details.addEventListener("toggle", () => sync(details));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close(details, true);
    });
    document.addEventListener("click", (event) => {
      const panel = document.getElementById("site-menu");
      if (!details.contains(event.target) && !(panel && panel.contains(event.target))) {
        close(details, false);
      }
    });
  });
})();
