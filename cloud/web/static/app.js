// The dashboard's only always-loaded script: live updates over SSE, API actions, toasts.
// Pages stay server-rendered. When the live feed names a topic the page shows, this
// - writes the new figures in place: a marker [data-fig-src] names the page's figures
//   (GET /live/figures, a few hundred bytes) and the topics that move them
//   (data-live-figures); every [data-fig="<venue>:<name>"] gets its value, and
//   data-fig-show / data-fig-state / data-fig-width / data-fig-sum say how else to show it;
// - re-renders a part whose rows come and go ([data-live-part] with data-live-topics,
//   data-live-src and its own data-live-gap), alone, rarely;
// - swaps in a fresh <main> only for the topics in <main data-live> (structure changing);
// and on every message tells the page: document "yz:live" with {topics}.
// It also sends buttons' and forms' actions to /api/v1.
"use strict";
(function () {
  const FRAGMENT = { "X-Yizhan-Fragment": "1" };
  const MIN_GAP_MS = 1000;  // at most one refresh a second (a page may ask for a longer gap)
  const RESULT_KEEP_MS = 15000;  // an action's answer outlives the refreshes it causes
  const SCOPES = ["data-config-form", "data-device", "data-alert", "data-stock-slot",
    "data-action-scope"];
  const results = new Map();  // scope selector -> {text, className, at}
  const afterRender = [];
  let lastRefresh = 0, timer = null, inFlight = false, again = false;
  let afterAction = false;  // the next refresh shows what an action changed

  function meta(name) {
    const el = document.querySelector(`meta[name="${name}"]`);
    return el ? el.content : "";
  }

  function toast(text, isError) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = text;
    box.className = isError ? "toast error" : "toast";
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 3000);
  }

  function runAfterRender() {
    for (const hook of afterRender) {
      try { hook(document.getElementById("live-root")); } catch (err) { console.error(err); }
    }
  }

  function busyTyping(root) {
    const el = document.activeElement;
    if (el && root.contains(el) && ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)) {
      return true;
    }
    // A form someone opened (the fleet's push form, say) stays, with its refusals beside
    // its fields, until they close it or an action of theirs asks to see what it changed.
    return !afterAction && root.querySelector("details[open] form") !== null;
  }

  async function refresh() {
    const root = document.getElementById("live-root");
    if (!root) return;
    if (inFlight) { again = true; return; }
    if (busyTyping(root)) { schedule(2000); return; }  // never pull a form from under a hand
    inFlight = true;
    lastRefresh = Date.now();
    try {
      const res = await fetch(location.href, { headers: FRAGMENT, credentials: "same-origin" });
      if (res.status === 401) { location.reload(); return; }
      if (!res.ok) return;
      const html = await res.text();
      // A hand may have reached the form while the page was on its way: try again later.
      if (busyTyping(root)) { again = false; schedule(2000); return; }
      root.innerHTML = html;
      afterAction = false;
      restoreResults(root);
      root.dataset.refreshed = String(Number(root.dataset.refreshed || "0") + 1);
      runAfterRender();
    } catch (err) {
      console.warn("refresh failed", err);
    } finally {
      inFlight = false;
      if (again) { again = false; schedule(0); }
    }
  }

  function gap() {
    const root = document.getElementById("live-root");
    return Math.max(MIN_GAP_MS, Number(root && root.dataset.liveGap) || 0);
  }

  function schedule(delay) {
    if (timer) return;
    const wait = Math.max(delay, gap() - (Date.now() - lastRefresh));
    timer = setTimeout(() => { timer = null; refresh(); }, Math.max(0, wait));
  }

  function wants(topics, listened) {
    const tokens = (listened || "").split(/\s+/).filter(Boolean);
    return topics.some((topic) => tokens.some((token) =>
      token === topic || (!token.includes(":") && topic.startsWith(token + ":"))));
  }

  // ---- figures in place -------------------------------------------------------------
  const FIG_STATES = ["ok", "warn", "bad", "muted", "over"];
  let figTimer = null, lastFigures = 0, figuresInFlight = false, figuresAgain = false;

  function figureMarker() {
    return document.querySelector("#live-root [data-fig-src]");
  }

  function eachFig(root, attr, figures, apply) {
    for (const el of root.querySelectorAll(`[${attr}]`)) {
      const key = el.getAttribute(attr);
      if (Object.prototype.hasOwnProperty.call(figures, key)) apply(el, figures[key]);
    }
  }

  function applyFigures(figures) {
    const root = document.getElementById("live-root");
    if (!root) return;
    eachFig(root, "data-fig", figures, (el, value) => {
      const text = value === null || value === undefined ? "" : String(value);
      if (el.textContent !== text) el.textContent = text;  // untouched text keeps selection
    });
    eachFig(root, "data-fig-show", figures, (el, value) => { el.hidden = !value; });
    eachFig(root, "data-fig-width", figures, (el, value) => { el.style.width = `${Number(value) || 0}%`; });
    eachFig(root, "data-fig-state", figures, (el, value) => {
      for (const state of FIG_STATES) if (state !== value) el.classList.remove(state);
      if (value) el.classList.add(value);
    });
    for (const el of root.querySelectorAll("[data-fig-sum]")) {
      const suffix = `:${el.dataset.figSum}`;
      let sum = 0, seen = false;
      for (const [key, value] of Object.entries(figures)) {
        if (key.endsWith(suffix) && !key.startsWith("total:") && typeof value === "number") {
          sum += value; seen = true;
        }
      }
      if (seen) el.textContent = String(sum);
    }
    root.dataset.figures = String(Number(root.dataset.figures || "0") + 1);
    document.dispatchEvent(new CustomEvent("yz:figures", { detail: { figures } }));
  }

  async function refreshFigures() {
    const marker = figureMarker();
    if (!marker) return;
    if (figuresInFlight) { figuresAgain = true; return; }
    figuresInFlight = true;
    lastFigures = Date.now();
    try {
      const res = await fetch(marker.dataset.figSrc,
        { headers: { Accept: "application/json" }, credentials: "same-origin" });
      // A lapsed sign-in answers 401 or the login page: reloading leads to the login.
      if (res.status === 401 || res.redirected) { location.reload(); return; }
      if (!res.ok) return;
      const body = await res.json();
      applyFigures(body.figures || {});
    } catch (err) {
      console.warn("figures failed", err);
    } finally {
      figuresInFlight = false;
      if (figuresAgain) { figuresAgain = false; scheduleFigures(0); }
    }
  }

  function scheduleFigures(delay) {
    if (figTimer) return;
    const wait = Math.max(delay, gap() - (Date.now() - lastFigures));
    figTimer = setTimeout(() => { figTimer = null; refreshFigures(); }, Math.max(0, wait));
  }

  // ---- parts whose rows come and go ----------------------------------------------------
  const partTimers = new Map();  // part name -> {timer, last}

  function schedulePart(name, delay) {
    const state = partTimers.get(name) || { timer: null, last: 0 };
    partTimers.set(name, state);
    if (state.timer) return;
    const el = document.querySelector(`#live-root [data-live-part="${CSS.escape(name)}"]`);
    const partGap = Math.max(MIN_GAP_MS, Number(el && el.dataset.liveGap) || 0);
    const wait = Math.max(delay, partGap - (Date.now() - state.last));
    state.timer = setTimeout(() => { state.timer = null; refreshPart(name, state); }, Math.max(0, wait));
  }

  async function refreshPart(name, state) {
    const el = document.querySelector(`#live-root [data-live-part="${CSS.escape(name)}"]`);
    if (!el || !el.dataset.liveSrc) return;
    if (busyTyping(el)) { schedulePart(name, 2000); return; }
    state.last = Date.now();
    try {
      const res = await fetch(el.dataset.liveSrc, { headers: FRAGMENT, credentials: "same-origin" });
      if (res.status === 401 || res.redirected) { location.reload(); return; }
      if (!res.ok) return;
      const holder = document.createElement("template");
      holder.innerHTML = (await res.text()).trim();
      const fresh = holder.content.firstElementChild;
      if (!fresh || !el.isConnected || busyTyping(el)) return;
      el.replaceWith(fresh);
      restoreResults(document.getElementById("live-root"));
      fresh.dataset.refreshed = String(Number(el.dataset.refreshed || "0") + 1);
    } catch (err) {
      console.warn("part refresh failed", name, err);
    }
  }

  function parts() {
    return [...document.querySelectorAll("#live-root [data-live-part]")];
  }

  // Everything the page listens to, after a (re)connection: what moved meanwhile.
  function catchUp() {
    const root = document.getElementById("live-root");
    if (root && root.dataset.live) schedule(0);
    if (figureMarker()) scheduleFigures(0);
    for (const part of parts()) schedulePart(part.dataset.livePart, 0);
  }

  function onTopics(topics) {
    const root = document.getElementById("live-root");
    document.dispatchEvent(new CustomEvent("yz:live", { detail: { topics } }));
    if (root && wants(topics, root.dataset.live)) schedule(0);
    const marker = figureMarker();
    if (marker && wants(topics, marker.dataset.liveFigures)) scheduleFigures(0);
    for (const part of parts()) {
      if (wants(topics, part.dataset.liveTopics)) schedulePart(part.dataset.livePart, 0);
    }
  }

  function listens() {
    const root = document.getElementById("live-root");
    // The header's alert bell ([data-bell]) listens on every staff page, through "yz:live".
    return Boolean((root && root.dataset.live) || figureMarker() || parts().length ||
      document.querySelector("[data-live-listen], [data-bell]"));
  }

  let backoff = 1000;  // after the stream is given up: 1 s, 2 s, … up to 30 s

  function connect() {
    const root = document.getElementById("live-root");
    if (!root || !listens() || !meta("csrf-token") || !window.EventSource) return;
    const dot = document.getElementById("live-state");
    const banner = document.getElementById("offline-banner");
    const source = new EventSource("/live");
    source.addEventListener("open", () => {
      backoff = 1000;
      if (dot) dot.hidden = false;
      if (banner) banner.hidden = true;
      // What changed between rendering this page and the feed's first scan is caught here.
      catchUp();
      document.dispatchEvent(new CustomEvent("yz:live", { detail: { topics: [], reconnected: true } }));
    });
    source.addEventListener("error", () => {
      if (dot) dot.hidden = true;
      if (banner) banner.hidden = false;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gives up on an HTTP error (a lapsed sign-in's 401, a proxy's 502):
        // a refresh finds out which (it reloads into the login on 401); then try again.
        catchUp();
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 30000);
      }
    });
    source.addEventListener("change", (event) => {
      let topics = [];
      try { topics = JSON.parse(event.data).topics || []; } catch (err) { return; }
      onTopics(topics);
    });
  }

  async function callApi(method, url, body) {
    const headers = { Accept: "application/json" };
    headers[meta("csrf-header") || "X-CSRF-Token"] = meta("csrf-token");
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (err) { data = null; }
    if (res.status === 401) {  // the sign-in lapsed: the login page, then back here
      location.reload();
    }
    if (!res.ok) {
      const message = data && data.error ? data.error.message : `HTTP ${res.status}`;
      throw Object.assign(new Error(message), { status: res.status, data });
    }
    return data;
  }

  function formBody(form) {
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.dataset.skip !== undefined) continue;
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) continue;
      let value = el.value;
      if (value === "" && el.dataset.optional !== undefined) continue;
      if (el.type === "number") value = Number(value);
      if (el.dataset.json !== undefined) value = value.trim() ? JSON.parse(value) : {};
      body[el.name] = value;
    }
    return body;
  }

  // The selector that finds ``el`` again in a freshly rendered <main>: its id, or the first
  // identifying data-* attribute of it or an ancestor.
  function scopeKey(el) {
    for (let node = el; node && node.id !== "live-root"; node = node.parentElement) {
      if (node.id) return `#${CSS.escape(node.id)}`;
      for (const name of SCOPES) {
        const value = node.getAttribute(name);
        if (value) return `[${name}="${CSS.escape(value)}"]`;
      }
    }
    return null;
  }

  function restoreResults(root) {
    const now = Date.now();
    for (const [key, saved] of results) {
      if (now - saved.at > RESULT_KEEP_MS) { results.delete(key); continue; }
      const scope = root.querySelector(key);
      const slot = scope && scope.querySelector("[data-result]");
      if (slot) { slot.textContent = saved.text; slot.className = saved.className; }
    }
  }

  // A page may word the API's refusals itself, by code, in a hidden list in <main>:
  // <ul hidden data-api-reasons><li data-reason="slot_full">…</li></ul>. Pages without one
  // show the API's own message, as before.
  function explain(err) {
    const code = err.data && err.data.error && err.data.error.code;
    const root = document.getElementById("live-root");
    const said = code && root &&
      root.querySelector(`[data-api-reasons] [data-reason="${CSS.escape(code)}"]`);
    const pageSays = said ? said.textContent : "";
    // errors.js words the rest by code, in the page's language (never the browser's words).
    return window.yzErrors ? window.yzErrors.explain(err, pageSays) : pageSays || err.message;
  }

  function showResult(scope, text, isError) {
    const slot = scope && scope.querySelector("[data-result]");
    if (slot) {
      slot.textContent = text;
      slot.className = isError ? "result error" : "result ok";
      const key = scopeKey(scope);
      if (key) results.set(key, { text, className: slot.className, at: Date.now() });
    }
    toast(text, isError);
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-api]");
    if (!button) return;
    event.preventDefault();
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    button.disabled = true;
    try {
      const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
      const data = await callApi(button.dataset.method || "POST", button.dataset.api, body);
      showResult(button.closest("[data-action-scope]"), button.dataset.done || "OK", false);
      document.dispatchEvent(new CustomEvent("yz:done", { detail: { button, data } }));
      afterAction = true;
      schedule(0);
    } catch (err) {
      showResult(button.closest("[data-action-scope]"), explain(err), true);
    } finally {
      button.disabled = false;
    }
  });

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-api-form]");
    if (!form) return;
    event.preventDefault();
    let body;
    try { body = formBody(form); } catch (err) { showResult(form, err.message, true); return; }
    const submit = form.querySelector("[type=submit]");
    if (submit) submit.disabled = true;
    try {
      const url = form.dataset.apiForm.replace(/\{(\w+)\}/g, (_, name) =>
        encodeURIComponent(body[name] === undefined ? "" : body[name]));
      const data = await callApi(form.dataset.method || "POST", url, body);
      const done = form.dataset.done || "OK";
      showResult(form, done.replace(/\{(\w+)\}/g, (_, name) => (data && data[name]) ?? ""), false);
      form.dispatchEvent(new CustomEvent("yz:done", { bubbles: true, detail: { form, data } }));
      if (form.dataset.reset !== undefined) form.reset();
      // Sent: the hand is done with this form, so the refresh may show what it changed.
      if (form.contains(document.activeElement)) document.activeElement.blur();
      afterAction = true;
      schedule(0);
    } catch (err) {
      showResult(form, explain(err), true);
    } finally {
      if (submit) submit.disabled = false;
    }
  });

  window.yz = { afterRender, callApi, toast, applyFigures, refresh: () => { afterAction = true; schedule(0); },
    refreshFigures: () => scheduleFigures(0) };
  document.addEventListener("DOMContentLoaded", () => { runAfterRender(); connect(); });
})();
