// The dashboard's only always-loaded script: live refresh over SSE, API actions, toasts.
// Pages stay server-rendered; this swaps in a fresh <main> when the live feed says
// something the page shows has changed, and sends buttons' actions to /api/v1.
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
    return el && root.contains(el) && ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName);
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

  function wants(topics) {
    const root = document.getElementById("live-root");
    const tokens = (root && root.dataset.live || "").split(/\s+/).filter(Boolean);
    return topics.some((topic) => tokens.some((token) =>
      token === topic || (!token.includes(":") && topic.startsWith(token + ":"))));
  }

  let backoff = 1000;  // after the stream is given up: 1 s, 2 s, … up to 30 s

  function connect() {
    const root = document.getElementById("live-root");
    if (!root || !root.dataset.live || !meta("csrf-token") || !window.EventSource) return;
    const dot = document.getElementById("live-state");
    const banner = document.getElementById("offline-banner");
    const source = new EventSource("/live");
    source.addEventListener("open", () => {
      backoff = 1000;
      if (dot) dot.hidden = false;
      if (banner) banner.hidden = true;
      // What changed between rendering this page and the feed's first scan is caught here.
      schedule(0);
    });
    source.addEventListener("error", () => {
      if (dot) dot.hidden = true;
      if (banner) banner.hidden = false;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gives up on an HTTP error (a lapsed sign-in's 401, a proxy's 502):
        // a refresh finds out which (it reloads into the login on 401); then try again.
        schedule(0);
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 30000);
      }
    });
    source.addEventListener("change", (event) => {
      let topics = [];
      try { topics = JSON.parse(event.data).topics || []; } catch (err) { return; }
      if (wants(topics)) schedule(0);
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
    return said ? said.textContent : err.message;
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
      schedule(0);
    } catch (err) {
      showResult(form, explain(err), true);
    } finally {
      if (submit) submit.disabled = false;
    }
  });

  window.yz = { afterRender, callApi, toast, refresh: () => schedule(0) };
  document.addEventListener("DOMContentLoaded", () => { runAfterRender(); connect(); });
})();
