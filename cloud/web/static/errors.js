// The API's refusals in the reader's language. The page carries the sentences of its
// language as JSON (<script type="application/json" id="api-errors">, from
// cloud/web/i18n.py API_ERRORS); app.js asks yzErrors.explain(err) what to show. The
// browser's own words ("Failed to fetch", "Unexpected token <") never reach a person.
"use strict";
(function () {
  let table = null;

  function words() {
    if (table) return table;
    const el = document.getElementById("api-errors");
    try { table = el ? JSON.parse(el.textContent) : {}; } catch (err) { table = {}; }
    return table;
  }

  function fill(template, params) {
    return template.replace(/\{(\w+)\}/g, (whole, name) =>
      (params[name] === undefined || params[name] === null ? whole : String(params[name])));
  }

  function ownText(node) {
    return Array.from(node.childNodes)
      .filter((child) => child.nodeType === Node.TEXT_NODE)
      .map((child) => child.textContent).join("").trim();
  }

  // What the form calls the field ``body.sample_interval_s``: its label's own words, else
  // the path without body./settings. (a key the person typed into a JSON box themselves).
  function label(field) {
    let parts = String(field || "").split(".")
      .filter((part) => !/^(body|query|path|\d+)$/.test(part));
    if (parts.length > 1 && parts[0] === "settings") parts = parts.slice(1);  // a box's key
    const name = parts[parts.length - 1] || "";
    const root = document.getElementById("live-root") || document;
    const input = name && root.querySelector(`[name="${CSS.escape(name)}"]`);
    if (input) {
      const around = input.closest("label") ||
        (input.id && root.querySelector(`label[for="${CSS.escape(input.id)}"]`));
      const said = (around && ownText(around)) || input.getAttribute("aria-label");
      if (said) return said;
    }
    return parts.join(".") || name;
  }

  function english() {
    return document.documentElement.lang === "en";
  }

  function fieldSentence(detail, t) {
    const params = Object.assign({}, detail.params || {});
    params.field = label(detail.field);
    // A check of the whole request (a model's own rule) names no field: the page's sentence
    // for the code, or the code's, says it better than "body".
    if (!params.field) {
      const whole = t[`field.${detail.code}`];  // a whole-request rule with its own sentence
      return whole && !whole.includes("{field}") ? fill(whole, params) : "";
    }
    if (Array.isArray(params.expected)) params.expected = params.expected.join(", ");
    let key = `field.${detail.code}`;
    if (params.exclusive && t[`${key}.exclusive`]) key += ".exclusive";
    // A custom rule's reason is English: a Chinese sentence does without it.
    if (detail.code === "invalid_value" && (!params.reason || !english())) {
      key = "field.invalid_value.plain";
    }
    return t[key] ? fill(t[key], params) : "";
  }

  function joiner() {
    return english() ? "; " : "；";
  }

  // err: what app.js's callApi threw (status, data) or what fetch threw (no status).
  // pageSays: the page's own sentence for the code (its data-api-reasons list), if any.
  function explain(err, pageSays) {
    const t = words();
    if (!err || err.status === undefined) {
      return err && err.name === "TypeError" ? t.network : (t.non_json || String(err));
    }
    const error = err.data && err.data.error;
    if (!error || typeof error.code !== "string") return t.non_json;  // a proxy's HTML page
    const details = Array.isArray(error.details) ? error.details : [];
    const fields = details.filter((d) => d && typeof d.code === "string")
      .map((d) => fieldSentence(d, t)).filter(Boolean);
    // The page's own sentence first (its authors chose it), then which fields were wrong.
    const which = fields.slice(0, 3).join(joiner());
    if (pageSays) return which ? `${pageSays} ${which}` : pageSays;
    if (which) return which;
    if (t[error.code]) return fill(t[error.code], Object.assign({}, ...details));
    const byStatus = t[`status.${err.status}`];
    if (english() && error.message) return error.message;
    return byStatus || fill(t.unknown || "{status}", { status: err.status });
  }

  // A JSON box the browser cannot parse would reach app.js's form handler as the browser's
  // own "Unexpected token …": catch it first (capture phase) and say it in the page's words.
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-api-form]");
    if (!form) return;
    for (const el of form.querySelectorAll("[data-json]")) {
      if (el.disabled || !el.value.trim()) continue;
      try { JSON.parse(el.value); } catch (err) {
        event.preventDefault();
        event.stopImmediatePropagation();
        const t = words();
        const text = fill(t["field.invalid_json"] || "JSON", { field: label(el.name) });
        const slot = form.querySelector("[data-result]");
        if (slot) { slot.textContent = text; slot.className = "result error"; }
        if (window.yz) window.yz.toast(text, true);
        return;
      }
    }
  }, true);

  window.yzErrors = { explain, label };
})();
