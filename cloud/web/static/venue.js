// The venue page's profile form. app.js sends it to the API and re-renders <main>; this
// fills in what plain form values cannot say, just before app.js reads the form (a capturing
// listener runs first): the checked amenities as a list, the hours as one string per line,
// the guests box as true or false, an emptied coordinate as null. Each goes, as JSON, into
// the hidden input named for it (data-json: app.js parses it). An edit in progress outlives
// the live re-renders until it is saved.
"use strict";
(function () {
  let draft = null;  // Map of field key -> value or checked, as the hand left the form

  function sources(form, name) {
    return [...form.querySelectorAll(`[data-for="${CSS.escape(name)}"]`)];
  }

  function read(form, name, kind) {
    const found = sources(form, name);
    if (kind === "list") return found.filter((el) => el.checked).map((el) => el.value);
    if (kind === "bool") return found[0].checked;
    if (kind === "lines") {
      return found[0].value.split("\n").map((line) => line.trim()).filter(Boolean);
    }
    const text = found[0].value.trim();  // a number
    if (text === "") return null;
    const number = Number(text);
    return Number.isFinite(number) ? number : text;  // the API says what is wrong with it
  }

  function fill(form) {
    for (const out of form.querySelectorAll("input[data-from]")) {
      out.value = JSON.stringify(read(form, out.name, out.dataset.from));
    }
  }

  function key(el) {
    const name = el.name || el.dataset.for;
    return el.type === "checkbox" ? `${name}=${el.value}` : name;
  }

  function fields(form) {
    return [...form.querySelectorAll("input:not([type=hidden]), textarea")];
  }

  function remember(form) {
    draft = new Map(fields(form).map((el) => [key(el), el.type === "checkbox" ? el.checked : el.value]));
  }

  function restore(root) {
    const form = root.querySelector("form[data-profile-form]");
    if (!form || !draft) return;
    for (const el of fields(form)) {
      if (!draft.has(key(el))) continue;
      if (el.type === "checkbox") el.checked = draft.get(key(el));
      else el.value = draft.get(key(el));
    }
  }

  function profileForm(node) {
    return node instanceof Element ? node.closest("form[data-profile-form]") : null;
  }

  document.addEventListener("submit", (event) => {
    const form = profileForm(event.target);
    if (form) fill(form);
  }, true);
  document.addEventListener("input", (event) => {
    const form = profileForm(event.target);
    if (form) remember(form);
  });
  document.addEventListener("yz:done", (event) => {
    if (profileForm(event.target)) draft = null;  // saved: the page shows what was stored
  });

  if (window.yz) window.yz.afterRender.push(restore);
})();
