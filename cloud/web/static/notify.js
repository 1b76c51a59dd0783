// Notifications in the browser: the header bell's count, a browser notification for a new
// alert while a page is open, and the notifications and acknowledge pages' forms.
// The bell is refreshed from GET /api/v1/notify/inbox when the live feed names an alerts
// topic ("yz:live" from app.js), so it costs nothing while nothing happens.
"use strict";
(function () {
  if (window.yzNotify) return;  // loaded twice (layout and page): one is enough
  window.yzNotify = true;
  const SEEN_KEY = "yz-notify-seen";  // the newest alert id already shown, per browser tab
  let pending = false;

  // A refusal in the page's words (errors.js), never the API's English or the browser's.
  function refusal(err) {
    return window.yzErrors ? window.yzErrors.explain(err) : err.message;
  }

  function api(method, url, body) {
    if (window.yz && window.yz.callApi) return window.yz.callApi(method, url, body);
    return Promise.reject(new Error("app.js is not loaded"));
  }

  function setBell(count) {
    const bell = document.querySelector("a.bell[data-bell-count]");
    if (!bell) return;
    bell.dataset.bellCount = String(count);
    const label = bell.dataset.bellLabel;
    if (label) bell.setAttribute("aria-label", label.replace("{n}", String(count)));
  }

  function notifyNew(inbox) {
    const seen = Number(sessionStorage.getItem(SEEN_KEY) || "0");
    const newest = inbox.items.reduce((top, item) => Math.max(top, item.id), 0);
    sessionStorage.setItem(SEEN_KEY, String(Math.max(seen, newest)));
    if (!seen || !("Notification" in window) || Notification.permission !== "granted") return;
    const zh = document.documentElement.lang !== "en";
    for (const item of inbox.items) {
      if (item.id <= seen || !inbox.notify.includes(item.id)) continue;
      const note = new Notification(zh ? "驿站告警" : "yizhan alert", {
        body: zh ? item.message_zh : item.message_en,
        tag: `yz-alert-${item.id}`,
      });
      note.onclick = () => { window.focus(); location.href = "/alerts"; };
    }
  }

  async function refreshInbox() {
    if (pending || !document.querySelector("a.bell[data-bell-count]")) return;
    pending = true;
    try {
      const res = await fetch("/api/v1/notify/inbox", {
        headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      if (!res.ok) return;
      const inbox = await res.json();
      setBell(inbox.open);
      notifyNew(inbox);
    } catch (err) {
      console.warn("inbox refresh failed", err);
    } finally {
      pending = false;
    }
  }

  document.addEventListener("yz:live", (event) => {
    const topics = (event.detail && event.detail.topics) || [];
    if (event.detail && event.detail.reconnected) { refreshInbox(); return; }
    if (topics.some((topic) => topic.startsWith("alerts:"))) refreshInbox();
  });

  function result(scope, text, isError) {
    const slot = scope && scope.querySelector("[data-result]");
    if (slot) { slot.textContent = text; slot.className = isError ? "result error" : "result ok"; }
    if (window.yz && window.yz.toast) window.yz.toast(text, isError);
  }

  function subscriptionBody(form) {
    const value = (name) => form.elements[name] ? form.elements[name].value.trim() : "";
    const number = (name) => (value(name) === "" ? null : Number(value(name)));
    const body = {
      venue_id: value("venue_id") || "*",
      kinds: Array.from(form.querySelectorAll('input[name="kinds"]:checked'), (el) => el.value),
      min_severity: value("min_severity"),
      channel: value("channel"),
      escalate_after_min: number("escalate_after_min"),
      quiet_min: number("quiet_min") ?? 30,
      label: value("label") || null,
    };
    if (value("target")) body.target = value("target");
    if (value("secret")) body.secret = value("secret");
    return body;
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-sub-form]");
    if (!form) return;
    event.preventDefault();
    const submit = form.querySelector("[type=submit]");
    if (submit) submit.disabled = true;
    try {
      await api(form.dataset.method || "POST", form.dataset.subForm, subscriptionBody(form));
      result(form, form.dataset.done || "OK", false);
      if (form.contains(document.activeElement)) document.activeElement.blur();
      if (window.yz) window.yz.refresh();
    } catch (err) {
      result(form, refusal(err), true);
    } finally {
      if (submit) submit.disabled = false;
    }
  });

  document.addEventListener("click", async (event) => {
    const test = event.target.closest("button[data-sub-test]");
    const ack = event.target.closest("button[data-ack-action]");
    const permission = event.target.closest("button[data-notify-permission]");
    if (test) {
      test.disabled = true;
      const scope = test.closest("[data-action-scope]");
      try {
        const delivery = await api("POST", test.dataset.subTest);
        if (delivery.status === "sent") result(scope, test.dataset.sent, false);
        else result(scope, test.dataset.failed.replace("{error}", delivery.last_error || delivery.status), true);
        if (window.yz) window.yz.refresh();
      } catch (err) {
        result(scope, refusal(err), true);
      } finally {
        test.disabled = false;
      }
    } else if (ack) {
      const scope = ack.closest("[data-action-scope]");
      const input = scope && scope.querySelector("[data-ack-note-input]");
      const note = input ? input.value.trim() : "";
      ack.disabled = true;
      try {
        await api("POST", ack.dataset.ackAction, { note: note || null });
        if (input) input.blur();
        result(scope, ack.dataset.done, false);
        if (window.yz) window.yz.refresh();
      } catch (err) {
        result(scope, refusal(err), true);
      } finally {
        ack.disabled = false;
      }
    } else if (permission) {
      const slot = document.querySelector("[data-permission-result]");
      if (!("Notification" in window)) { if (slot) slot.textContent = permission.dataset.denied; return; }
      const answer = await Notification.requestPermission();
      if (slot) {
        slot.textContent = answer === "granted" ? permission.dataset.on : permission.dataset.denied;
        slot.className = answer === "granted" ? "result ok" : "result error";
      }
    }
  });

  document.addEventListener("DOMContentLoaded", refreshInbox);
})();
