// The member page's rotating door code: fetch a fresh one from /member/code before the
// shown one expires, count down to the next one, and rest while the tab is hidden (a code
// nobody looks at need not be minted; the first glance back fetches a new one).
"use strict";
(function () {
  const RETRY_MS = [5000, 10000, 20000, 60000];  // after a failed fetch; then every minute
  const PERMANENT = [403, 404, 409];  // no issuer, not a member, suspended: retrying won't help
  let box = null, refreshTimer = null, tickTimer = null;
  let nextAt = 0, staleAt = 0, failures = 0, stopped = false;

  function clearTimers() {
    clearTimeout(refreshTimer);
    clearInterval(tickTimer);
    refreshTimer = tickTimer = null;
  }

  function root() { return box && box.parentElement; }

  function say(selector, text) {
    const el = root() && root().querySelector(selector);
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  }

  function tick() {
    if (!box) return;
    const now = Date.now();
    const seconds = Math.max(0, Math.ceil((nextAt - now) / 1000));
    say("[data-code-countdown]", (box.dataset.textExpires || "{s}").replace("{s}", String(seconds)));
    box.classList.toggle("stale", staleAt > 0 && now >= staleAt);
  }

  function schedule(delayMs) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(load, Math.max(0, delayMs));
  }

  function failed(message, status) {
    say("[data-code-error]", message);
    if (PERMANENT.includes(status)) {
      stopped = true;
      clearTimers();
      say("[data-code-countdown]", "");
      box.innerHTML = "";
      return;
    }
    const wait = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)];
    failures += 1;
    schedule(wait);
  }

  function show(data, serverDate) {
    // The phone's clock may be off; the server's Date header tells by how much.
    const offset = Number.isNaN(serverDate) ? 0 : serverDate - Date.now();
    box.innerHTML = data.svg;  // made by the server's QR library: paths only, no text
    box.dataset.codeSerial = String(Number(box.dataset.codeSerial || "0") + 1);
    box.dataset.expiresAt = data.expires_at;
    nextAt = Date.now() + data.refresh_in_s * 1000;
    staleAt = Date.parse(data.expires_at) - offset;
    failures = 0;
    say("[data-code-error]", "");
    schedule(data.refresh_in_s * 1000);
    if (!tickTimer && !document.hidden) tickTimer = setInterval(tick, 1000);
    tick();
  }

  async function load() {
    if (!box || stopped || document.hidden) return;
    const current = box;
    let res, data = null;
    try {
      res = await fetch(current.dataset.codeUrl, {
        // A lapsed sign-in then answers 401 instead of a redirect to the login form.
        headers: { Accept: "application/json", "X-Yizhan-Fragment": "1" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (res.status === 401) { location.reload(); return; }
      try { data = await res.json(); } catch (err) { data = null; }
    } catch (err) {
      if (current === box) failed(box.dataset.textFailed || String(err), 0);
      return;
    }
    if (current !== box) return;  // the page was re-rendered meanwhile
    if (!res.ok || !data || !data.svg) {
      // The refusal in the page's words (errors.js), else the page's own "failed".
      const refused = Object.assign(new Error(""), { status: res.status, data });
      const message = data && data.error && window.yzErrors
        ? window.yzErrors.explain(refused) : box.dataset.textFailed;
      failed(message, res.status);
      return;
    }
    show(data, Date.parse(res.headers.get("Date") || ""));
  }

  function bind(main) {
    const found = (main || document).querySelector("[data-member-code]");
    if (found === box) return;
    clearTimers();
    box = found;
    stopped = false;
    failures = 0;
    nextAt = staleAt = 0;
    if (box) load();
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimers();  // paused: nothing is minted while nobody looks
    } else if (box && !stopped) {
      tickTimer = tickTimer || setInterval(tick, 1000);
      load();
    }
  });

  if (window.yz && window.yz.afterRender) {
    window.yz.afterRender.push(bind);  // runs on load and after every re-render of <main>
  } else {
    document.addEventListener("DOMContentLoaded", () => bind(document));
  }
})();

// Choosing what to book: a new venue, room or day shows its slots at once (the form is a
// plain GET form; without this script its button does the same). A new venue starts from
// its own first room and day, so the old venue's choices are not sent along.
(function () {
  function hideButton(root) {
    const go = (root || document).querySelector("[data-chooser-go]");
    if (go) go.hidden = true;
  }

  document.addEventListener("change", (event) => {
    const select = event.target;
    if (!(select instanceof HTMLSelectElement) || !select.dataset.choose) return;
    const form = select.closest("form[data-chooser]");
    if (!form) return;
    if (select.dataset.choose === "venue") {
      for (const other of form.querySelectorAll("[data-choose=room], [data-choose=day]")) {
        other.disabled = true;
      }
    }
    form.requestSubmit();
  });

  if (window.yz && window.yz.afterRender) window.yz.afterRender.push(hideButton);
  else document.addEventListener("DOMContentLoaded", () => hideButton(document));
})();
