// Settings forms (the venue's settings page, the fleet page's push-config form): each form
// turns its fields into the API's body, the door policy and pushed configs are checked by
// the server first (…/config/check), and refusals are shown next to their fields in the
// page's language (the page lists a sentence per code in data-field-codes).
"use strict";
(function () {
  function root() { return document.getElementById("live-root") || document; }

  function said(selector) {
    const el = root().querySelector(selector);
    return el ? el.textContent : "";
  }

  function fieldCode(code) { return said(`[data-field-codes] [data-code="${CSS.escape(code)}"]`); }

  function reason(err) {
    const code = err.data && err.data.error && err.data.error.code;
    const text = code && said(`[data-api-reasons] [data-reason="${CSS.escape(code)}"]`);
    // Else errors.js words it by code, in the page's language.
    return text || (window.yzErrors ? window.yzErrors.explain(err) : err.message);
  }

  // Every field refusal carries a code (cloud/api/errors.py, protocol/pushable.py).
  function codeOf(detail) { return detail.code || "invalid_value"; }

  // "body.settings.door.policy.hours[1]" or "body.hours" -> the form's field name.
  function fieldOf(form, detail) {
    let key = detail.key || String(detail.field || "").replace(/^body\.(settings\.)?/, "");
    if (form.dataset.settingsForm === "policy") key = key.replace(/^door\.policy\./, "");
    if (form.dataset.settingsForm === "push") return key.replace(/\[\d+\].*$/, "");
    return key.split(/[.[]/)[0];
  }

  function clearErrors(form) {
    for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  function showFieldErrors(form, details) {
    let placed = 0;
    for (const detail of details || []) {
      const name = fieldOf(form, detail);
      const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
      if (!slot) continue;
      const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
      // The field's own range in symbols (0–86400) reads the same in both languages.
      const limit = detail.params && detail.params.limit;
      const rule = (input && input.dataset.rule) || (limit !== undefined ? String(limit) : "");
      const text = (fieldCode(codeOf(detail)) || detail.message).replace("{rule}", rule);
      // The API's own sentence says exactly what to write; it is English, so it follows
      // the translated one as a hint rather than replacing it.
      slot.textContent = slot.textContent ? `${slot.textContent}; ${text}` : text;
      slot.title = detail.message || "";
      if (input) input.setAttribute("aria-invalid", "true");
      placed += 1;
    }
    return placed;
  }

  function result(form, text, isError) {
    const slot = form.querySelector("[data-result]");
    if (slot) {
      slot.textContent = text;
      slot.className = isError ? "result error wide" : "result ok wide";
    }
    if (window.yz) window.yz.toast(text, isError);
  }

  function number(input) {
    const text = input.value.trim();
    return text === "" ? null : Number(text);
  }

  function lines(text) { return text.split("\n").map((l) => l.trim()).filter(Boolean); }

  function policyOf(form) {
    const policy = {};
    for (const el of form.querySelectorAll("[data-kind]")) {
      const name = el.name || el.dataset.name;
      const kind = el.dataset.kind;
      if (kind === "boolean") policy[name] = el.checked;
      else if (kind === "lines") policy[name] = lines(el.value);
      else if (kind === "number") {
        const value = number(el);
        if (value !== null) policy[name] = value;
        else if (el.dataset.optional === undefined) policy[name] = el.value;
      } else if (kind === "exceptions") {
        policy[name] = [...el.querySelectorAll("[data-exception]")].map((row) => {
          const part = (p) => row.querySelector(`[data-part="${p}"]`).value.trim();
          const entry = { date: part("date") };
          if (part("until")) entry.until = part("until");
          entry.hours = part("hours").split(",").map((h) => h.trim()).filter(Boolean);
          if (part("note")) entry.note = part("note");
          return entry;
        });
      } else if (kind === "words") {
        policy[name] = el.value.split(/[,，\s]+/).filter(Boolean);
      } else if (el.value.trim() !== "") policy[name] = el.value.trim();
    }
    return policy;
  }

  // The push form: one input per key the box's role takes; an empty one is not pushed.
  function pushedOf(form) {
    const settings = JSON.parse(form.dataset.settingsJson || "{}");
    for (const el of form.querySelectorAll("[data-key]")) {
      const path = el.dataset.key.split(".");
      let value;
      if (el.dataset.kind === "boolean") value = el.value === "" ? null : el.value === "true";
      else if (el.dataset.kind === "number" || el.dataset.kind === "integer") value = number(el);
      else value = el.value.trim() === "" ? null : el.value.trim();
      let node = settings;
      for (const part of path.slice(0, -1)) {
        if (typeof node[part] !== "object" || node[part] === null) node[part] = {};
        node = node[part];
      }
      const last = path[path.length - 1];
      if (value === null) delete node[last];
      else node[last] = Number.isNaN(value) ? el.value : value;
    }
    return prune(settings);
  }

  function prune(node) {
    for (const [key, value] of Object.entries(node)) {
      if (value && typeof value === "object" && !Array.isArray(value)) {
        prune(value);
        if (!Object.keys(value).length) delete node[key];
      }
    }
    return node;
  }

  function bodyOf(form) {
    const kind = form.dataset.settingsForm;
    const extra = form.dataset.body ? JSON.parse(form.dataset.body) : {};
    if (kind === "capacity") return { capacity: number(form.elements.capacity) };
    if (kind === "hours") return { hours: lines(form.elements.hours.value) };
    if (kind === "names") {  // an empty English name clears it: English pages show the name
      return { name: form.elements.name.value.trim(), name_en: form.elements.name_en.value.trim() };
    }
    if (kind === "sensor") {
      const label = form.elements.label.value.trim();
      return { role: form.elements.role.value, label: label || null };
    }
    if (kind === "rule") {
      const body = { ...extra, enabled: form.elements.enabled.checked, threshold: null, duration_s: 0 };
      if (form.elements.threshold) body.threshold = number(form.elements.threshold);
      if (form.elements.minutes) body.duration_s = Math.round((number(form.elements.minutes) || 0) * 60);
      return body;
    }
    if (kind === "policy") {
      const settings = JSON.parse(form.dataset.settingsJson || "{}");
      settings.door = { ...(settings.door || {}), policy: policyOf(form) };
      return { settings };
    }
    if (kind === "push") return { settings: pushedOf(form) };
    return extra;
  }

  async function send(form) {
    const api = window.yz.callApi;
    const body = bodyOf(form);
    if (form.dataset.check) await api("POST", form.dataset.check, body);
    if (form.dataset.settingsForm === "sensor" && !body.role) {
      return api("DELETE", form.dataset.api);
    }
    return api(form.dataset.method || "PUT", form.dataset.api, body);
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-settings-form]");
    if (!form) return;
    event.preventDefault();
    clearErrors(form);
    const submit = form.querySelector("[type=submit]");
    if (submit) submit.disabled = true;
    try {
      const data = await send(form);
      const done = (form.dataset.done || "OK").replace(/\{(\w+)\}/g, (_, k) => (data && data[k]) ?? "");
      result(form, done, false);
      form.dispatchEvent(new CustomEvent("yz:saved", { bubbles: true, detail: { data } }));
    } catch (err) {
      const details = err.data && err.data.error && err.data.error.details;
      const placed = showFieldErrors(form, details);
      result(form, placed ? said("[data-fix-fields]") || reason(err) : reason(err), true);
      // The hand goes back to the first wrong field; a live refresh waits while it is there.
      const wrong = form.querySelector("[aria-invalid=true]");
      if (wrong) wrong.focus();
    } finally {
      if (submit) submit.disabled = false;
    }
  });

  // The fleet's push form: the keys of the box's role come from the page's one list for
  // that role (template[data-push-keys]), filled with the box's desired settings now.
  function valueAt(settings, path) {
    let node = settings;
    for (const part of path.split(".")) {
      if (!node || typeof node !== "object" || !(part in node)) return "";
      node = node[part];
    }
    return typeof node === "object" ? JSON.stringify(node) : String(node);
  }

  function fillPushForm(form) {
    const slot = form.querySelector("[data-push-fields]");
    if (!slot || slot.childElementCount) return;
    const template = root().querySelector(
      `template[data-push-keys="${CSS.escape(form.dataset.role || "any")}"]`);
    if (!template) return;
    slot.appendChild(template.content.cloneNode(true));
    const settings = JSON.parse(form.dataset.settingsJson || "{}");
    for (const el of slot.querySelectorAll("[data-key]")) el.value = valueAt(settings, el.dataset.key);
  }

  document.addEventListener("toggle", (event) => {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.open) return;
    const form = details.querySelector('form[data-settings-form="push"]');
    if (form) fillPushForm(form);
  }, true);

  document.addEventListener("click", async (event) => {
    const add = event.target.closest("[data-add-exception]");
    if (add) {
      const set = add.closest("fieldset");
      const row = set.querySelector("template[data-exception-template]").content.cloneNode(true);
      set.insertBefore(row, add);
      return;
    }
    const remove = event.target.closest("[data-remove-exception]");
    if (remove) { remove.closest("[data-exception]").remove(); return; }
    const reset = event.target.closest("[data-reset-api]");
    if (!reset) return;
    const form = reset.closest("form");
    reset.disabled = true;
    try {
      await window.yz.callApi("DELETE", reset.dataset.resetApi);
      result(form, reset.dataset.done || "OK", false);
    } catch (err) {
      result(form, reason(err), true);
    } finally {
      reset.disabled = false;
    }
  });
})();
